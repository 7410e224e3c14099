"""The fast paths of docs/performance.md keep the contract: ETags, spliced JSON, finish, cache."""

import json
import time

import pytest
from sqlalchemy import select

from api import pollcache
from jobs import ledger, tasks
from jobs.models import Analysis
from tests.expected import strip
from tests.helpers import example, load_example

AS_OF = "2026-03-02"
ORDERS = ["O1", "O2", "O3", "O4", "O5"]


def post(client, orders=ORDERS):
    response = client.post("/api/v1/batches", json={"orders": orders, "as_of": AS_OF})
    assert response.status_code == 202
    return response.get_json()


def dispatches(rt) -> list[tuple[str, list[int]]]:
    """The (token, ids) of the queued ledger rows, in id order."""
    with rt.session_factory() as s:
        rows = s.execute(
            select(Analysis.job_id, Analysis.id)
            .where(Analysis.status == "queued")
            .order_by(Analysis.id)
        ).all()
    out: dict[str, list[int]] = {}
    for token, analysis_id in rows:
        out.setdefault(token, []).append(analysis_id)
    return list(out.items())


def test_the_last_page_carries_the_etag_of_the_next_unchanged_poll(client, run_jobs):
    load_example(client)
    batch = post(client)
    run_jobs()
    page = client.get(batch["results_url"])
    assert page.status_code == 200 and page.get_json()["pending"] == 0
    again = client.get(
        batch["results_url"],
        query_string={"since": page.get_json()["cursor"]},
        headers={"If-None-Match": page.headers["ETag"]},
    )
    assert again.status_code == 304  # not a 200 with nothing in it
    assert again.headers["ETag"] == page.headers["ETag"]


def test_a_page_that_leaves_results_behind_never_matches(client, run_jobs):
    load_example(client)
    batch = post(client)
    run_jobs()
    first = client.get(batch["results_url"], query_string={"limit": 2})
    body = first.get_json()
    assert len(body["results"]) == 2 and body["pending"] == 3
    second = client.get(
        batch["results_url"],
        query_string={"limit": 2, "since": body["cursor"]},
        headers={"If-None-Match": first.headers["ETag"]},
    )
    assert second.status_code == 200 and len(second.get_json()["results"]) == 2


def test_spliced_results_equal_the_stored_analyses_and_follow_staleness(app, client, run_jobs):
    load_example(client)
    batch = post(client, [*ORDERS, "NOPE"])
    run_jobs()
    response = client.get(batch["results_url"])
    body = json.loads(response.data)  # strictly valid JSON
    by_order = {r["order"]: r for r in body["results"]}
    assert by_order["NOPE"]["status"] == "not_found"
    rt = app.extensions["ruptura.runtime"]
    with rt.session_factory() as s:
        stored = {a.subject: a.result for a in s.scalars(select(Analysis))}
    for order, entry in by_order.items():
        assert entry["analysis"]["stale"] is False
        assert strip(entry["analysis"]) == strip(stored[order])
    client.put("/api/v1/stock", json=example("stock"))  # a new data version
    later = client.get(batch["results_url"]).get_json()
    assert {r["analysis"]["stale"] for r in later["results"]} == {True}


def test_failed_rows_are_served_with_their_error(app, client):
    load_example(client)
    batch = post(client, ["O1", "O2"])
    rt = app.extensions["ruptura.runtime"]
    ((token, ids),) = dispatches(rt)
    with rt.session_factory.begin() as s:
        assert ledger.finish(s, token, {i: ledger.failed_outcome("boom") for i in ids}) == 2
    results = client.get(batch["results_url"]).get_json()["results"]
    assert {r["status"] for r in results} == {"failed"}
    assert {r["error"]["message"] for r in results} == {"boom"}


def test_finish_numbers_a_chunk_once_and_ignores_zombies(app, client):
    load_example(client)
    post(client)
    rt = app.extensions["ruptura.runtime"]
    ((token, ids),) = dispatches(rt)
    outcome = {"status": "done", "result_status": "done", "result": {"x": "é"}, "data_version": 1}
    with rt.session_factory.begin() as s:
        assert ledger.finish(s, "not-the-token", {ids[0]: outcome}) == 0
    with rt.session_factory.begin() as s:
        assert ledger.finish(s, token, {i: outcome for i in ids[:3]}) == 3
    with rt.session_factory.begin() as s:
        assert ledger.finish(s, token, {i: outcome for i in ids[:3]}) == 0  # already done
    with rt.session_factory() as s:
        rows = list(s.scalars(select(Analysis).where(Analysis.id.in_(ids)).order_by(Analysis.id)))
    done = rows[:3]
    assert len({r.finish_seq for r in done}) == 1 and done[0].finish_seq is not None
    assert {r.result["x"] for r in done} == {"é"} and {r.status for r in done} == {"done"}
    assert {r.status for r in rows[3:]} == {"queued"} and rows[3].finish_seq is None


def test_chunk_size_grows_only_for_large_batches():
    assert ledger.batch_chunk_size(5, 20, 200, 64) == 20
    assert ledger.batch_chunk_size(1280, 20, 200, 64) == 20
    assert ledger.batch_chunk_size(10_000, 20, 200, 64) == 157
    assert ledger.batch_chunk_size(100_000, 20, 200, 64) == 200
    assert ledger.batch_chunk_size(10_000, 20, 20, 64) == 20  # a fixed size
    assert ledger.batch_chunk_size(10_000, 20, 200, 0) == 20  # off


def test_cached_counts_never_hide_a_finish(app_factory, backend):
    app = app_factory(backend, CHUNK_SIZE=2, CHUNK_MAX=2)
    client = app.test_client()
    load_example(client)
    batch = post(client)
    rt = app.extensions["ruptura.runtime"]
    chunks = dispatches(rt)
    assert len(chunks) == 3
    tasks.analyze_chunk(chunks[0][1], chunks[0][0], batch["id"])
    watch = pollcache.watch_for(rt.engine)
    if watch is not None:  # PostgreSQL: wait until it listens, so the cache is really used
        deadline = time.monotonic() + 10
        while watch.marker() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watch.marker() is not None
    page = client.get(batch["results_url"])
    assert len(page.get_json()["results"]) == 2
    cursor, tag = page.get_json()["cursor"], page.headers["ETag"]
    for _ in range(3):  # unchanged: 304, from the cache on PostgreSQL
        again = client.get(
            batch["results_url"], query_string={"since": cursor}, headers={"If-None-Match": tag}
        )
        assert again.status_code == 304
    if watch is not None:
        assert watch.get((batch["id"], None), watch.marker()) is not None
    before = watch.marker() if watch is not None else None
    tasks.analyze_chunk(chunks[1][1], chunks[1][0], batch["id"])
    if watch is not None:  # the NOTIFY arrives at commit, asynchronously
        deadline = time.monotonic() + 10
        while watch.marker() == before and time.monotonic() < deadline:
            time.sleep(0.02)
    after = client.get(
        batch["results_url"], query_string={"since": cursor}, headers={"If-None-Match": tag}
    )
    assert after.status_code == 200
    assert len(after.get_json()["results"]) == 2 and after.get_json()["pending"] == 1


@pytest.mark.parametrize("orders", [["O1"], ORDERS])
def test_batches_are_stamped_finished_when_their_last_chunk_commits(app_factory, backend, orders):
    app = app_factory(backend, CHUNK_SIZE=2, CHUNK_MAX=2)
    client = app.test_client()
    load_example(client)
    batch = post(client, orders)
    rt = app.extensions["ruptura.runtime"]
    chunks = dispatches(rt)
    for token, ids in chunks:
        assert client.get(batch["status_url"]).get_json()["finished_at"] is None
        tasks.analyze_chunk(ids, token, batch["id"])
    assert client.get(batch["status_url"]).get_json()["finished_at"] is not None
