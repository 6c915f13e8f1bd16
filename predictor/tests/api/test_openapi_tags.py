"""The API docs: operations grouped by section, the model's path parameter always `{name}`."""

import json

from ..conftest import client_for

SECTIONS = {
    "models", "versions", "predictions", "datasets", "training", "monitoring", "rollout",
    "api-keys", "auth", "v2",
}  # fmt: skip


def test_operations_are_grouped_by_section_and_name_the_model_alike(db):
    response = client_for().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = json.loads(response.content)
    tags = {}
    for path, operations in schema["paths"].items():
        assert "{model_name}" not in path, path
        for method, operation in operations.items():
            (tag,) = operation["tags"]
            tags.setdefault(tag, []).append(f"{method} {path}")
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert "{" + parameter["name"] + "}" in path, (path, parameter["name"])
    assert set(tags) == SECTIONS and "api" not in tags
    assert max(len(ops) for ops in tags.values()) < 12
    assert "post /api/models/{name}/versions/{version}/promote/" in tags["rollout"]
    assert "post /api/models/{name}/predict/" in tags["predictions"]
    assert "get /api/models/{name}/versions/" in tags["versions"]
    assert "post /api/auth/token/" in tags["auth"]
    assert [t["name"] for t in schema["tags"]][:2] == ["auth", "api-keys"]


def test_the_renamed_parameter_changes_no_url(iris_version):
    client = client_for()
    assert client.get("/api/models/iris/versions/").status_code == 200
    assert client.get("/api/models/iris/versions/1/").status_code == 200
