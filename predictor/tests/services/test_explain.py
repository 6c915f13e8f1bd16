"""What drives a model: weights per original feature, one-hot columns summed back."""

import pytest
from django.test import Client

from predictor.services.serving import explain
from predictor.tests.conftest import train

CATEGORICAL = {"housing", "purpose", "employment"}


@pytest.mark.parametrize("algorithm", ["logistic_regression", "random_forest"])
def test_importances_are_per_original_feature(credit_dataset, algorithm):
    version = train(credit_dataset, model="credit", algorithm=algorithm)
    shown = explain.version_importance(version=version, top=50)
    labels = [row["label"] for row in shown]
    assert set(labels) == set(version.feature_names)  # no "housing_own", each feature once
    assert CATEGORICAL <= set(labels) and len(labels) == len(set(labels))
    values = [row["value"] for row in shown]
    assert values == sorted(values, reverse=True)
    assert shown[0]["pct"] == pytest.approx(100.0)
    assert all(set(row) == {"label", "value", "pct"} for row in shown)


def test_a_categorical_features_weight_is_the_sum_of_its_columns(credit_dataset):
    version = train(credit_dataset, model="credit", algorithm="random_forest")
    pipeline = explain.pipeline_for(version=version)
    forest = pipeline.steps[-1][1]
    names = list(pipeline[:-1].get_feature_names_out())
    housing = sum(
        w
        for n, w in zip(names, forest.feature_importances_)
        if n.startswith("categorical__housing_")
    )
    shown = {
        row["label"]: row["value"] for row in explain.version_importance(version=version, top=50)
    }
    assert shown["housing"] == pytest.approx(housing)


def test_the_model_page_shows_original_feature_names(credit_dataset, staff):
    version = train(credit_dataset, model="credit", algorithm="random_forest")
    version.model.public = True
    version.model.save()
    client = Client()
    client.force_login(staff)
    page = client.get("/models/credit/").content.decode()
    assert "housing" in page and "housing_own" not in page
