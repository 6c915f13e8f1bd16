"""The prediction log: cursor walks, the export, hourly aggregates, pruning, privacy."""

import csv
import gzip
import io
import json
import math
import re
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from predictor.models import Prediction, PredictionHour, Source
from predictor.services.log import aggregates
from predictor.services.schema import MISSING, OUTPUT
from predictor.services.serving import inference
from predictor.tests.conftest import train

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def rows(n, start=0.0):
    return [
        dict(
            zip(
                FEATURES,
                [4.5 + (i % 30) / 10 + start, 3.0, 1.0 + (i % 50) / 10, 0.2 + (i % 20) / 10],
            )
        )
        for i in range(n)
    ]


def predict(version, records, **kw):
    return inference.predict(version=version, records=records, **kw).prediction_ids


def export(client, query=""):
    response = client.get("/api/predictions/?format=csv" + query)
    assert response.status_code == 200, response.content
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


# --- the indexes --------------------------------------------------------------------------------


def first_page_plan(queryset) -> str:
    """The database's plan for the first page of a history query, with sorting and full
    scans priced out: it sorts only when no index gives the order newest first."""
    newest_first = queryset.order_by(*Prediction._meta.ordering)
    sql, params = newest_first[:51].query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("SET LOCAL enable_incremental_sort = off")
            cursor.execute("EXPLAIN " + sql, params)
            return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def test_every_history_filter_reads_its_first_page_in_order_from_an_index(
    iris_version, alice, staff
):
    """The log's indexes hold (filter, created_at, id) in ascending order and are read
    backwards: every filter of the contract gets its newest rows from the index on its
    own column, without a sort (a sort would read every matching row of a log of
    millions before the first page)."""
    from predictor import selectors
    from predictor.filters import PredictionFilter

    predict(iris_version, rows(3), user=alice)
    predict(iris_version, rows(2), user=staff, source=Source.WEB)
    week = (timezone.now() - timedelta(days=7)).isoformat()
    cases = [
        (staff, {}, "pred_created"),
        (staff, {"model": "iris"}, "pred_model_at"),
        (staff, {"version": "1"}, "pred_version_at"),
        (staff, {"model": "iris", "version": "1"}, "pred_version_at"),
        (staff, {"source": "web"}, "pred_source_at"),
        (staff, {"since": week}, "pred_created"),
        (staff, {"model": "iris", "source": "api", "since": week}, "pred_model_at|pred_source_at"),
        (alice, {}, "pred_user_at"),
        # On a log of five rows PostgreSQL's planner may read alice's newest rows from her
        # own index and filter the model (no sort either way); both are first-page reads.
        (alice, {"model": "iris", "since": week}, "pred_user_model_at|pred_user_at"),
        (alice, {"source": "api"}, "pred_user_at|pred_source_at"),
    ]
    for person, query, index in cases:
        visible = selectors.predictions_visible_to(person)
        qs = PredictionFilter(query, queryset=visible).qs
        assert qs.exists(), query
        plan = first_page_plan(qs)
        if connection.vendor == "postgresql":
            used = re.search(r"Index Scan Backward using (\w+) on predictor_prediction", plan)
            assert "Sort" not in plan, (query, plan)
        else:
            used = re.search(r"predictor_prediction USING INDEX (\w+)", plan)
            assert "TEMP B-TREE" not in plan, (query, plan)
        assert used and used[1] in index.split("|"), (query, plan)


def log_index_orders() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, Prediction._meta.db_table)
    return {name: c["orders"] for name, c in found.items() if name.startswith("pred_")}


def test_the_index_migration_rebuilds_a_filled_log_both_ways(transactional_db, iris_version):
    """Upgrading a deployment: 0015 turns the log's descending indexes into ascending ones
    under the same names (on PostgreSQL concurrently, while the table keeps its rows, and
    again after a run that stopped between dropping an old index and renaming its
    replacement), and undoes it."""
    from django.db.migrations.executor import MigrationExecutor

    ids = predict(iris_version, rows(5))

    def migrate(target=None):  # None: every app's latest migration
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate([("predictor", target)] if target else executor.loader.graph.leaf_nodes())

    assert set(log_index_orders()["pred_user_model_at"]) == {"ASC"}
    try:
        migrate("0014_security_events")
        before = log_index_orders()
        assert before["pred_created"] == ["DESC", "DESC"]
        assert before["pred_user_model_at"] == ["ASC", "ASC", "DESC", "DESC"]
        if connection.vendor == "postgresql":  # as if a first run stopped mid-swap
            with connection.cursor() as cursor:
                cursor.execute("CREATE INDEX pred_created_new ON predictor_prediction (id)")
                cursor.execute("DROP INDEX pred_created")
    finally:
        migrate()
    after = log_index_orders()
    assert set(after) == set(before) and not any(n.endswith("_new") for n in after)
    assert after["pred_created"] == ["ASC", "ASC"]
    assert after["pred_source_at"] == ["ASC", "ASC", "ASC"]
    assert list(Prediction.objects.order_by("pk").values_list("pk", flat=True)) == sorted(ids)


# --- cursor pages -----------------------------------------------------------------------------


def test_a_walk_by_next_sees_every_row_once_while_rows_arrive(iris_version, alice, alice_client):
    existing = []
    for _ in range(4):  # rows of one flush share created_at: ties broken by id
        existing += predict(iris_version, rows(5), user=alice)
    seen, url, added = [], "/api/predictions/?page_size=3", []
    while url:
        page = alice_client.get(url).json()
        seen += [p["id"] for p in page["results"]]
        added += predict(iris_version, rows(2), user=alice)  # traffic during the walk
        url = page["next"]
    assert len(seen) == len(set(seen))
    assert set(existing) <= set(seen)
    assert not set(seen) & set(added)
    assert seen == sorted(existing, reverse=True)


# --- export ---------------------------------------------------------------------------------


def test_the_export_of_1000_rows_equals_the_rows(iris_version, alice, bob, staff_client):
    predict(iris_version, rows(600), user=alice)
    predict(iris_version, rows(399, start=0.05), user=bob, source=Source.WEB)
    predict(iris_version, [{**rows(1)[0], "sepal_length": -1.5}])  # anonymous, negative
    stored = {p.pk: p for p in Prediction.objects.select_related("model", "version", "user")}
    assert len(stored) == 1000

    by_feature = export(staff_client, "&model=iris")
    assert [int(r["id"]) for r in by_feature] == sorted(stored, reverse=True)
    assert list(by_feature[0])[:11] == [
        "id", "created_at", "model", "version", "source", "user", "output",
        "probabilities", "actual", "latency_ms", "request_id",
    ]  # fmt: skip
    assert list(by_feature[0])[11:] == FEATURES
    for line in by_feature:
        p = stored[int(line["id"])]
        assert line["model"] == "iris" and int(line["version"]) == p.version.version
        assert line["source"] == p.source
        assert line["user"] == (p.user.username if p.user else "")
        assert line["output"] == p.output  # a plain class name, not JSON
        assert json.loads(line["probabilities"]) == pytest.approx(p.probabilities)
        assert line["actual"] == ""
        assert float(line["latency_ms"]) == pytest.approx(p.latency_ms, abs=1e-3)
        assert line["request_id"] == p.request_id
        assert timezone.datetime.fromisoformat(line["created_at"]) == p.created_at
        for name in FEATURES:
            assert float(line[name]) == p.inputs[name]
    assert {line["sepal_length"] for line in by_feature} >= {"-1.5"}  # numbers stay numbers

    as_json = export(staff_client)
    assert list(as_json[0])[-1] == "inputs"
    assert all(json.loads(r["inputs"]) == stored[int(r["id"])].inputs for r in as_json)


def test_export_filters_and_formula_cells(iris_version, alice, alice_client, bob):
    predict(iris_version, rows(3), user=alice, request_id="-danger")
    predict(iris_version, rows(2), user=bob)
    lines = export(alice_client)
    assert len(lines) == 3  # only her rows
    assert {r["request_id"] for r in lines} == {"'-danger"}
    assert export(alice_client, "&source=web") == []


# --- hourly aggregates --------------------------------------------------------------------


def direct_figures(version, queryset):
    """What the aggregates of these rows must hold, counted here independently."""
    stats = version.reference_stats
    want = {
        "predictions": queryset.count(),
        "outputs": Counter(str(o) for o in queryset.values_list("output", flat=True)),
        "labelled": queryset.exclude(actual=None).count(),
        "correct": sum(1 for o, a in queryset.values_list("output", "actual") if a == o),
        "features": {},
    }
    for name in FEATURES:
        edges = np.asarray(stats[name]["edges"])
        counts = Counter()
        for inputs in queryset.values_list("inputs", flat=True):
            value = inputs.get(name)
            if value is None:
                counts[MISSING] += 1
            else:  # the bin whose edges hold it, the outer bins open-ended
                counts[str(min(max(int(np.sum(edges[1:-1] <= value)), 0), len(edges) - 2))] += 1
        want["features"][name] = counts
    return want


def stored_figures(queryset):
    """The figures of aggregate rows, summed over the per-user keys; the rows that add up
    all users (user_key -1) must say the same."""
    total, rollup = aggregates.Figures(), aggregates.Figures()
    for hour in queryset:
        target = rollup if hour.user_key == aggregates.ALL_USERS else total
        target.merge(aggregates.Figures.from_row(hour))
    assert (rollup.predictions, rollup.requests, rollup.labelled, rollup.correct) == (
        total.predictions,
        total.requests,
        total.labelled,
        total.correct,
    )
    assert +rollup.outputs == +total.outputs and +rollup.latency == +total.latency
    assert {k: +v for k, v in rollup.features.items()} == {k: +v for k, v in total.features.items()}
    return total


VALUE = st.one_of(st.none(), st.floats(min_value=-5, max_value=15, allow_nan=False))
ROW = st.fixed_dictionaries({name: VALUE for name in FEATURES})
REQUEST = st.tuples(
    st.lists(ROW, min_size=1, max_size=8),
    st.sampled_from([Source.API, Source.WEB, Source.V2]),
    st.booleans(),  # logged in
    st.lists(st.sampled_from(["setosa", "versicolor", "virginica", None]), max_size=3),
)


@pytest.mark.django_db
@hsettings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(requests=st.lists(REQUEST, min_size=1, max_size=6), hour_back=st.integers(1, 24 * 40))
def test_aggregates_equal_a_direct_count_for_a_random_hour(
    iris_version, alice, requests, hour_back
):
    Prediction.objects.all().delete()
    PredictionHour.objects.all().delete()
    moved = []
    for i, (records, source, logged_in, feedback) in enumerate(requests):
        ids = predict(iris_version, records, source=source, user=alice if logged_in else None)
        for pid, actual in zip(ids, feedback):
            if actual is not None:
                inference.prediction_feedback(
                    prediction=Prediction.objects.get(pk=pid), actual=actual
                )
        if i % 2:
            moved += ids
    # As written: one hour, the aggregates of every key add up to the rows.
    now_hour = aggregates.hour_of(moment=timezone.now())
    live = stored_figures(PredictionHour.objects.all())
    want = direct_figures(iris_version, Prediction.objects.all())
    assert live.predictions == want["predictions"] and live.requests == len(requests)
    assert +live.outputs == want["outputs"]
    assert (live.labelled, live.correct) == (want["labelled"], want["correct"])
    assert {k: +v for k, v in live.features.items()} == want["features"]
    assert sum(live.latency.values()) == len(requests)

    # Rows loaded into a past hour (a restore), then rebuilt: that hour equals its rows.
    past = now_hour - timedelta(hours=hour_back)
    Prediction.objects.filter(pk__in=moved).update(created_at=past + timedelta(minutes=7))
    call_command("rebuild_aggregates", stdout=io.StringIO())
    for hour, rows_there in (
        (past, Prediction.objects.filter(pk__in=moved)),
        (now_hour, Prediction.objects.exclude(pk__in=moved)),
    ):
        figures = stored_figures(PredictionHour.objects.filter(hour=hour))
        want = direct_figures(iris_version, rows_there)
        assert figures.predictions == want["predictions"]
        assert +figures.outputs == want["outputs"]
        assert (figures.labelled, figures.correct) == (want["labelled"], want["correct"])
        assert {k: +v for k, v in figures.features.items()} == (
            want["features"] if want["predictions"] else {}
        )
    # ... with the user and source of each row kept apart in their keys.
    per_user = PredictionHour.objects.exclude(user_key=aggregates.ALL_USERS)
    for key in per_user.values("hour", "source", "user_key", "predictions"):
        rows_of_key = Prediction.objects.filter(
            created_at__gte=key["hour"],
            created_at__lt=key["hour"] + timedelta(hours=1),
            source=key["source"],
            user_id=key["user_key"] or None,
        )
        assert rows_of_key.count() == key["predictions"]


def test_regression_aggregates_sum_outputs_and_errors(diabetes_dataset, alice):
    version = train(diabetes_dataset, model="diabetes", algorithm="ridge")
    record = {f["name"]: f["mean"] for f in version.schema}
    ids = predict(version, [record, {**record, "bmi": 0.05}], user=alice)
    outputs = list(Prediction.objects.order_by("id").values_list("output", flat=True))
    inference.prediction_feedback(prediction=Prediction.objects.get(pk=ids[0]), actual=100.0)
    inference.prediction_feedback(prediction=Prediction.objects.get(pk=ids[0]), actual=120.0)
    hour = PredictionHour.objects.get(user_key=alice.pk)
    assert hour.output_sum == pytest.approx(sum(outputs))
    assert hour.output_sumsq == pytest.approx(sum(o * o for o in outputs))
    assert sum(hour.outputs.values()) == 2 and OUTPUT in version.reference_stats
    # The second answer replaced the first: one labelled row, its error against 120.
    assert hour.labelled == 1
    assert hour.abs_error_sum == pytest.approx(abs(120.0 - outputs[0]))
    assert hour.sq_error_sum == pytest.approx((120.0 - outputs[0]) ** 2)


# --- pruning ----------------------------------------------------------------------------------


def test_prune_archives_exactly_what_it_deletes(iris_version, alice, alice_client, tmp_path):
    now = timezone.now()
    ids = {}
    for days in (0, 3, 5):
        ids[days] = predict(iris_version, rows(4), user=alice)
        Prediction.objects.filter(pk__in=ids[days]).update(created_at=now - timedelta(days=days))
    kept_for_feedback = ids[5][0]
    inference.prediction_feedback(
        prediction=Prediction.objects.get(pk=kept_for_feedback), actual="setosa"
    )
    before = stored_figures(PredictionHour.objects.all())

    out = io.StringIO()
    call_command("prune_predictions", "--older-than", "2", "--dry-run", stdout=out)
    assert "would remove 7 rows" in out.getvalue() and Prediction.objects.count() == 12

    out = io.StringIO()
    archive = tmp_path / "archive"
    call_command(
        "prune_predictions",
        "--older-than",
        "2",
        "--archive",
        str(archive),
        "--batch",
        "3",
        stdout=out,
    )
    assert "archived 7 rows" in out.getvalue() and "removed 7 rows" in out.getvalue()
    files = sorted(archive.iterdir())
    days = sorted({(now - timedelta(days=d)).strftime("%Y-%m-%d") for d in (3, 5)})
    assert [f.name for f in files] == [f"predictions-{d}.csv.gz" for d in days]
    archived = []
    for f in files:
        with gzip.open(f, "rt") as handle:
            archived += [int(r["id"]) for r in csv.DictReader(handle)]
    removed = set(ids[3] + ids[5]) - {kept_for_feedback}
    assert sorted(archived) == sorted(removed)
    assert set(Prediction.objects.values_list("pk", flat=True)) == set(ids[0]) | {kept_for_feedback}
    pruned = next(iter(removed))
    assert alice_client.get(f"/api/predictions/{pruned}/").status_code == 404
    after = stored_figures(PredictionHour.objects.all())
    assert (after.predictions, after.labelled) == (before.predictions, before.labelled)

    call_command("prune_predictions", "--older-than", "0", "--drop-feedback", stdout=io.StringIO())
    assert Prediction.objects.count() == 0


def test_prune_refuses_bad_arguments(db, settings):
    from django.core.management.base import CommandError

    settings.PREDICTION_RETENTION_DAYS = None
    with pytest.raises(CommandError, match="--older-than DAYS or set PREDICTION_RETENTION_DAYS"):
        call_command("prune_predictions")
    with pytest.raises(CommandError, match="0 or more days"):
        call_command("prune_predictions", "--older-than", "-1")


def test_retention_setting_is_used_without_older_than(iris_version, settings):
    settings.PREDICTION_RETENTION_DAYS = 1
    ids = predict(iris_version, rows(2))
    Prediction.objects.filter(pk=ids[0]).update(created_at=timezone.now() - timedelta(days=2))
    out = io.StringIO()
    call_command("prune_predictions", stdout=out)
    assert "removed 1 rows older than 1 days" in out.getvalue()
    assert list(Prediction.objects.values_list("pk", flat=True)) == [ids[1]]


# --- erasure ------------------------------------------------------------------------------------


def test_erase_a_users_rows_removes_their_figures(iris_version, alice, bob):
    predict(iris_version, rows(3), user=alice)
    predict(iris_version, rows(2), user=bob)
    out = io.StringIO()
    call_command("erase_predictions", "--user", "alice", "--dry-run", stdout=out)
    assert "would remove 3 predictions of alice" in out.getvalue()
    assert Prediction.objects.count() == 5
    call_command("erase_predictions", "--user", "alice", stdout=out)
    assert "removed 3 predictions of alice" in out.getvalue()
    assert not Prediction.objects.filter(user=alice).exists()
    assert not PredictionHour.objects.filter(user_key=alice.pk).exists()
    # Their share leaves the aggregates too (issue 31): as if only bob had predicted.
    assert stored_figures(PredictionHour.objects.all()).predictions == 2
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("erase_predictions", "--user", "nobody")


# --- sensitive features ------------------------------------------------------------------------

SECRET = 1.2345678  # a petal width nobody else sends


def all_text_in_the_database() -> str:
    with connection.cursor() as cursor:
        parts = []
        for table in ("predictor_prediction", "predictor_predictionhour"):
            cursor.execute(f"SELECT * FROM {table}")
            parts += [repr(row) for row in cursor.fetchall()]
    return "\n".join(parts)


def test_a_sensitive_value_is_never_stored_or_shown_in_clear(
    iris_version, alice, alice_client, staff_client, settings, tmp_path
):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PREDICTION_LOG_KEYS = [old_key]
    response = staff_client.patch(
        "/api/models/iris/versions/1/", {"sensitive": ["petal_width"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["sensitive"] == ["petal_width"]
    assert {f["name"]: f.get("sensitive", False) for f in response.json()["schema"]}[
        "petal_width"
    ] is True
    record = {**rows(1)[0], "petal_width": SECRET}
    body = {"inputs": record}
    pid = alice_client.post("/api/models/iris/predict/", body, format="json").json()[
        "prediction_ids"
    ][0]

    assert str(SECRET) not in all_text_in_the_database()
    assert "1.234" not in all_text_in_the_database()
    assert alice_client.get(f"/api/predictions/{pid}/").json()["inputs"]["petal_width"] == "***"
    mine = alice_client.get(f"/api/predictions/{pid}/?decrypt=true").json()
    assert mine["inputs"]["petal_width"] == "***"  # only staff may decrypt
    assert export(alice_client, "&model=iris")[0]["petal_width"] == "***"
    assert export(staff_client, "&model=iris")[0]["petal_width"] == "***"
    assert float(export(staff_client, "&model=iris&decrypt=true")[0]["petal_width"]) == SECRET
    staff_view = staff_client.get(f"/api/predictions/{pid}/?decrypt=true").json()
    assert staff_view["inputs"]["petal_width"] == SECRET

    # A rotated key list (new key first) still reads rows sealed with the old one.
    settings.PREDICTION_LOG_KEYS = [new_key, old_key]
    assert (
        staff_client.get(f"/api/predictions/{pid}/?decrypt=true").json()["inputs"]["petal_width"]
        == SECRET
    )
    # Drift still sees it: the value was counted on its reference bin before sealing, in the
    # all-users figures only (a per-user key holds no figure of a sensitive feature).
    assert "petal_width" not in PredictionHour.objects.get(user_key=alice.pk).features
    hour = PredictionHour.objects.get(user_key=aggregates.ALL_USERS)
    assert sum(hour.features["petal_width"].values()) == 1
    assert MISSING not in hour.features["petal_width"]

    # Archives hold the row as stored.
    Prediction.objects.update(created_at=timezone.now() - timedelta(days=2))
    call_command(
        "prune_predictions", "--older-than", "1", "--archive", str(tmp_path), stdout=io.StringIO()
    )
    archived = b"".join(gzip.open(f).read() for f in tmp_path.glob("*.gz")).decode()
    assert "***" in archived and str(SECRET) not in archived


def test_without_a_key_a_sensitive_value_is_not_stored(iris_version, staff_client, settings):
    settings.PREDICTION_LOG_KEYS = []
    staff_client.patch(
        "/api/models/iris/versions/1/", {"sensitive": ["petal_width"]}, format="json"
    )
    pid = staff_client.post(
        "/api/models/iris/predict/",
        {"inputs": {**rows(1)[0], "petal_width": SECRET}},
        format="json",
    ).json()["prediction_ids"][0]
    stored = Prediction.objects.get(pk=pid)
    assert stored.inputs["petal_width"] == "***" and stored.sealed == ""
    assert (
        staff_client.get(f"/api/predictions/{pid}/?decrypt=true").json()["inputs"]["petal_width"]
        == "***"
    )


def test_sensitive_is_validated_and_staff_only(
    iris_version, iris_dataset, alice_client, staff_client
):
    url = "/api/models/iris/versions/1/"
    assert alice_client.patch(url, {"sensitive": ["petal_width"]}, format="json").status_code == 403
    response = staff_client.patch(url, {"sensitive": ["salary"]}, format="json")
    assert response.status_code == 400 and "salary" in response.json()["detail"]
    response = staff_client.patch(url, {"algorithm": "knn"}, format="json")
    assert response.status_code == 400 and "immutable" in json.dumps(response.json())
    response = staff_client.post(
        "/api/training-jobs/",
        {"dataset": iris_dataset.pk, "model": "iris2", "algorithm": "knn", "sensitive": ["nope"]},
        format="json",
    )
    assert response.status_code == 400 and "nope" in response.json()["detail"]
    response = staff_client.post(
        "/api/training-jobs/",
        {"dataset": iris_dataset.pk, "model": "iris2", "algorithm": "knn", "cv": 0,
         "sensitive": ["sepal_width"]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 202, response.content
    job = staff_client.get(f"/api/training-jobs/{response.json()['id']}/").json()
    version = staff_client.get(f"/api/models/iris2/versions/{job['version']}/").json()
    assert version["sensitive"] == ["sepal_width"]


def test_history_charts_read_aggregates_for_pruned_days(iris_version, alice, client):
    ids = predict(iris_version, rows(4), user=alice)
    two_days_ago = timezone.now() - timedelta(days=2)
    Prediction.objects.filter(pk__in=ids).update(created_at=two_days_ago)
    call_command("rebuild_aggregates", stdout=io.StringIO())
    PredictionHour.objects.filter(hour__gt=two_days_ago).delete()  # the hour they left
    call_command("prune_predictions", "--older-than", "1", stdout=io.StringIO())
    assert Prediction.objects.count() == 0
    client.force_login(alice)
    charts = client.get("/history/").context["charts"]
    assert charts["total"] == 4
    assert sum(b["value"] for b in charts["models"][0]["bars"]) == 4
    assert math.isclose(charts["per_day"][0]["pct"], 100.0)
