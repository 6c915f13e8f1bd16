"""Forms of the browser pages. They collect text; the services decide what is valid."""

import json
import math

import numpy as np
from django import forms

from predictor.models import Dataset, ModelVersion, Task
from predictor.services.registry.datasets import dataset_profile, dataset_task_guess
from predictor.services.schema import NUMERIC
from predictor.services.training import ALGORITHMS, defaults

# The hyperparameters the training page offers for each algorithm.
MAIN_PARAMS = {
    "logistic_regression": ["C", "max_iter"],
    "linear_regression": [],
    "ridge": ["alpha"],
    "decision_tree": ["max_depth", "min_samples_leaf"],
    "random_forest": ["n_estimators", "max_depth", "min_samples_leaf"],
    "gradient_boosting": ["n_estimators", "learning_rate", "max_depth"],
    "svm": ["C", "kernel"],
    "knn": ["n_neighbors", "weights"],
    "mlp": ["hidden_layer_sizes", "alpha", "max_iter"],
}
ALL_PARAMS = sorted({p for names in MAIN_PARAMS.values() for p in names})


def _fmt(value) -> str:
    """Four significant digits as a plain decimal (0.00001, not 1e-05)."""
    if value is None:
        return ""
    return np.format_float_positional(value, precision=4, unique=False, fractional=False, trim="-")


class PredictionForm(forms.Form):
    """One field per feature of the version's schema."""

    def __init__(self, *args, version: ModelVersion, schema: list | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = version
        # `schema`: the version's as this visitor may see it (access.version_schema_shown).
        for feature in schema if schema is not None else version.schema:
            name = feature["name"]
            optional = feature.get("nullable", True)
            if feature["type"] == NUMERIC:
                lo, hi = feature.get("min"), feature.get("max")
                span = (hi - lo) if lo is not None and hi is not None else None
                step = 10 ** round(math.log10(span / 100)) if span else "any"
                hint = f"training range {_fmt(lo)} to {_fmt(hi)}" if lo is not None else ""
                self.fields[name] = forms.CharField(
                    label=name.replace("_", " "),
                    required=not optional,
                    help_text=hint + ("; blank if unknown" if optional else ""),
                    widget=forms.TextInput(
                        attrs={
                            "inputmode": "decimal",
                            "placeholder": f"{_fmt(lo)} – {_fmt(hi)}" if lo is not None else "",
                            "data-min": _fmt(lo),
                            "data-max": _fmt(hi),
                            "data-step": step,
                            "data-example": _fmt(feature.get("mean")),
                            "autocomplete": "off",
                        }
                    ),
                )
            else:
                cats = feature.get("categories") or []
                choices = ([("", "— unknown —")] if optional else []) + [(c, c) for c in cats]
                self.fields[name] = forms.ChoiceField(
                    label=name.replace("_", " "),
                    required=not optional,
                    choices=choices,
                    widget=forms.Select(attrs={"data-example": cats[0] if cats else ""}),
                )


class FeedbackForm(forms.Form):
    actual = forms.CharField(label="The right answer was", max_length=200)

    def __init__(self, *args, version: ModelVersion, **kwargs):
        super().__init__(*args, **kwargs)
        if version.model.task == Task.CLASSIFICATION:
            # No class is chosen for the person: a click on the button without a choice
            # must not record one as the truth (live accuracy and retraining learn from it).
            self.fields["actual"] = forms.ChoiceField(
                label="The right answer was",
                choices=[("", "— choose the right answer —")]
                + [(str(c), str(c)) for c in version.classes or []],
                error_messages={"required": "Choose the right answer before sending it."},
            )
        else:
            self.fields["actual"].widget.attrs["inputmode"] = "decimal"


class DatasetUploadForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="lowercase letters, digits, - and _")
    file = forms.FileField(label="CSV file")
    target = forms.CharField(
        max_length=200, required=False, help_text="target column; blank for the last column"
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class TrainingForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.all(), empty_label=None)
    target = forms.ChoiceField(choices=[])
    model = forms.CharField(
        label="Model name", max_length=100, required=False, help_text="blank: the dataset's name"
    )
    features = forms.MultipleChoiceField(
        label="Features",
        required=False,
        choices=[],
        widget=forms.CheckboxSelectMultiple,
        help_text="unticked columns are left out (identifiers and constants are, by default)",
    )
    # Sent with the checklist: a post without it (a script) leaves `exclude` to the default.
    checklist = forms.BooleanField(required=False, initial=True, widget=forms.HiddenInput)
    algorithm = forms.ChoiceField(choices=[(a, a.replace("_", " ")) for a in ALGORITHMS])
    test_size = forms.FloatField(
        initial=defaults.TEST_SIZE_DEFAULT,
        min_value=defaults.TEST_SIZE_MIN,
        max_value=defaults.TEST_SIZE_MAX,
    )
    cv = forms.IntegerField(
        label="Cross-validation folds",
        initial=defaults.CV_DEFAULT,
        min_value=0,
        max_value=defaults.MAX_CV,
        help_text="0 for none",
    )

    def __init__(self, *args, dataset: Dataset | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ALL_PARAMS:
            used_by = [a for a, params in MAIN_PARAMS.items() if name in params]
            self.fields[f"param_{name}"] = forms.CharField(
                label=name,
                required=False,
                help_text="for " + ", ".join(a.replace("_", " ") for a in used_by),
                widget=forms.TextInput(attrs={"data-algorithms": " ".join(used_by)}),
            )
        if dataset is not None:
            self.fields["target"].choices = [(c, c) for c in dataset.column_names]
            self.fields["target"].initial = dataset.target
            self.fields["model"].initial = dataset.name
            notes = {c["name"]: c["note"] for c in dataset_profile(dataset=dataset)}
            self.fields["features"].choices = [
                (c, f"{c} ({notes[c]})" if notes.get(c) else c)
                for c in dataset.column_names
                if c != dataset.target
            ]
            self.fields["features"].initial = [
                c for c in dataset.column_names if c != dataset.target and not notes.get(c)
            ]
            # A sensible first choice for the dataset's task (any algorithm may be picked).
            regression = dataset_task_guess(dataset=dataset) == Task.REGRESSION
            self.fields["algorithm"].initial = "ridge" if regression else "logistic_regression"

    def exclude(self) -> list[str] | None:
        """The unticked columns of the checklist (the chosen target aside); None without it."""
        if not self.cleaned_data.get("checklist"):
            return None
        kept = set(self.cleaned_data.get("features") or [])
        target = self.cleaned_data.get("target")
        return [
            name
            for name, _ in self.fields["features"].choices
            if name not in kept and name != target
        ]

    def params(self) -> dict:
        """The non-blank hyperparameters of the chosen algorithm, read as JSON when they can be."""
        chosen = MAIN_PARAMS.get(self.cleaned_data["algorithm"], [])
        params = {}
        for name in chosen:
            raw = (self.cleaned_data.get(f"param_{name}") or "").strip()
            if not raw:
                continue
            try:
                params[name] = json.loads(raw)
            except ValueError:
                params[name] = raw
        return params


class BatchForm(forms.Form):
    file = forms.FileField(label="CSV file with the features' columns")
