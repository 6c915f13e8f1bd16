"""The OpenAPI document: valid, complete, and the interactive page works offline."""

import json

import pytest
from openapi_spec_validator import validate

from ..conftest import client_for


@pytest.fixture
def schema(db):
    response = client_for().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_schema_documents_every_endpoint_of_the_contract(schema):
    paths = schema["paths"]
    for path in [
        "/api/models/",
        "/api/models/{name}/",
        "/api/models/{name}/predict/",
        "/api/models/{name}/versions/",
        "/api/models/{name}/versions/{version}/",
        "/api/models/{name}/versions/{version}/predict/",
        "/api/models/{name}/versions/{version}/promote/",
        "/api/datasets/",
        "/api/datasets/{id}/",
        "/api/training-jobs/",
        "/api/training-jobs/{id}/",
        "/api/predictions/",
        "/api/predictions/{id}/",
        "/api/predictions/{id}/feedback/",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{name}",
        "/v2/models/{name}/infer",
    ]:
        assert path in paths, path
    predict = paths["/api/models/{name}/predict/"]["post"]
    body = predict["requestBody"]["content"]
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/PredictionRequest"}
    assert "text/csv" in body
    shapes = [
        next(iter(s["required"]))
        for s in schema["components"]["schemas"]["PredictionRequest"]["oneOf"]
    ]
    assert shapes == ["inputs", "data", "instances", "dataframe_split", "dataframe_records"]
    for code in ["200", "400", "401", "404", "409", "413"]:
        assert code in predict["responses"], code
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    training = schema["components"]["schemas"]["TrainingRequestRequest"]["properties"]
    algorithms = schema["components"]["schemas"][training["algorithm"]["$ref"].rsplit("/", 1)[1]]
    assert set(algorithms["enum"]) >= {"random_forest", "mlp", "svm"}


def test_docs_page_is_served_from_our_own_static_files(client, db):
    response = client.get("/api/docs/")
    page = response.content.decode()
    assert response.status_code == 200 and "swagger-ui" in page
    assert "cdn" not in page.lower() and "https://" not in page
    asset = next(part.split('"')[0] for part in page.split('src="')[1:] if "swagger" in part)
    assert client.get(asset).status_code == 200
