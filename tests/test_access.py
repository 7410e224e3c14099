"""Access control, rate limits, CORS and security headers."""

import pytest

from tests.helpers import load_example

TOKEN = "s3cret-token"


@pytest.fixture
def locked(app_factory, sqlite_url):
    """An app that needs tokens for writes."""
    return app_factory(sqlite_url, API_TOKENS=[TOKEN]).test_client()


def auth(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def test_writes_need_a_token(locked):
    missing = locked.put("/api/v1/stock", json=[])
    assert missing.status_code == 401
    assert missing.get_json()["error"]["code"] == "unauthorized"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = locked.post("/api/v1/batches", json={"orders": ["X"]}, headers=auth("nope"))
    assert wrong.status_code == 403
    assert (
        locked.put(
            "/api/v1/products", json=[{"code": "A", "name": "a"}], headers=auth()
        ).status_code
        == 200
    )
    created = locked.post("/api/v1/batches", json={"orders": ["X"]}, headers=auth())
    assert created.status_code == 202
    # reads stay open unless configured
    assert locked.get(created.get_json()["results_url"]).status_code == 200


def test_reads_can_require_a_token(app_factory, sqlite_url):
    client = app_factory(sqlite_url, API_TOKENS=[TOKEN], READS_NEED_TOKEN=True).test_client()
    assert client.get("/api/v1/stats").status_code == 401
    assert client.get("/api/v1/stats", headers=auth()).status_code == 200
    assert client.get("/healthz").status_code == 200  # probes stay open


def test_enqueue_rate_limit_gives_429_with_retry_after(app_factory, sqlite_url):
    client = app_factory(
        sqlite_url, RATELIMIT_ENABLED=True, RATELIMIT_ENQUEUE="2/minute"
    ).test_client()
    load_example(client)
    codes = [client.post("/api/v1/batches", json={"orders": ["O1"]}).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    limited = client.post("/api/v1/batches", json={"orders": ["O1"]})
    assert limited.get_json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0


def test_poll_rate_limit_is_per_client(app_factory, sqlite_url):
    client = app_factory(
        sqlite_url, RATELIMIT_ENABLED=True, RATELIMIT_POLL="3/minute"
    ).test_client()
    load_example(client)
    batch = client.post("/api/v1/batches", json={"orders": ["O1"]}).get_json()
    responses = [client.get(batch["results_url"]) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[0].headers["Retry-After"] == "2"  # the poll hint, not the limit window
    assert 2 < int(responses[3].headers["Retry-After"]) <= 61
    other = client.get(batch["results_url"], environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 200


def test_cors_allow_list(app_factory, sqlite_url):
    client = app_factory(sqlite_url, CORS_ORIGINS=["https://erp.example.com"]).test_client()
    allowed = client.options(
        "/api/v1/batches",
        headers={
            "Origin": "https://erp.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://erp.example.com"
    other = client.get("/api/v1/stats", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers
    exposed = client.get("/api/v1/stats", headers={"Origin": "https://erp.example.com"})
    assert "Retry-After" in exposed.headers["Access-Control-Expose-Headers"]


def test_pages_have_a_csp_and_security_headers(client):
    page = client.get("/")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"


def test_chat_polling_is_limited_separately_from_asking(app_factory, sqlite_url):
    client = app_factory(
        sqlite_url, RATELIMIT_ENABLED=True, RATELIMIT_POLL="2/minute", RATELIMIT_ENQUEUE="5/minute"
    ).test_client()
    session = client.post("/api/v1/chat/sessions", json={}).get_json()
    url = f"/api/v1/chat/sessions/{session['id']}/messages"
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 429]
    assert client.post(url, json={"content": "hello"}).status_code == 201
