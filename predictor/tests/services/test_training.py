import threading

import pandas as pd
import pytest
from django.db import connection

from predictor.models import JobStatus, ModelVersion, Prediction, Stage, TrainingJob
from predictor.services import jobs, training
from predictor.services.errors import InvalidInput
from predictor.services.registry.datasets import dataset_create
from predictor.services.serving import inference, runtime

from ..conftest import csv_bytes, iris_frame, train

CLASSIFIERS = [a for a, tasks in training.ALGORITHMS.items() if "classification" in tasks]
REGRESSORS = [a for a, tasks in training.ALGORITHMS.items() if "regression" in tasks]


def test_every_algorithm_is_offered_for_some_task():
    assert set(CLASSIFIERS) | set(REGRESSORS) == {
        "logistic_regression",
        "linear_regression",
        "ridge",
        "decision_tree",
        "random_forest",
        "gradient_boosting",
        "svm",
        "knn",
        "mlp",
    }


@pytest.mark.parametrize("algorithm", CLASSIFIERS)
def test_each_classifier_trains_on_iris(iris_dataset, algorithm):
    version = train(
        iris_dataset, model=f"iris-{algorithm.replace('_', '-')}", algorithm=algorithm, cv=3
    )
    m = version.metrics
    assert m["main"] == "accuracy" and m["accuracy"] > 0.8
    assert 0 <= m["f1_macro"] <= 1 and m["roc_auc"] > 0.8
    assert m["confusion_matrix"]["labels"] == ["setosa", "versicolor", "virginica"]
    assert sum(map(sum, m["confusion_matrix"]["matrix"])) == m["n_test"] == 30
    assert m["cv"]["folds"] == 3 and 0 <= m["cv"]["std"] <= m["cv"]["mean"] <= 1
    result = inference.predict(
        version=version,
        records=[
            {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
        ],
    )
    assert result.predictions == ["setosa"]
    assert set(result.probabilities[0]) == {"setosa", "versicolor", "virginica"}


@pytest.mark.parametrize("algorithm", REGRESSORS)
def test_each_regressor_trains_on_diabetes(diabetes_dataset, algorithm):
    params = {
        "random_forest": {"n_estimators": 30, "max_depth": 4},
        "gradient_boosting": {"n_estimators": 30, "max_depth": 2},
        "decision_tree": {"max_depth": 3},
        "knn": {"n_neighbors": 15},
        "mlp": {"hidden_layer_sizes": [16], "alpha": 1.0, "learning_rate_init": 0.01},
    }.get(algorithm, {})
    version = train(diabetes_dataset, model="diabetes", algorithm=algorithm, params=params, cv=3)
    m = version.metrics
    assert m["main"] == "r2" and m["r2"] > 0.0, m
    assert m["mae"] > 0 and m["rmse"] >= m["mae"]
    assert version.classes is None and version.model.task == "regression"
    record = {f["name"]: f["mean"] for f in version.schema}
    result = inference.predict(version=version, records=[record])
    assert isinstance(result.predictions[0], float) and result.probabilities is None


def test_logistic_regression_on_iris_is_accurate(iris_dataset):
    version = train(iris_dataset, cv=5)
    assert version.metrics["accuracy"] > 0.9
    assert version.metrics["cv"]["mean"] > 0.9
    assert version.stage == Stage.PRODUCTION and version.version == 1
    assert version.library_versions["scikit-learn"]
    assert len(version.sha256) == 64 and version.size_bytes > 0
    assert [f["name"] for f in version.schema] == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    hist = version.reference_stats["petal_length"]
    assert sum(hist["counts"]) == 120 and len(hist["edges"]) == 11


def test_categorical_columns_and_missing_values(credit_dataset):
    version = train(
        credit_dataset, model="credit", algorithm="random_forest", params={"n_estimators": 50}
    )
    kinds = {f["name"]: f["type"] for f in version.schema}
    assert kinds["housing"] == "categorical" and kinds["income"] == "numeric"
    assert set(version.schema[4]["categories"]) == {"own", "rent", "free"}
    assert version.reference_stats["purpose"]["frequencies"]
    assert version.classes == ["bad", "good"]
    rows = [
        {
            "age": 30,
            "income": None,
            "loan_amount": 5000,
            "duration_months": 12,
            "housing": None,
            "purpose": "car",
            "employment": "employed",
        },
        {
            "age": 30,
            "income": 40000,
            "loan_amount": 5000,
            "duration_months": 12,
            "housing": "boat",
            "purpose": "car",
            "employment": "employed",
        },
    ]
    result = inference.predict(version=version, records=rows)
    assert all(p in ("bad", "good") for p in result.predictions)
    # Unseen categories are a note (the pipeline ignores them), not a contract warning.
    assert result.notes == ["row 2: feature 'housing' has a category not seen in training: 'boat'"]
    assert result.warnings == [[], []]


def test_later_versions_start_at_stage_none(iris_dataset):
    first = train(iris_dataset)
    second = train(iris_dataset, algorithm="knn")
    assert (first.version, first.stage) == (1, Stage.PRODUCTION)
    assert (second.version, second.stage) == (2, Stage.NONE)


def test_grid_search_records_the_best_params(iris_dataset):
    version = train(iris_dataset, algorithm="knn", cv=3, search_space={"n_neighbors": [1, 5, 15]})
    assert version.params["n_neighbors"] in (1, 5, 15)
    assert version.metrics["cv"]["best_params"] == {"n_neighbors": version.params["n_neighbors"]}
    assert version.metrics["cv"]["candidates"] == 3


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"algorithm": "xgboost"}, "unknown algorithm 'xgboost'"),
        ({"algorithm": "linear_regression"}, "not available for classification"),
        ({"algorithm": "random_forest", "params": {"n_trees": 5}}, "unknown parameter 'n_trees'"),
        ({"algorithm": "random_forest", "params": {"n_estimators": -3}}, "n_estimators"),
        ({"algorithm": "random_forest", "params": {"criterion": "best"}}, "criterion"),
        ({"algorithm": "svm", "params": {"probability": False}}, "unknown parameter 'probability'"),
        ({"algorithm": "knn", "search_space": {"n_neighbors": []}}, "non-empty list"),
        ({"algorithm": "knn", "search_space": {"k": [1]}}, "unknown parameter 'k'"),
        ({"cv": 1}, "cv must be"),
        ({"test_size": 0.95}, "test_size"),
        ({"target": "colour"}, "'colour' is not in dataset"),
        ({"task": "regression"}, "not numeric"),
        ({"model_name": "Bad Name"}, "invalid model name"),
    ],
)
def test_bad_requests_fail_before_any_work(iris_dataset, kwargs, message):
    request = {"model_name": "iris", "algorithm": "logistic_regression", **kwargs}
    with pytest.raises(InvalidInput, match=message):
        training.job_create(dataset=iris_dataset, **request)
    assert TrainingJob.objects.count() == 0 and ModelVersion.objects.count() == 0


def test_a_target_with_one_class_is_refused(db):
    frame = iris_frame()
    frame["species"] = "setosa"
    dataset = dataset_create(name="one", file=csv_bytes(frame))
    with pytest.raises(InvalidInput, match="single class"):
        training.job_create(dataset=dataset, model_name="one", algorithm="knn")


def test_task_must_match_an_existing_model(iris_dataset, diabetes_dataset):
    train(iris_dataset, model="shared")
    with pytest.raises(InvalidInput, match="is a classification model"):
        training.job_create(dataset=diabetes_dataset, model_name="shared", algorithm="ridge")


def test_integer_targets_with_few_values_are_classes(db):
    frame = iris_frame()
    frame["species"] = frame["species"].map({"setosa": 0, "versicolor": 1, "virginica": 2})
    dataset = dataset_create(name="iris-int", file=csv_bytes(frame))
    version = train(dataset, model="iris-int")
    assert version.model.task == "classification" and version.classes == [0, 1, 2]
    result = inference.predict(
        version=version, records=[dict(zip(version.feature_names, [5.1, 3.5, 1.4, 0.2]))]
    )
    assert result.predictions == [0] and set(result.probabilities[0]) == {"0", "1", "2"}


@pytest.mark.django_db(transaction=True)
def test_thread_runner_reports_progress_until_done(settings):
    settings.TRAINING_BACKEND = "thread"
    dataset = dataset_create(name="iris", file=csv_bytes(iris_frame()))
    job = training.job_create(dataset=dataset, model_name="iris", algorithm="random_forest", cv=3)
    assert job.status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED)
    seen = []
    for _ in range(600):
        job.refresh_from_db()
        seen.append(job.progress)
        if job.done:
            break
        threading.Event().wait(0.05)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress == 1.0 and job.version.version == 1 and job.finished_at
    assert seen == sorted(seen)


@pytest.mark.django_db(transaction=True)
def test_a_failing_job_is_marked_failed(settings, monkeypatch):
    dataset = dataset_create(name="iris", file=csv_bytes(iris_frame()))

    def boom(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(training.run, "fit", boom)
    job = training.train_now(dataset=dataset, model_name="iris", algorithm="knn")
    assert job.status == JobStatus.FAILED and "out of memory" in job.error
    assert ModelVersion.objects.count() == 0


def test_orphaned_jobs_are_failed_at_next_start(iris_dataset):
    host = jobs.RUNNER_ID.rsplit(":", 1)[0]
    dead = TrainingJob.objects.create(
        dataset=iris_dataset,
        model_name="x",
        algorithm="knn",
        status=JobStatus.RUNNING,
        runner=f"{host}:999999",
    )
    alive = TrainingJob.objects.create(
        dataset=iris_dataset,
        model_name="y",
        algorithm="knn",
        status=JobStatus.RUNNING,
        runner=jobs.RUNNER_ID,
    )
    elsewhere = TrainingJob.objects.create(
        dataset=iris_dataset,
        model_name="z",
        algorithm="knn",
        status=JobStatus.QUEUED,
        runner="other-host:1",
    )
    assert jobs.jobs_fail_orphaned() == 1
    for job in (dead, alive, elsewhere):
        job.refresh_from_db()
    assert dead.status == JobStatus.FAILED and "stopped" in dead.error
    assert alive.status == JobStatus.RUNNING and elsewhere.status == JobStatus.QUEUED


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_trainings_get_distinct_numbers():
    dataset = dataset_create(name="iris", file=csv_bytes(iris_frame()))
    errors = []

    def run():
        try:
            train(dataset, algorithm="knn")
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    versions = sorted(ModelVersion.objects.values_list("version", flat=True))
    assert versions == [1, 2, 3]
    assert ModelVersion.objects.filter(stage=Stage.PRODUCTION).count() == 1


def test_predictions_are_logged_in_one_insert(iris_version, django_assert_max_num_queries):
    records = [dict(zip(iris_version.feature_names, [5.1, 3.5, 1.4, 0.2]))] * 50
    runtime.runtime_for(version=iris_version)  # warm the cache
    with django_assert_max_num_queries(5) as captured:
        result = inference.predict(version=iris_version, records=records)
    assert Prediction.objects.count() == 50 == len(result.prediction_ids)
    # One statement inserts the rows, one adds to the hour's aggregates (PostgreSQL: both
    # in one statement); the rest are SQLite's savepoints.
    writes = [q["sql"] for q in captured.captured_queries if "INSERT" in q["sql"]]
    assert 1 <= len(writes) <= 2
    assert sum(w.count('"predictor_prediction" (') for w in writes) == 1
    assert sum(w.count('"predictor_predictionhour"') for w in writes) == 1


def test_frame_dtypes_follow_the_schema(credit_dataset):
    version = train(credit_dataset, model="credit", algorithm="knn")
    from predictor.services.schema import frame_from_records

    frame = frame_from_records(
        schema=version.schema, records=[{f["name"]: None for f in version.schema}]
    )
    assert pd.api.types.is_float_dtype(frame["age"]) and frame["housing"].dtype == object


def test_every_door_offers_the_training_defaults_and_bounds_of_one_module():
    from django.core.management import get_commands, load_command_class

    from predictor.api.serializers import TrainingRequestSerializer
    from predictor.models import TrainingJob
    from predictor.services.training import defaults
    from predictor.web.forms import TrainingForm

    stored = {f.name: f.default for f in TrainingJob._meta.fields if f.name in ("test_size", "cv")}
    assert stored == {"test_size": defaults.TEST_SIZE_DEFAULT, "cv": defaults.CV_DEFAULT}
    api = TrainingRequestSerializer().fields
    assert (api["test_size"].default, api["cv"].default) == (0.2, 5)
    form = TrainingForm().fields
    assert (form["test_size"].min_value, form["test_size"].max_value) == (0.05, 0.5)
    assert form["cv"].max_value == defaults.MAX_CV == 20
    command = load_command_class(get_commands()["train"], "train").create_parser(
        "manage.py", "train"
    )
    parsed = command.parse_args(["--dataset", "d", "--model", "m", "--algorithm", "knn"])
    assert (parsed.test_size, parsed.cv, parsed.random_state) == (0.2, 5, 0)


def test_a_dataset_is_found_by_name_then_by_id_in_every_door(iris_dataset):
    from predictor.services.errors import NotFound
    from predictor.services.registry.datasets import dataset_find

    assert dataset_find(key=iris_dataset.name) == iris_dataset
    assert dataset_find(key=str(iris_dataset.pk)) == iris_dataset
    assert dataset_find(key=iris_dataset.pk) == iris_dataset
    with pytest.raises(NotFound, match="no dataset named 'nope'"):
        dataset_find(key="nope")
