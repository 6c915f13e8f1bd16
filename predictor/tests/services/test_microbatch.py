"""Micro-batching and group-committed logging, with real threads on the real database."""

import threading
import time

import pytest
from django.db import connections

from predictor.models import Prediction
from predictor.services.errors import InvalidInput, ServiceUnavailable
from predictor.services.log import writer
from predictor.services.registry.datasets import dataset_create
from predictor.services.serving import inference

from ..conftest import csv_bytes, iris_frame, train

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SETOSA = dict(zip(IRIS, [5.1, 3.5, 1.4, 0.2]))
VERSICOLOR = dict(zip(IRIS, [6.7, 3.1, 4.4, 1.4]))
VIRGINICA = dict(zip(IRIS, [6.3, 3.3, 6.0, 2.5]))
KINDS = [SETOSA, VERSICOLOR, VIRGINICA]


@pytest.fixture
def versions(transactional_db):
    dataset = dataset_create(name="iris", file=csv_bytes(iris_frame()), target="species")
    return train(dataset), train(dataset, algorithm="knn")


@pytest.fixture
def calls(monkeypatch):
    """The number of callers in each model call."""
    sizes = []
    real = inference._execute

    def counting(batch):
        sizes.append(len(batch))
        time.sleep(0.02)  # a slow model: later callers queue behind it
        real(batch)

    monkeypatch.setattr(inference, "_execute", counting)
    return sizes


def run_together(jobs):
    """Start every job at once in its own thread; their results (or exceptions) in order."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def run(i, job):
        barrier.wait()
        try:
            results[i] = job()
        except Exception as exc:  # the test looks at what each caller got
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_callers_share_calls_and_get_their_own_rows(versions, calls, settings):
    settings.MICROBATCH_MAX_WAIT_MS = 20
    version = versions[0]
    expected = {
        i: inference.predict(version=version, records=[KINDS[i % 3]]).predictions for i in range(3)
    }
    calls.clear()
    jobs = [
        (lambda i=i: inference.predict(version=version, records=[KINDS[i % 3]] * (1 + i % 2)))
        for i in range(24)
    ]
    results = run_together(jobs)
    for i, result in enumerate(results):
        assert not isinstance(result, Exception), result
        assert result.predictions == expected[i % 3] * (1 + i % 2)
        logged = Prediction.objects.filter(pk__in=result.prediction_ids).order_by("pk")
        assert [p.output for p in logged] == result.predictions
        assert all(p.inputs == KINDS[i % 3] for p in logged)
    assert sum(calls) == 24 and max(calls) > 1  # some calls served several callers
    assert Prediction.objects.count() == 3 + sum(1 + i % 2 for i in range(24))


def test_versions_never_mix(versions, calls, settings):
    settings.MICROBATCH_MAX_WAIT_MS = 20
    jobs = [
        (lambda v=versions[i % 2]: inference.predict(version=v, records=[SETOSA]))
        for i in range(16)
    ]
    for i, result in enumerate(run_together(jobs)):
        assert result.version.pk == versions[i % 2].pk
        row = Prediction.objects.get(pk=result.prediction_ids[0])
        assert row.version_id == versions[i % 2].pk


def test_a_bad_request_fails_alone(versions, calls, settings):
    settings.MICROBATCH_MAX_WAIT_MS = 20
    version = versions[0]
    bad = {**SETOSA, "petal_width": "wide"}
    jobs = [
        (lambda i=i: inference.predict(version=version, records=[bad if i == 3 else SETOSA]))
        for i in range(8)
    ]
    results = run_together(jobs)
    assert isinstance(results[3], InvalidInput) and "petal_width" in results[3].message
    assert all(r.predictions == ["setosa"] for i, r in enumerate(results) if i != 3)
    assert Prediction.objects.count() == 7


def test_a_lone_request_does_not_wait(versions, settings):
    settings.MICROBATCH_MAX_WAIT_MS = 10_000  # would be felt if a lone caller waited
    started = time.monotonic()
    inference.predict(version=versions[0], records=[SETOSA])
    assert time.monotonic() - started < 5


def test_a_failing_insert_fails_every_caller_of_the_call_and_stores_nothing(
    versions, calls, settings, monkeypatch
):
    settings.MICROBATCH_MAX_WAIT_MS = 20
    version = versions[0]
    # The database refuses the statement (here: a table that is not there).
    for name in ("_generic", "_postgresql"):
        real = getattr(writer, name)

        def broken(connection, rows, created_at, *rest, real=real):
            sql, params = real(connection, rows, created_at, *rest)
            return sql.replace("predictor_prediction", "predictor_prediction_gone", 1), params

        monkeypatch.setattr(writer, name, broken)
    results = run_together(
        [(lambda: inference.predict(version=version, records=[SETOSA, VERSICOLOR]))] * 6
    )
    assert all(isinstance(r, ServiceUnavailable) for r in results), results
    assert results[0].status_code == 503 and results[0].retry_after
    assert Prediction.objects.count() == 0


def test_every_returned_id_exists(versions, calls, settings):
    settings.MICROBATCH_MAX_WAIT_MS = 20
    version = versions[1]
    results = run_together(
        [
            (lambda i=i: inference.predict(version=version, records=[KINDS[i % 3]] * 3))
            for i in range(12)
        ]
    )
    ids = [pk for r in results for pk in r.prediction_ids]
    assert len(ids) == len(set(ids)) == 36
    assert Prediction.objects.filter(pk__in=ids).count() == 36
