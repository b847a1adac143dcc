"""GET /openapi.json's document is a valid OpenAPI 3.1 description of the API's paths."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from clv_stream.web.openapi import ENDPOINTS, document
from clv_stream.web.routes import OPEN_PATHS


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    assert doc["openapi"] == "3.1.0"


def test_every_path_documents_its_parameters_and_access() -> None:
    paths = document()["paths"]
    assert len(paths) == len(ENDPOINTS)
    for path, item in paths.items():
        operation = item["get"]
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path))
        is_open = operation.get("security") == []
        assert is_open == (path in OPEN_PATHS), path
        assert ("401" not in operation["responses"]) == is_open, path


def test_a_customer_s_value_is_the_contract_s_customer_value() -> None:
    schemas = document()["components"]["schemas"]
    assert schemas["CustomerView"]["properties"]["value"] == {"$ref": "#/components/schemas/CustomerValue"}
    assert {"rfm_scores", "subscription", "total_clv"} <= set(schemas["CustomerValue"]["properties"])
