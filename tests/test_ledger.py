"""The ledger's guarantees: lost jobs are re-dispatched, exhausted rows fail, no double work."""

from datetime import timedelta

import pytest
import responses
from sqlalchemy import select, update

from jobs import ledger, tasks
from jobs.constants import SIGNATURE_HEADER
from jobs.db import utcnow
from jobs.models import Analysis, Batch
from tests.helpers import load_example

AS_OF = "2026-03-02"
ORDERS = ["O1", "O2", "O3", "O4", "O5"]


@pytest.fixture
def rt(app):
    """The app's runtime."""
    return app.extensions["ruptura.runtime"]


def rows(rt) -> list[Analysis]:
    """All ledger rows."""
    with rt.session_factory() as s:
        return list(s.scalars(select(Analysis).order_by(Analysis.id)))


def expire_deadlines(rt) -> None:
    """Make every open row overdue."""
    with rt.session_factory.begin() as s:
        s.execute(update(Analysis).values(deadline=utcnow() - timedelta(seconds=1)))


def start(client, orders=ORDERS, **extra):
    """Load the worked example and post a batch."""
    load_example(client)
    return client.post(
        "/api/v1/batches", json={"orders": orders, "as_of": AS_OF, **extra}
    ).get_json()


def test_rows_exist_before_jobs(client, rt):
    start(client)
    assert [r.status for r in rows(rt)] == ["queued"] * 5
    assert {r.attempts for r in rows(rt)} == {1}
    assert rt.queue.count == 1  # one chunk of 5 (chunk size 20)


def test_flushed_queue_is_redispatched_by_the_sweeper(client, rt, run_jobs):
    batch = start(client)
    rt.redis.flushall()  # Redis lost everything
    assert tasks.sweep(rt)["redispatched"] == 0  # not overdue yet
    expire_deadlines(rt)
    result = tasks.sweep(rt)
    assert result["redispatched"] == 1
    assert {r.attempts for r in rows(rt)} == {2}
    run_jobs()
    assert {r.status for r in rows(rt)} == {"done"}
    assert client.get(batch["status_url"]).get_json()["state"] == "done"


def test_waiting_jobs_are_extended_not_redispatched(client, rt):
    start(client)
    expire_deadlines(rt)
    result = tasks.sweep(rt)
    assert (result["extended"], result["redispatched"]) == (5, 0)
    assert rt.queue.count == 1 and {r.attempts for r in rows(rt)} == {1}


def test_a_killed_job_is_redispatched_and_the_zombie_writes_nothing(client, rt, run_jobs):
    start(client)
    old = rows(rt)[0].job_id
    ids = [r.id for r in rows(rt)]
    with rt.session_factory.begin() as s:  # a worker claimed the rows, then was SIGKILLed:
        assert len(ledger.claim(s, ids, old, 60)) == 5
    rt.redis.delete(rt.queue.key)  # the job left the queue...
    rt.redis.hset(f"rq:job:{old}", "status", "started")  # ...and stays "started" in Redis
    expire_deadlines(rt)
    assert tasks.sweep(rt)["redispatched"] == 1
    new = rows(rt)[0].job_id
    assert new != old
    # the zombie (old token) can neither claim nor finish
    with rt.session_factory.begin() as s:
        assert ledger.claim(s, ids, old, 60) == []
        assert ledger.finish(s, old, {ids[0]: ledger.failed_outcome("zombie")}) == 0
    run_jobs()
    assert {r.status for r in rows(rt)} == {"done"}


def test_exhausted_rows_fail_with_a_message(client, rt):
    batch = start(client)
    for _ in range(3):  # MAX_ATTEMPTS=3: two redispatches, then give up
        rt.redis.flushall()
        expire_deadlines(rt)
        tasks.sweep(rt)
    assert {r.status for r in rows(rt)} == {"failed"}
    assert "gave up after 3 attempts" in rows(rt)[0].error
    results = client.get(batch["results_url"]).get_json()
    assert results["pending"] == 0 and {r["status"] for r in results["results"]} == {"failed"}


def test_two_sweepers_never_double_dispatch(client, rt):
    start(client)
    rt.redis.flushall()
    expire_deadlines(rt)
    now = utcnow()
    ids = [r.id for r in rows(rt)]
    with rt.session_factory.begin() as s1:
        _, claimed1 = ledger.redispatch(s1, ids, now, 3, 30)
    with rt.session_factory.begin() as s2:
        _, claimed2 = ledger.redispatch(s2, ids, now, 3, 30)
    assert len(claimed1) == 5 and claimed2 == []


def test_enqueue_failure_hands_rows_back_without_spending_attempts(client, rt, monkeypatch):
    import redis

    def down(*args, **kwargs):
        raise redis.ConnectionError("redis is down")

    monkeypatch.setattr(rt.queue, "enqueue_call", down)
    response = client.post("/api/v1/batches", json={"orders": ["O1"], "as_of": AS_OF})
    assert response.status_code == 202  # the request is in the ledger; nothing is lost
    (row,) = rows(rt)
    assert row.attempts == 0 and row.deadline <= utcnow()


@responses.activate
def test_webhook_is_signed_and_retried_with_backoff(client, rt, run_jobs):
    url = "http://hooks.example.test/ruptura"
    responses.add(responses.POST, url, status=500)
    responses.add(responses.POST, url, status=200)
    batch = start(client, callback_url=url)
    run_jobs()  # analysis, then the first delivery fails
    assert len(responses.calls) == 1
    with rt.session_factory() as s:
        b = s.get(Batch, batch["id"])
        assert (b.webhook_state, b.webhook_attempts) == ("pending", 1)
        assert b.webhook_next_at > utcnow()  # backoff: not due yet
    assert tasks.dispatch_webhooks(rt) == 0
    with rt.session_factory.begin() as s:
        s.get(Batch, batch["id"]).webhook_next_at = utcnow() - timedelta(seconds=1)
    tasks.sweep(rt)
    run_jobs()
    assert len(responses.calls) == 2
    call = responses.calls[1].request
    assert call.headers[SIGNATURE_HEADER] == tasks.sign("change-me", call.body)
    import json

    body = json.loads(call.body)
    assert (body["id"], body["state"], body["done"], body["total"]) == (batch["id"], "done", 5, 5)
    with rt.session_factory() as s:
        assert s.get(Batch, batch["id"]).webhook_state == "sent"


@responses.activate
def test_webhook_gives_up_after_max_attempts(client, rt, run_jobs):
    url = "http://hooks.example.test/down"
    responses.add(responses.POST, url, status=503)
    batch = start(client, callback_url=url)
    run_jobs()
    for _ in range(6):
        with rt.session_factory.begin() as s:
            b = s.get(Batch, batch["id"])
            if b.webhook_state != "pending":
                break
            b.webhook_next_at = utcnow() - timedelta(seconds=1)
        tasks.sweep(rt)
        run_jobs()
    with rt.session_factory() as s:
        b = s.get(Batch, batch["id"])
        assert (b.webhook_state, b.webhook_attempts) == ("failed", 5)
    assert len(responses.calls) == 5
