"""A dataset's profile (missing, distinct, note) and training's `exclude` built on it."""

import numpy as np
import pandas as pd
import pytest

from predictor.services.errors import InvalidInput
from predictor.services.registry.datasets import (
    dataset_create,
    dataset_look,
    dataset_profile,
    parse_csv,
)
from predictor.services.training import train_now, training_request_validate
from predictor.tests.conftest import csv_bytes


def churn_frame(rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    tenure = rng.integers(1, 72, rows)
    return pd.DataFrame(
        {
            "customer_id": [f"C{10001 + i}" for i in range(rows)],
            "row_no": np.arange(1, rows + 1),
            "country": ["fr"] * rows,
            "tenure": tenure,
            "plan": rng.choice(["basic", "pro", None], rows),
            "churned": np.where(tenure < 30, "yes", "no"),
        }
    )


@pytest.fixture
def churn(db):
    return dataset_create(name="churn", file=csv_bytes(churn_frame()), target="churned")


def by_name(profile):
    return {c["name"]: c for c in profile}


def test_the_profile_notes_identifiers_and_constants(churn):
    profile = by_name(dataset_profile(dataset=churn))
    assert profile["customer_id"]["note"] == "identifier"
    assert profile["row_no"]["note"] == "identifier"
    assert profile["country"]["note"] == "constant"
    assert profile["tenure"]["note"] is None
    assert profile["plan"]["note"] is None
    assert profile["country"]["distinct"] == 1
    assert profile["customer_id"]["distinct"] == 60
    assert 0 < profile["plan"]["missing"] < 1
    assert profile["tenure"]["missing"] == 0
    # Stored at upload, beside the column's type and figures.
    assert by_name(churn.columns)["customer_id"]["note"] == "identifier"


def test_a_few_distinct_values_in_a_tiny_file_are_not_identifiers(db):
    frame = pd.DataFrame({"colour": list("abcdef"), "n": [1, 2, 3, 4, 5, 6], "y": [0, 1] * 3})
    dataset = dataset_create(name="tiny", file=csv_bytes(frame), target="y")
    assert {c["name"]: c["note"] for c in dataset_profile(dataset=dataset)} == {
        "colour": None,
        "n": None,
        "y": None,
    }


def test_a_profile_is_computed_for_a_dataset_stored_before_profiles(churn):
    churn.columns = [
        {k: v for k, v in c.items() if k not in ("note", "distinct")} for c in churn.columns
    ]
    churn.save()
    assert by_name(dataset_profile(dataset=churn))["customer_id"]["note"] == "identifier"


def test_the_look_has_the_class_balance_and_a_few_rows(churn):
    look = dataset_look(dataset=churn)
    assert len(look["preview"]) == 5
    assert {b["value"] for b in look["balance"]} == {"yes", "no"}
    assert sum(b["count"] for b in look["balance"]) == 60


@pytest.mark.parametrize(
    ("text", "words"),
    [("a;b;c\n1;2;3\n", "';'"), ("a\tb\tc\n1\t2\t3\n", "tabs")],
)
def test_a_semicolon_or_tab_file_is_named(text, words):
    with pytest.raises(InvalidInput) as caught:
        parse_csv(data=text.encode())
    assert f"the file looks separated by {words}: save it as comma-separated CSV" in str(
        caught.value.message
    )


def test_exclude_defaults_to_the_noted_columns(churn):
    req = training_request_validate(dataset=churn, algorithm="logistic_regression")
    assert req.model_name == "churn"  # no model name: the dataset's
    assert req.excluded == {
        "customer_id": "identifier",
        "row_no": "identifier",
        "country": "constant",
    }
    assert list(req.frame.columns) == ["tenure", "plan", "churned"]
    assert req.left_out == "customer_id (identifier), row_no (identifier), country (constant)"


def test_exclude_explicit_and_empty(churn):
    req = training_request_validate(
        dataset=churn, algorithm="logistic_regression", exclude=["plan"]
    )
    assert req.excluded == {"plan": "asked"}
    assert "customer_id" in req.frame.columns
    req = training_request_validate(dataset=churn, algorithm="logistic_regression", exclude=[])
    assert req.excluded == {}
    assert list(req.frame.columns) == list(churn_frame().columns)


@pytest.mark.parametrize(
    ("exclude", "words"),
    [
        (["nope"], "'nope', not a column"),
        (["churned"], "names the target 'churned'"),
        (["customer_id", "row_no", "country", "tenure", "plan"], "leaves out every feature"),
        ("plan", "must be a list"),
    ],
)
def test_bad_exclude_is_refused_naming_the_field(churn, exclude, words):
    with pytest.raises(InvalidInput) as caught:
        training_request_validate(dataset=churn, algorithm="logistic_regression", exclude=exclude)
    assert words in caught.value.message
    assert caught.value.details["field"] == "exclude"


def test_a_trained_version_has_no_excluded_feature_and_the_job_says_so(churn):
    job = train_now(dataset=churn, algorithm="logistic_regression", cv=0)
    assert job.status == "succeeded", job.error
    features = [f["name"] for f in job.version.schema]
    assert features == ["tenure", "plan"]
    assert job.version.model.name == "churn"
    assert job.options["exclude"] == ["customer_id", "row_no", "country"]
    assert job.options["left_out"].startswith("customer_id (identifier)")


def test_a_queued_job_says_what_it_leaves_out(churn, settings):
    from predictor.services.training import job_create

    settings.TRAINING_BACKEND = "db"  # queued for a worker: nothing runs here
    job = job_create(dataset=churn, algorithm="logistic_regression")
    assert job.status == "queued"
    assert job.message == (
        "queued · left out: customer_id (identifier), row_no (identifier), country (constant)"
    )


def test_a_model_keeps_its_production_inputs_and_retrains(churn, staff):
    from predictor.services.training import retrain
    from predictor.tests.conftest import train

    v1 = train(churn, model="churn", algorithm="decision_tree", exclude=[])
    req = training_request_validate(dataset=churn, algorithm="decision_tree")
    assert req.excluded == {}  # production v1 reads them: its clients send them
    job = retrain.retrain_create(model=v1.model, user=staff)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert "customer_id" in [f["name"] for f in job.version.schema]
