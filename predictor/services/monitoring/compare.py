"""Which version is better: a comparison of two or more versions of a model on live traffic.

Per version: predictions and p50 latency (hourly aggregates, shadow rows included), and the
live accuracy (regression: MAE) of its labelled rows with a 95% interval (Wilson for a
proportion, Student's t for a mean error). A shadow row is labelled by the ground truth of
the row it shadowed (the same inputs). Per pair of versions: on rows both predicted (one
shadowing the other) their agreement, and a test that their live accuracies differ —
McNemar (exact binomial on the discordant pairs) on paired rows, else a two-proportion test
(chi-squared on the 2×2 table); regression: Wilcoxon on paired absolute errors, else
Welch's t-test. `p_value` is null while either side has fewer than `MIN_LABELLED` labels.
The report covers rows that still exist.

Before any traffic, it still says what is known: per version its `holdout` (the metrics,
CV, params, algorithm and dataset recorded at training), how its inputs differ from the
first version listed (`features_added`, `features_removed`; a feature whose type changed is
in both, and in `features_retyped`), and its `shadow_failures` (count, last error, when).
"""

import math
from collections import Counter, defaultdict
from datetime import timedelta
from itertools import combinations

import numpy as np
from django.db.models import Q
from django.utils import timezone

from predictor.models import ModelVersion, Prediction, Task
from predictor.models.operations import ShadowFailure
from predictor.services import monitoring
from predictor.services.errors import InvalidInput, NotFound
from predictor.services.log import aggregates, windows
from predictor.services.monitoring.live import wilson_interval
from predictor.services.schema.changes import schema_change

MIN_LABELLED = 10
DEFAULT_DAYS = 7
REGRESSION_AGREEMENT = 0.05  # regression outputs "agree" within 5% of the served value


def versions_parse(*, model, text) -> list[ModelVersion]:
    if not text:
        raise InvalidInput("name two or more versions: ?versions=2,3", field="versions")
    try:
        numbers = [int(part) for part in str(text).split(",")]
    except ValueError:
        raise InvalidInput(
            "versions must be whole numbers: ?versions=2,3", field="versions"
        ) from None
    if len(set(numbers)) < 2 or len(numbers) != len(set(numbers)):
        raise InvalidInput("name two or more different versions: ?versions=2,3", field="versions")
    found = {
        v.version: v
        for v in ModelVersion.objects.filter(model=model, version__in=numbers).select_related(
            "dataset"
        )
    }
    missing = [n for n in numbers if n not in found]
    if missing:
        raise NotFound(f"model {model.name!r} has no version {missing[0]}")
    return [found[n] for n in numbers]


def _t_interval(values: np.ndarray) -> list[float] | None:
    from scipy import stats

    if values.size < 2:
        return None
    mean, sem = float(values.mean()), float(stats.sem(values))
    if sem == 0:
        return [mean, mean]
    low, high = stats.t.interval(0.95, values.size - 1, loc=mean, scale=sem)
    return [float(low), float(high)]


def _same(task: str, a, b) -> bool:
    if task == Task.CLASSIFICATION:
        return a == b
    scale = max(abs(float(b)), 1e-12)
    return abs(float(a) - float(b)) <= REGRESSION_AGREEMENT * scale


def report(*, model, versions: list[ModelVersion], since=None, until=None) -> dict:
    until = until or timezone.now()
    since = since or until - timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise InvalidInput("'since' must be before 'until'", field="since")
    task = model.task
    ids = [v.pk for v in versions]
    number = {v.pk: v.version for v in versions}
    rows = Prediction.objects.filter(
        version_id__in=ids, created_at__gte=since, created_at__lt=until
    )

    # Ground truth per served row; a shadow row borrows its served row's.
    labelled = dict(rows.exclude(actual=None).exclude(source="shadow").values_list("id", "actual"))
    shadow_rows = list(
        rows.filter(source="shadow").values_list("version_id", "shadow_of", "output")
    )
    served_of_shadows = {s for _, s, _ in shadow_rows}
    served = {
        pk: (version_id, output, actual)
        for pk, version_id, output, actual in Prediction.objects.filter(
            Q(pk__in=served_of_shadows) | Q(pk__in=list(labelled))
        ).values_list("id", "version_id", "output", "actual")
    }

    outcomes = defaultdict(dict)  # version id → {served row id: (output, actual)}
    for pk, (version_id, output, actual) in served.items():
        if actual is not None and version_id in number:
            outcomes[version_id][pk] = (output, actual)
    for version_id, served_id, output in shadow_rows:
        origin = served.get(served_id)
        if origin is not None and origin[2] is not None:
            outcomes[version_id][served_id] = (output, origin[2])

    span = windows.window(
        scope=windows.Scope(version_ids=tuple(ids), shadows=True), since=since, until=until
    )
    figures = defaultdict(aggregates.Figures)
    for hour in span.hours:
        figures[hour.version_id].merge(aggregates.Figures.from_row(hour))
    partial = span.rows.values_list("version_id", "request_id", "created_at", "latency_ms")
    requests = {}
    for version_id, rid, at, ms in partial.iterator(chunk_size=5000):
        figures[version_id].predictions += 1
        requests[(version_id, rid, at)] = ms
    extra_latency = defaultdict(Counter)
    for (version_id, _, _), ms in requests.items():
        extra_latency[version_id][aggregates.latency_bucket(ms=ms)] += 1

    per_version = []
    errors = {}
    failures = {f.version_id: f for f in ShadowFailure.objects.filter(version_id__in=ids)}
    for v in versions:
        fig = figures[v.pk]
        histogram = fig.latency + extra_latency[v.pk]
        entry = {
            "version": v.version,
            "stage": v.stage,
            "predictions": fig.predictions,
            "latency_ms_p50": _round(monitoring.percentile(histogram, 0.5)),
            "labelled": len(outcomes[v.pk]),
        }
        pairs = list(outcomes[v.pk].values())
        if task == Task.CLASSIFICATION:
            right = sum(1 for o, a in pairs if o == a)
            entry["accuracy"] = right / len(pairs) if pairs else None
            entry["interval"] = wilson_interval(correct=right, n=len(pairs))
        else:
            err = np.array([abs(float(a) - float(o)) for o, a in pairs], dtype=float)
            errors[v.pk] = err
            entry["mae"] = float(err.mean()) if err.size else None
            entry["interval"] = _t_interval(err)
        entry.update(_recorded(v, first=versions[0], failures=failures.get(v.pk)))
        per_version.append(entry)

    # Pairs of versions that predicted the same rows: a shadow and the row it shadowed.
    shadow_output = {(vid, sid): out for vid, sid, out in shadow_rows}
    pairs_out = []
    for a, b in combinations(versions, 2):
        compared = agree = 0
        for (vid, sid), out in shadow_output.items():
            origin = served.get(sid)
            if origin is None:
                continue
            if {vid, origin[0]} == {a.pk, b.pk}:
                compared += 1
                agree += _same(task, out, origin[1])
        pairs_out.append(
            {
                "versions": [a.version, b.version],
                "rows_compared": compared,
                "agreement": agree / compared if compared else None,
                "p_value": _p_value(task, outcomes[a.pk], outcomes[b.pk]),
            }
        )
    return {
        "model": model.name,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "versions": per_version,
        "pairs": pairs_out,
    }


def _recorded(version: ModelVersion, *, first: ModelVersion, failures) -> dict:
    """What is known of a version without traffic: its training record, its inputs against
    the first version's, and its failures as a shadow."""
    metrics = version.metrics or {}
    change = schema_change(old=first.schema, new=version.schema)
    dataset = version.dataset
    return {
        "holdout": {
            "metrics": {
                k: v
                for k, v in metrics.items()
                if isinstance(v, (int, float))
                and not isinstance(v, bool)
                and k not in ("n_train", "n_test")
            },
            "main": metrics.get("main"),
            "cv": metrics.get("cv"),
            "n_train": metrics.get("n_train"),
            "n_test": metrics.get("n_test"),
            "algorithm": version.algorithm,
            "params": version.params or {},
            "dataset": {"id": dataset.pk, "name": dataset.name} if dataset else None,
        },
        "features_added": list(change.added),
        "features_removed": list(change.removed),
        "features_retyped": [n for n, _, _ in change.retyped],
        "shadow_failures": {
            "count": failures.count if failures else 0,
            "last_error": failures.last_error if failures else "",
            "last_at": failures.last_at.isoformat() if failures and failures.last_at else None,
        },
    }


def _round(value):
    return None if value is None else round(value, 3)


def _p_value(task, a: dict, b: dict) -> float | None:
    """Whether the live accuracies (errors) of two versions differ."""
    from scipy import stats

    if len(a) < MIN_LABELLED or len(b) < MIN_LABELLED:
        return None
    common = sorted(set(a) & set(b))
    if task == Task.CLASSIFICATION:
        if len(common) >= MIN_LABELLED:  # paired: McNemar, exact on the discordant rows
            only_a = sum(1 for k in common if a[k][0] == a[k][1] and b[k][0] != b[k][1])
            only_b = sum(1 for k in common if a[k][0] != a[k][1] and b[k][0] == b[k][1])
            if only_a + only_b == 0:
                return 1.0
            return float(stats.binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue)
        right_a = sum(1 for o, t in a.values() if o == t)
        right_b = sum(1 for o, t in b.values() if o == t)
        table = [[right_a, len(a) - right_a], [right_b, len(b) - right_b]]
        if min(sum(col) for col in zip(*table)) == 0:
            return 1.0  # both all right or all wrong: nothing differs
        return float(stats.chi2_contingency(table, correction=False).pvalue)
    if len(common) >= MIN_LABELLED:
        diff = [
            abs(float(a[k][1]) - float(a[k][0])) - abs(float(b[k][1]) - float(b[k][0]))
            for k in common
        ]
        if not any(diff):
            return 1.0
        return float(stats.wilcoxon(diff).pvalue)
    ea = [abs(float(t) - float(o)) for o, t in a.values()]
    eb = [abs(float(t) - float(o)) for o, t in b.values()]
    result = stats.ttest_ind(ea, eb, equal_var=False)
    return None if math.isnan(result.pvalue) else float(result.pvalue)


def sentence(*, result: dict, task: str) -> str:
    """What the numbers say, in words, for the first pair."""
    if len(result["versions"]) < 2:
        return ""
    a, b = result["versions"][0], result["versions"][1]
    pair = result["pairs"][0]
    key = "accuracy" if task == Task.CLASSIFICATION else "mae"
    if a[key] is None or b[key] is None:
        return (
            f"Not enough feedback yet: v{a['version']} has {a['labelled']} labelled rows, "
            f"v{b['version']} {b['labelled']}." + _holdout_words(a, b)
        )
    if key == "accuracy":
        text = (
            f"v{a['version']} is right {a[key]:.0%} of the time on {a['labelled']} labelled rows, "
            f"v{b['version']} {b[key]:.0%} on {b['labelled']}"
        )
    else:
        text = (
            f"v{a['version']} is off by {a[key]:.3g} on average on {a['labelled']} labelled rows, "
            f"v{b['version']} by {b[key]:.3g} on {b['labelled']}"
        )
    p = pair["p_value"]
    if p is None:
        return text + f": too few labels to test the difference (at least {MIN_LABELLED} each)."
    if p < 0.05:
        better = a if (a[key] > b[key]) == (key == "accuracy") else b
        return (
            text
            + f": v{better['version']} is better, and the difference is significant (p = {p:.2g})."
        )
    return text + f": the difference is not yet significant (p = {p:.2g})."


def _holdout_words(a: dict, b: dict) -> str:
    """The training record's figures, while live ones are missing."""
    main = a["holdout"]["main"] or b["holdout"]["main"]
    first, second = a["holdout"]["metrics"].get(main), b["holdout"]["metrics"].get(main)
    if main is None or first is None or second is None:
        return ""
    same = a["holdout"]["dataset"] == b["holdout"]["dataset"] and a["holdout"]["dataset"]
    return (
        f" On their holdouts at training: {main} {first:.3f} for v{a['version']}, "
        f"{second:.3f} for v{b['version']}"
        + ("" if same else " (different datasets: not the same rows)")
        + "."
    )


def model_report(*, model_name: str, user, versions=None, since=None, until=None) -> dict:
    """The comparison of the named versions of a model (staff doors), the window parsed
    here so every door reads it alike."""
    from predictor.services import timestamps  # noqa: PLC0415
    from predictor.services.serving import routing  # noqa: PLC0415

    model = routing.model_get(name=model_name, user=user)
    return report(
        model=model,
        versions=versions_parse(model=model, text=versions),
        since=timestamps.timestamp_parse(text=since, field="since") if since else None,
        until=timestamps.timestamp_parse(text=until, field="until") if until else None,
    )
