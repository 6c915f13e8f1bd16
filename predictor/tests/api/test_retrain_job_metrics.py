"""A retrain job's API answer carries both figures on the same holdout: `baseline_metrics`
(production's) and `metrics` (the new version's)."""

from ..conftest import client_for


def test_a_retrain_jobs_answer_has_metrics_and_baseline_metrics(iris_version, staff, alice):
    client = client_for(staff)
    answer = client.post("/api/models/iris/retrain/", {}, format="json")
    assert answer.status_code == 202
    job = client.get(f"/api/training-jobs/{answer.json()['id']}/").json()
    assert job["status"] == "succeeded", job["error"]
    assert 0 <= job["metrics"]["accuracy"] <= 1 and 0 <= job["baseline_metrics"]["accuracy"] <= 1
    assert job["metrics"]["n_test"] == job["baseline_metrics"]["n_test"]
    assert job["version"] == 2
    # Not for a normal user.
    assert client_for(alice).get(f"/api/training-jobs/{job['id']}/").status_code in (403, 404)
