"""The chat API: sessions, matching a message to a product, the worker's answer, errors."""

from datetime import date, timedelta

import pytest

import jobs.purchase

API = "/api/v1"
MARKUP = '<img src=x onerror=window.__xss=1> & "Feijão" <b>'


def worked_example(client, code="FEI-01", name="Feijão Carioca 1kg", on_hand=250.0):
    """DESIGN §4: 10/day for 90 days, unscheduled demand 50, no receipts, offers S1 and S2."""
    today = date.today()
    payloads = {
        "products": [
            {"code": code, "name": name, "unit": "un", "aliases": ["7891000100101"]},
            {"code": "FEI-02", "name": "Feijão Preto 1kg", "unit": "un"},
            {"code": "ARZ-1", "name": "Arroz Branco 5kg", "unit": "un"},
        ],
        "stock": [{"product": code, "on_hand": on_hand}],
        "orders": [{"number": "O1", "ship_date": None, "lines": [{"product": code, "qty": 50}]}],
        "sales": [
            {"product": code, "date": (today - timedelta(days=i)).isoformat(), "qty": 10}
            for i in range(1, 91)
        ],
        "supplier-offers": [
            {
                "supplier": "S1",
                "product": code,
                "unit_price": 5.0,
                "lead_time_days": 10,
                "min_qty": 100,
                "multiple": 50,
            },
            {
                "supplier": "S2",
                "product": code,
                "unit_price": 4.5,
                "lead_time_days": 20,
                "min_qty": 0,
                "multiple": 1,
            },
        ],
    }
    for kind, payload in payloads.items():
        response = client.put(f"{API}/{kind}", json=payload)
        assert response.status_code == 200, response.get_json()


def new_session(client, locale=None) -> str:
    response = client.post(f"{API}/chat/sessions", json={"locale": locale} if locale else {})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def ask(client, session_id, content) -> tuple[dict, dict]:
    response = client.post(f"{API}/chat/sessions/{session_id}/messages", json={"content": content})
    assert response.status_code == 201, response.get_json()
    user, ai = response.get_json()["messages"]
    return user, ai


def messages(client, session_id, after=None) -> dict:
    query = "" if after is None else f"?after={after}"
    response = client.get(f"{API}/chat/sessions/{session_id}/messages{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def queue_count(app) -> int:
    return app.extensions["ruptura.runtime"].queue.count


# --- the worked example, end to end -----------------------------------------------------


def test_buy_answer_arrives_after_the_job(client, app, run_jobs):
    worked_example(client)
    sid = new_session(client)
    user, ai = ask(client, sid, "Should I buy more feijao cariocca?")
    assert user["sender"] == "user"
    assert user["content"] == "Should I buy more feijao cariocca?"
    assert user["metadata"] is None
    assert ai["sender"] == "ai"
    assert ai["id"] > user["id"]
    assert ai["metadata"]["type"] == "analysis_started"
    assert ai["metadata"]["async"] is True
    assert ai["metadata"]["product"] == "FEI-01"
    assert "Analysing FEI-01" in ai["content"]
    assert queue_count(app) == 1

    page = messages(client, sid)
    assert page["pending"] is True
    assert [m["id"] for m in page["messages"]] == [user["id"], ai["id"]]

    run_jobs()
    page = messages(client, sid, after=ai["id"])
    assert page["pending"] is False
    [answer] = page["messages"]
    assert answer["sender"] == "ai"
    meta = answer["metadata"]
    assert meta["type"] == "analysis_result"
    assert meta["product"] == "FEI-01"
    assert meta["analysis_id"] == ai["metadata"]["analysis_id"]
    analysis = meta["analysis"]
    assert analysis["decision"] == "buy"
    assert analysis["suggested_qty"] == 140
    assert analysis["supplier"]["supplier"] == "S2"
    assert analysis["risk"] == "medium"
    assert analysis["as_of"] == date.today().isoformat()
    assert "Recommendation: buy 140 un from S2." in answer["content"]
    assert "\n" in answer["content"]  # multi-line: the page renders it with pre-wrap


def test_portuguese_session_gets_portuguese_text(client, run_jobs):
    worked_example(client)
    sid = new_session(client, "pt-BR")
    response = client.post(f"{API}/chat/sessions", json={"locale": "pt-BR"})
    assert response.get_json()["locale"] == "pt-BR"
    _, ai = ask(client, sid, "Devo comprar mais 7891000100101?")  # by alias
    assert ai["metadata"]["product"] == "FEI-01"
    assert ai["content"].startswith("Analisando FEI-01")
    run_jobs()
    answer = messages(client, sid, after=ai["id"])["messages"][-1]
    assert answer["metadata"]["type"] == "analysis_result"
    assert "Recomendação: comprar 140 un de S2." in answer["content"]
    assert "Risco: médio." in answer["content"]


# --- matching through the API -----------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    ["FEI-01", "fei-01?", "7891000100101", "feijão carioca", "FEIJAO CARIOCCA", "feijao cariocca"],
)
def test_single_match_starts_an_analysis(client, app, content):
    worked_example(client)
    sid = new_session(client)
    _, ai = ask(client, sid, content)
    assert ai["metadata"]["type"] == "analysis_started"
    assert ai["metadata"]["product"] == "FEI-01"
    assert queue_count(app) == 1
    assert messages(client, sid)["pending"] is True


def test_ambiguous_asks_which_product_and_enqueues_nothing(client, app, run_jobs):
    worked_example(client)
    sid = new_session(client)
    _, ai = ask(client, sid, "feijao")
    assert ai["metadata"]["type"] == "clarification"
    assert ai["metadata"]["candidates"] == [
        {"code": "FEI-01", "name": "Feijão Carioca 1kg"},
        {"code": "FEI-02", "name": "Feijão Preto 1kg"},
    ]
    assert "FEI-01 – Feijão Carioca 1kg" in ai["content"]
    assert "FEI-02 – Feijão Preto 1kg" in ai["content"]
    assert queue_count(app) == 0
    assert messages(client, sid)["pending"] is False

    # the answer to the question: its number, or a word that singles one out
    _, ai = ask(client, sid, "1")
    assert ai["metadata"]["type"] == "analysis_started"
    assert ai["metadata"]["product"] == "FEI-01"
    run_jobs()
    _, ai = ask(client, sid, "feijao")
    _, ai = ask(client, sid, "the preto one")
    assert ai["metadata"]["product"] == "FEI-02"


def test_unknown_product_says_how_to_ask(client, app):
    worked_example(client)
    sid = new_session(client)
    _, ai = ask(client, sid, "what about the chainsaw?")
    assert ai["metadata"] == {"type": "no_match"}
    assert "could not find a product" in ai["content"]
    assert "code" in ai["content"]
    assert queue_count(app) == 0
    assert messages(client, sid)["pending"] is False

    sid = new_session(client, "pt-BR")
    _, ai = ask(client, sid, "motosserra")
    assert ai["metadata"] == {"type": "no_match"}
    assert "Não encontrei" in ai["content"]


def test_no_products_loaded(client, app):
    sid = new_session(client)
    _, ai = ask(client, sid, "feijao")
    assert ai["metadata"]["type"] == "no_match"
    assert "no products loaded" in ai["content"]
    assert queue_count(app) == 0


# --- paging and pending -----------------------------------------------------------------


def test_after_pages_forward(client, run_jobs):
    worked_example(client)
    sid = new_session(client)
    first = ask(client, sid, "zzz")
    second = ask(client, sid, "FEI-01")
    ids = [m["id"] for m in (*first, *second)]
    assert ids == sorted(ids)
    assert [m["id"] for m in messages(client, sid)["messages"]] == ids
    assert [m["id"] for m in messages(client, sid, after=0)["messages"]] == ids
    assert [m["id"] for m in messages(client, sid, after=ids[1])["messages"]] == ids[2:]
    assert messages(client, sid, after=ids[-1]) == {"messages": [], "pending": True}
    run_jobs()
    page = messages(client, sid, after=ids[-1])
    assert page["pending"] is False
    assert [m["metadata"]["type"] for m in page["messages"]] == ["analysis_result"]
    assert messages(client, sid, after=page["messages"][0]["id"]) == {
        "messages": [],
        "pending": False,
    }
    # sessions do not see each other's messages
    other = new_session(client)
    assert messages(client, other) == {"messages": [], "pending": False}


def test_message_fields(client):
    worked_example(client)
    sid = new_session(client)
    ask(client, sid, "FEI-01")
    for message in messages(client, sid)["messages"]:
        assert set(message) == {"id", "sender", "content", "metadata", "created_at"}
        assert message["created_at"].endswith("+00:00")


# --- errors -----------------------------------------------------------------------------


def assert_error(response, status, code):
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


def test_unknown_session_is_404(client):
    assert_error(client.get(f"{API}/chat/sessions/nope/messages"), 404, "not_found")
    response = client.post(f"{API}/chat/sessions/nope/messages", json={"content": "FEI-01"})
    assert_error(response, 404, "not_found")


def test_invalid_bodies_are_422(client):
    sid = new_session(client)
    url = f"{API}/chat/sessions/{sid}/messages"
    err = assert_error(client.post(url, json={}), 422, "validation_error")
    assert "content" in err["details"]
    err = assert_error(client.post(url, json={"content": "   "}), 422, "validation_error")
    assert "content" in err["details"]
    assert_error(client.post(url, json={"content": "x" * 2001}), 422, "validation_error")
    assert_error(client.post(url, json={"content": 5}), 422, "validation_error")
    assert_error(client.post(url, json=["FEI-01"]), 422, "validation_error")
    assert_error(client.post(url, data="{", content_type="application/json"), 400, "bad_json")
    err = assert_error(
        client.post(f"{API}/chat/sessions", json={"locale": "fr"}), 422, "validation_error"
    )
    assert "locale" in err["details"]
    assert_error(client.get(f"{url}?after=x"), 422, "validation_error")
    assert_error(client.get(f"{url}?after=-1"), 422, "validation_error")
    assert messages(client, sid)["messages"] == []  # nothing was stored


def test_session_without_body_defaults_to_english(client):
    response = client.post(f"{API}/chat/sessions")
    assert response.status_code == 201
    body = response.get_json()
    assert body["locale"] == "en"
    assert set(body) == {"id", "locale", "created_at"}
    assert response.headers["Location"].endswith(f"/chat/sessions/{body['id']}/messages")


# --- a job that fails -------------------------------------------------------------------


def test_failing_job_ends_with_analysis_failed(client, app, run_jobs, monkeypatch):
    calls = []

    def boom(inp):
        calls.append(inp.code)
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(jobs.purchase, "analyze_purchase", boom)
    worked_example(client)
    sid = new_session(client)
    _, ai = ask(client, sid, "FEI-01")
    run_jobs()
    assert calls == ["FEI-01"] * (1 + app.config["JOB_RETRIES"])
    page = messages(client, sid, after=ai["id"])
    assert page["pending"] is False
    [failed] = page["messages"]
    assert failed["metadata"]["type"] == "analysis_failed"
    assert failed["metadata"]["product"] == "FEI-01"
    assert failed["metadata"]["analysis_id"] == ai["metadata"]["analysis_id"]
    assert "engine exploded" in failed["metadata"]["error"]
    assert "could not finish the analysis of FEI-01" in failed["content"]


# --- markup is data ---------------------------------------------------------------------


def test_markup_in_names_and_messages_is_stored_verbatim(client, run_jobs):
    worked_example(client, code="X<1>", name=MARKUP)
    sid = new_session(client)
    user, ai = ask(client, sid, "X<1> " + MARKUP)
    assert user["content"] == "X<1> " + MARKUP
    assert ai["metadata"]["product"] == "X<1>"
    assert ai["metadata"]["name"] == MARKUP
    assert MARKUP in ai["content"]
    run_jobs()
    answer = messages(client, sid)["messages"][-1]
    assert answer["metadata"]["analysis"]["product"]["name"] == MARKUP
    assert MARKUP in answer["content"]


def test_sweeper_giving_up_tells_the_chat_once(client, app):
    """A purchase job lost for good: the sweeper fails its row and the chat hears it, once."""
    from sqlalchemy import update

    from jobs import tasks
    from jobs.db import utcnow
    from jobs.models import Analysis

    worked_example(client)
    sid = new_session(client)
    _, ai = ask(client, sid, "FEI-01")
    rt = app.extensions["ruptura.runtime"]
    rt.queue.empty()  # Redis lost the job
    with rt.session_factory.begin() as session:
        session.execute(
            update(Analysis).values(attempts=app.config["MAX_ATTEMPTS"], deadline=utcnow())
        )
    assert tasks.sweep(rt)["failed"] == 1
    tasks.sweep(rt)
    # the lost job turns up and fails after all: no second message
    with rt.session_factory.begin() as session:
        tasks.chat_failures(session, [ai["metadata"]["analysis_id"]], "late failure")
    page = messages(client, sid, after=ai["id"])
    assert page["pending"] is False
    assert [m["metadata"]["type"] for m in page["messages"]] == ["analysis_failed"]
    assert "could not finish the analysis of FEI-01" in page["messages"][0]["content"]
