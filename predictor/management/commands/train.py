import json

from django.core.management.base import BaseCommand, CommandError

from predictor.services.errors import ServiceError
from predictor.services.registry.datasets import dataset_find
from predictor.services.training import ALGORITHMS, defaults, train_now


def _param(text: str):
    if "=" not in text:
        raise CommandError(f"--param {text!r}: expected NAME=VALUE")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [n.strip() for n in text.split(",") if n.strip()]


class Command(BaseCommand):
    """Train a new model version from a dataset and print its metrics."""

    help = (
        "train --dataset NAME [--model NAME] --algorithm ALGO [--param k=v ...] [--cv K] "
        "[--exclude a,b]"
    )

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="Dataset name or id.")
        parser.add_argument("--model", default=None, help="Default: the dataset's name.")
        parser.add_argument("--algorithm", required=True, help=", ".join(ALGORITHMS))
        parser.add_argument("--param", action="append", default=[], help="NAME=VALUE (JSON)")
        parser.add_argument("--cv", type=int, default=defaults.CV_DEFAULT)
        parser.add_argument("--test-size", type=float, default=defaults.TEST_SIZE_DEFAULT)
        parser.add_argument("--target", default=None)
        parser.add_argument("--task", default=None)
        parser.add_argument("--random-state", type=int, default=defaults.RANDOM_STATE_DEFAULT)
        parser.add_argument(
            "--exclude",
            default=None,
            help="Columns to leave out, comma-separated ('' keeps every column); default: "
            "those the dataset's profile notes as identifier or constant.",
        )

    def handle(self, *args, **o):
        try:
            dataset = dataset_find(key=o["dataset"])
            job = train_now(
                dataset=dataset,
                model_name=o["model"],
                algorithm=o["algorithm"],
                params=dict(_param(p) for p in o["param"]),
                cv=o["cv"],
                test_size=o["test_size"],
                target=o["target"],
                task=o["task"],
                random_state=o["random_state"],
                exclude=_names(o["exclude"]),
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        if job.version is None:
            raise CommandError(f"training failed: {job.error}")
        version = job.version
        self.stdout.write(f"model {version.model.name} version {version.version} ({version.stage})")
        if job.options.get("left_out"):
            self.stdout.write(f"  left out: {job.options['left_out']}")
        for name, value in version.metrics.items():
            if isinstance(value, float):
                self.stdout.write(f"  {name}: {value:.4f}")
        cv = version.metrics.get("cv")
        if cv:
            self.stdout.write(f"  cv {cv['metric']}: {cv['mean']:.4f} ± {cv['std']:.4f}")
