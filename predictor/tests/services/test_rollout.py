"""Rollout: traffic policies, sticky routing, shadow versions, and the comparison report."""

import json
from collections import Counter

import pytest
from scipy import stats

from predictor.models import Prediction, Stage, TrafficChange
from predictor.services import registry
from predictor.services.monitoring import compare
from predictor.services.serving import traffic
from predictor.tests.conftest import train

URL = "/api/models/iris/predict/"
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.fixture
def three(iris_dataset):
    """iris v1 (production, logistic regression), v2 (knn), v3 (decision tree)."""
    v1 = train(iris_dataset)
    v2 = train(iris_dataset, algorithm="knn")
    v3 = train(iris_dataset, algorithm="decision_tree")
    v1.model.public = True
    v1.model.save()
    return v1, v2, v3


def put(client, body):
    return client.put(
        "/api/models/iris/traffic/", json.dumps(body), content_type="application/json"
    )


def predict(client, key=None, query=""):
    extra = {"HTTP_X_ROUTING_KEY": key} if key else {}
    response = client.post(
        URL + query, json.dumps({"inputs": ROW}), content_type="application/json", **extra
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize(
    "body, field, words",
    [
        (
            {"routes": [{"version": 1, "weight": 60}, {"version": 2, "weight": 30}]},
            "routes",
            "sum to 90",
        ),
        (
            {"routes": [{"version": 1, "weight": 50}, {"version": 9, "weight": 50}]},
            "routes",
            "no version 9",
        ),
        (
            {"routes": [{"version": 1, "weight": 100}], "shadows": [1]},
            "shadows",
            "both routed and a shadow",
        ),
        ({"routes": [{"version": 1, "weight": 100}], "shadows": [7]}, "shadows", "no version 7"),
        (
            {"routes": [{"version": 1, "weight": 50}, {"version": 1, "weight": 50}]},
            "routes",
            "listed twice",
        ),
        (
            {"routes": [{"version": 1, "weight": 0}, {"version": 2, "weight": 100}]},
            "routes",
            "weight",
        ),
        ({"routes": [{"version": 1}]}, "routes", "weight"),
        ({"routes": "all of it"}, "routes", ""),
    ],
)
def test_bad_policies_are_400_naming_what_is_wrong(three, staff_client, body, field, words):
    response = put(staff_client, {**body, "reason": "test"})
    assert response.status_code == 400, response.content
    text = json.dumps(response.json())
    assert field in text and words in text
    assert not TrafficChange.objects.exists()


def test_archived_versions_cannot_take_traffic_and_roles(
    three, staff_client, alice_client, anon_client
):
    v1, v2, v3 = three
    registry.version_promote(version=v3, stage=Stage.ARCHIVED, reason="old")
    response = put(staff_client, {"routes": [], "shadows": [3], "reason": "try"})
    assert response.status_code == 400 and "archived" in response.json()["detail"]
    assert put(staff_client, {"routes": [], "shadows": [2]}).status_code == 400  # no reason
    body = {"routes": [], "shadows": [2], "reason": "shadow knn"}
    assert put(anon_client, body).status_code == 401
    assert put(alice_client, body).status_code == 403
    assert alice_client.get("/api/models/iris/traffic/").status_code == 403


def test_a_policy_is_recorded_and_shown(three, staff_client, staff):
    assert staff_client.get("/api/models/iris/traffic/").json()["routes"] == []
    body = {
        "routes": [{"version": 1, "weight": 90}, {"version": 2, "weight": 10}],
        "shadows": [3],
        "reason": "canary knn",
    }
    answer = put(staff_client, body).json()
    assert answer["routes"] == body["routes"] and answer["shadows"] == [3]
    assert answer["updated_by"] == "staff" and answer["updated_at"]
    change = TrafficChange.objects.get()
    assert change.old == {"routes": [], "shadows": []}
    assert change.new == {"routes": body["routes"], "shadows": [3]}
    assert change.reason == "canary knn" and change.created_by == staff
    assert staff_client.get("/api/models/iris/traffic/").json()["routes"] == body["routes"]


def test_a_50_50_split_is_sticky_and_version_bypasses(three, staff_client, alice_client):
    put(
        staff_client,
        {"routes": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}], "reason": "ab"},
    )
    answered = {
        f"customer-{i}": predict(alice_client, f"customer-{i}")["version"] for i in range(200)
    }
    counts = Counter(answered.values())
    assert set(counts) == {1, 2} and all(60 <= n <= 140 for n in counts.values()), counts
    for key in list(answered)[:20]:
        assert predict(alice_client, key)["version"] == answered[key]
    assert {predict(alice_client, f"customer-{i}", "?version=1")["version"] for i in range(20)} == {
        1
    }
    # The user is the key when no header is sent: alice always gets the same version.
    assert len({predict(alice_client)["version"] for _ in range(10)}) == 1


def test_shadow_rows_are_logged_linked_and_never_shown(three, staff_client, alice_client):
    put(staff_client, {"routes": [], "shadows": [2, 3], "reason": "shadow both"})
    answer = predict(alice_client)
    assert answer["version"] == 1 and len(answer["prediction_ids"]) == 1
    served = answer["prediction_ids"][0]
    shadows = Prediction.objects.filter(source="shadow").order_by("version__version")
    assert [(p.version.version, p.shadow_of) for p in shadows] == [(2, served), (3, served)]
    assert [p["id"] for p in alice_client.get("/api/predictions/").json()["results"]] == [served]
    for p in shadows:
        assert alice_client.get(f"/api/predictions/{p.pk}/").status_code == 404
    staff_ids = {
        p["id"] for p in staff_client.get("/api/predictions/?source=shadow").json()["results"]
    }
    assert staff_ids == {p.pk for p in shadows}


def test_a_broken_shadow_leaves_the_response_untouched(three, staff_client, alice_client, settings):
    v1, v2, v3 = three
    put(staff_client, {"routes": [], "shadows": [2], "reason": "shadow"})
    before = predict(alice_client)
    (settings.ARTIFACT_ROOT / v2.artifact).write_bytes(b"tampered")
    from predictor.services.registry import artifacts

    artifacts.cache_clear()  # as a new process would: the shadow's artifact must load again
    after = predict(alice_client)
    assert after["version"] == 1 and after["predictions"] == before["predictions"]
    assert Prediction.objects.filter(source="shadow").count() == 1  # only the first one


def test_archiving_a_routed_version_rescales_and_is_recorded(three, staff_client):
    v1, v2, v3 = three
    body = {
        "routes": [
            {"version": 1, "weight": 50},
            {"version": 2, "weight": 25},
            {"version": 3, "weight": 25},
        ],
        "shadows": [],
        "reason": "three-way",
    }
    put(staff_client, body)
    registry.version_promote(version=v2, stage=Stage.ARCHIVED, reason="retire knn")
    policy = staff_client.get("/api/models/iris/traffic/").json()
    assert policy["routes"] == [{"version": 1, "weight": 67}, {"version": 3, "weight": 33}]
    change = TrafficChange.objects.first()
    assert "version 2 was archived" in change.reason and change.old["routes"] == body["routes"]
    # Promoting v3 to production archives v1, which leaves v3 with everything.
    registry.version_promote(version=v3, stage=Stage.PRODUCTION, reason="tree wins")
    assert staff_client.get("/api/models/iris/traffic/").json()["routes"] == [
        {"version": 3, "weight": 100}
    ]


def test_rescaling_keeps_whole_weights_summing_to_100():
    assert traffic.rescaled(routes=((1, 34), (2, 33), (3, 33)), removed=1) == ((2, 50), (3, 50))
    assert traffic.rescaled(routes=((1, 10), (2, 45), (3, 45)), removed=3) == ((1, 18), (2, 82))
    assert (
        sum(w for _, w in traffic.rescaled(routes=((1, 1), (2, 1), (3, 1), (4, 97)), removed=4))
        == 100
    )
    assert traffic.rescaled(routes=((1, 100),), removed=1) == ()


# --- the comparison report ---------------------------------------------------------------------


def label(ids, truth):
    for pk, actual in zip(ids, truth):
        Prediction.objects.filter(pk=pk).update(actual=actual)


def test_the_report_matches_a_computation_by_hand(three, staff_client, alice_client):
    v1, v2, v3 = three
    put(staff_client, {"routes": [], "shadows": [2], "reason": "paired"})
    served = [predict(alice_client)["prediction_ids"][0] for _ in range(40)]
    out1 = Prediction.objects.get(pk=served[0]).output  # every row has the same inputs
    out2 = Prediction.objects.filter(source="shadow").first().output
    wrong = next(c for c in v1.classes if c not in (out1, out2))
    # The truth: 30 rows say out1; 10 say something neither predicts.
    truth = [out1] * 30 + [wrong] * 10
    label(served, truth)
    report = staff_client.get("/api/models/iris/compare/?versions=1,2").json()
    first, second = report["versions"]
    assert (first["version"], first["labelled"], first["predictions"]) == (1, 40, 40)
    assert first["accuracy"] == pytest.approx(30 / 40)
    ci = stats.binomtest(30, 40).proportion_ci(method="wilson")
    assert first["interval"] == pytest.approx([ci.low, ci.high])
    right2 = sum(1 for t in truth if t == out2)
    assert second["labelled"] == 40 and second["accuracy"] == pytest.approx(right2 / 40)
    pair = report["pairs"][0]
    assert pair["versions"] == [1, 2] and pair["rows_compared"] == 40
    assert pair["agreement"] == (1.0 if out1 == out2 else 0.0)
    only_1 = sum(1 for t in truth if t == out1 and t != out2)
    only_2 = sum(1 for t in truth if t == out2 and t != out1)
    expected = (
        1.0
        if only_1 + only_2 == 0
        else stats.binomtest(min(only_1, only_2), only_1 + only_2).pvalue
    )
    assert pair["p_value"] == pytest.approx(expected)
    text = compare.sentence(result=report, task="classification")
    assert "v1 is right 75% of the time on 40 labelled rows" in text


def test_report_on_independent_traffic_uses_two_proportions(three, staff_client, alice_client):
    v1, v2, v3 = three
    registry.version_promote(version=v3, stage=Stage.STAGING, reason="candidate")
    ids1 = [predict(alice_client, query="?version=1")["prediction_ids"][0] for _ in range(20)]
    ids3 = [predict(alice_client, query="?version=3")["prediction_ids"][0] for _ in range(20)]
    out = Prediction.objects.get(pk=ids1[0]).output
    other = next(c for c in v1.classes if c != out)
    label(ids1, [out] * 18 + [other] * 2)
    out3 = Prediction.objects.get(pk=ids3[0]).output
    label(ids3, [out3] * 10 + [next(c for c in v1.classes if c != out3)] * 10)
    report = staff_client.get("/api/models/iris/compare/?versions=1,3").json()
    table = [[18, 2], [10, 10]]
    assert report["pairs"][0]["rows_compared"] == 0
    assert report["pairs"][0]["p_value"] == pytest.approx(
        stats.chi2_contingency(table, correction=False).pvalue
    )
    for bad in ("", "?versions=1", "?versions=1,1", "?versions=1,x"):
        assert staff_client.get("/api/models/iris/compare/" + bad).status_code == 400, bad
    assert staff_client.get("/api/models/iris/compare/?versions=1,9").status_code == 404
    assert alice_client.get("/api/models/iris/compare/?versions=1,3").status_code == 403


# --- the pages ----------------------------------------------------------------------------------


def test_traffic_and_compare_pages(three, client, staff, alice):
    v1, v2, v3 = three
    client.force_login(alice)
    assert client.get("/models/iris/traffic/").status_code == 403
    assert client.get("/models/iris/compare/").status_code == 403
    client.force_login(staff)
    page = client.get("/models/iris/")
    assert (
        'id="traffic-link"' in page.content.decode() and "production only" in page.content.decode()
    )
    bad = client.post(
        "/models/iris/traffic/", {"routes": "1:50, 2:40", "shadows": "", "reason": "x"}
    )
    assert bad.status_code == 400 and "sum to 90" in bad.content.decode()
    bad = client.post("/models/iris/traffic/", {"routes": "1-50", "shadows": "", "reason": "x"})
    assert bad.status_code == 400 and "version:weight" in bad.content.decode()
    ok = client.post(
        "/models/iris/traffic/", {"routes": "1:80, 2:20", "shadows": "3", "reason": "canary"}
    )
    assert ok.status_code == 302
    page = client.get("/models/iris/traffic/").content.decode()
    assert "v1 takes 80%, v2 takes 20%" in page and "canary" in page
    assert "v1 80%, v2 20%; shadows v3" in client.get("/models/iris/").content.decode()
    # The form names no version: the policy picks one, and the shadow predicts too.
    client.post("/models/iris/", ROW)
    assert Prediction.objects.filter(source="shadow", version=v3).count() == 1

    page = client.get("/models/iris/compare/?versions=1,2")
    assert page.status_code == 200 and 'id="compare-sentence"' in page.content.decode()
    assert "Not enough feedback yet" in page.content.decode()
    assert client.get("/models/iris/compare/?versions=1").status_code == 400
    promoted = client.post(
        "/models/iris/compare/?versions=1,2", {"promote": "2", "reason": "knn is better"}
    )
    assert promoted.status_code == 302
    v2.refresh_from_db()
    assert v2.stage == Stage.PRODUCTION
    assert client.post("/models/iris/compare/?versions=1,2", {"promote": "1"}).status_code == 400
