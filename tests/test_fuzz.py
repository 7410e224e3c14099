"""Fuzz the API against its own Swagger document, in process, on SQLite with the worked example.

Every operation of `/api/v1/swagger.json` gets schemathesis-generated requests (valid and
invalid). Each answer must not be a 5xx, must carry a documented status code and content
type, and its body must match the documented schema. A second test replays documented
operations with real identifiers (a finished batch, a pending one, an analysed order, a chat
session) so the 200 answers, with their nulls, are checked against the schemas too.
"""

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import create_app
from tests.conftest import drain, make_settings
from tests.helpers import load_example

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
AS_OF = "2026-03-02"
ORDERS = ["O1", "O2", "O3", "O4", "O5", "NOPE"]


@pytest.fixture
def fuzz_app(app_factory, sqlite_url):
    """The app from the factory on SQLite, the worked example loaded and one batch analysed."""
    app = app_factory(sqlite_url)
    client = app.test_client()
    load_example(client)
    done = client.post("/api/v1/batches", json={"orders": ORDERS, "as_of": AS_OF}).get_json()
    drain(app)
    pending = client.post("/api/v1/batches", json={"orders": ["O1"], "as_of": "2026-03-03"})
    chat = client.post("/api/v1/chat/sessions", json={"locale": "pt-BR"}).get_json()
    client.post(f"/api/v1/chat/sessions/{chat['id']}/messages", json={"content": "Comprar A?"})
    drain(app)
    app.config["FUZZ_IDS"] = {
        "done": done["id"],
        "pending": pending.get_json()["id"],
        "chat": chat["id"],
    }
    return app


def swagger_document() -> dict:
    """Return the app's own Swagger 2.0 document, as a throwaway app from the factory serves it.

    The schema is loaded eagerly (schemathesis' fixture-based lazy loader does not run on
    pytest 9); the requests themselves go to the per-test `fuzz_app` in process.
    """
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(make_settings(f"sqlite:///{Path(tmp) / 'doc.db'}"))
        response = app.test_client().get("/api/v1/swagger.json")
        assert response.status_code == 200
        app.extensions["ruptura.runtime"].engine.dispose()
        return response.get_json()


schema = schemathesis.openapi.from_dict(swagger_document())


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_every_operation_answers_as_documented(case, fuzz_app):
    case.call_and_validate(app=fuzz_app, checks=CHECKS)


def test_real_identifiers_answer_as_documented(fuzz_app):
    def call(path, method, checks=CHECKS, **parts):
        """Call one documented operation with explicit parts; validate and return the answer."""
        case = schema[path][method].Case(**parts)
        return case.call_and_validate(app=fuzz_app, checks=checks)

    ids = fuzz_app.config["FUZZ_IDS"]
    results = "/batches/{batch_id}/results"
    for key in ("done", "pending"):
        batch = {"batch_id": ids[key]}
        call("/batches/{batch_id}", "GET", path_parameters=batch)
        cursor, etag = None, None
        for _ in range(10):  # follow the pages (2 results each) like a poller
            query = {"limit": 2, **({"since": cursor} if cursor else {})}
            page = call(results, "GET", path_parameters=batch, query=query)
            body = page.json()
            cursor = body["cursor"]
            etag = {k.lower(): v for k, v in page.headers.items()}["etag"]
            etag = etag[0] if isinstance(etag, list) else etag
            if body["pending"] == 0 or not body["results"]:
                break
        replay = call(  # nothing new since the cursor: 304, no body, hence no Content-Type
            results,
            "GET",
            checks=[not_a_server_error, status_code_conformance],
            path_parameters=batch,
            query={"limit": 2, "since": cursor},
            headers={"If-None-Match": etag},
        )
        assert replay.status_code == 304
    for number in [*ORDERS, "NEVER-ASKED"]:
        for query in ({}, {"fresh": "true", "as_of": AS_OF}):
            answer = call(
                "/orders/{number}/analysis", "GET", path_parameters={"number": number}, query=query
            )
            assert answer.status_code == (404 if number == "NEVER-ASKED" and not query else 200)
    messages = call(
        "/chat/sessions/{session_id}/messages", "GET", path_parameters={"session_id": ids["chat"]}
    ).json()["messages"]
    assert messages[-1]["metadata"]["type"] in ("analysis_result", "analysis_failed")
    call("/stats", "GET")
