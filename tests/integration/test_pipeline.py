"""The whole pipeline with real processes: API server, run_worker.py workers, PostgreSQL, Redis."""

import signal
import time
from datetime import date

import pytest
import redis
import requests

from jobs.demo import generate_book
from tests.expected import expected_analyses, strip
from tests.live import Server, poll_all, put_book, worker

AS_OF = date(2026, 3, 2)
FAST_LEDGER = {
    "RUPTURA_QUEUED_DEADLINE_S": "3",
    "RUPTURA_RUNNING_DEADLINE_S": "10",
    "RUPTURA_SWEEP_INTERVAL_S": "0.5",
    "RUPTURA_LOG_LEVEL": "WARNING",
}


@pytest.fixture
def book():
    """The 300-order demo book."""
    return generate_book(seed=11, orders=300, as_of=AS_OF)


@pytest.fixture
def stack(pg_url, redis_url, tmp_path):
    """Start the API; return (server, env) and stop everything after."""
    env = {"DATABASE_URL": pg_url, "REDIS_URL": redis_url, **FAST_LEDGER}
    procs = []
    server = Server(env, tmp_path / "api.log")
    procs.append(server)
    yield server, env, procs
    for proc in procs:
        proc.kill(signal.SIGTERM)


def start_workers(env, tmp_path, procs, count=2, extra_env=None):
    """Start `count` separate run_worker.py processes."""
    started = [
        worker({**env, **(extra_env or {})}, tmp_path / f"worker{i}.log") for i in range(count)
    ]
    procs.extend(started)
    return started


def post(server, numbers, **extra):
    """POST a batch of orders as of AS_OF."""
    response = requests.post(
        server.url + "/api/v1/batches",
        json={"orders": numbers, "as_of": AS_OF.isoformat(), **extra},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    return response.json()


def assert_matches_engine(results, book, numbers):
    """Every order resolved, and each equals the engine run directly on the book."""
    assert sorted(results) == sorted(numbers)
    expected = expected_analyses(book, numbers, AS_OF)
    for number in numbers:
        assert results[number]["status"] in ("done", "not_found"), results[number]
        assert strip(results[number]["analysis"]) == strip(expected[number]), number


def numbers_of(book):
    return [o["number"] for o in book["orders"]]


def test_300_order_batch_resolves_and_equals_the_engine(stack, book, tmp_path):
    server, env, procs = stack
    start_workers(env, tmp_path, procs)
    put_book(server.url, book)
    numbers = [*numbers_of(book), "NO-SUCH-ORDER"]
    started = time.monotonic()
    batch = post(server, numbers)
    results = poll_all(server.url, batch, timeout=120)
    elapsed = time.monotonic() - started
    print(f"\n300-order batch, PostgreSQL + Redis + 2 workers: {elapsed:.2f} s")
    assert results["NO-SUCH-ORDER"]["status"] == "not_found"
    assert_matches_engine(results, book, numbers)
    summary = requests.get(server.url + batch["status_url"], timeout=10).json()
    assert (summary["state"], summary["pending"], summary["failed"]) == ("done", 0, 0)
    stats = requests.get(server.url + "/api/v1/stats", timeout=10).json()
    assert stats["mode"] == "redis" and stats["workers"] == 2


def test_sigkill_a_worker_mid_batch_loses_nothing(stack, tmp_path):
    server, env, procs = stack
    big = generate_book(seed=12, orders=1500, as_of=AS_OF)
    workers = start_workers(env, tmp_path, procs, extra_env={"RUPTURA_CHUNK_SIZE": "10"})
    put_book(server.url, big)
    numbers = numbers_of(big)
    batch = post(server, numbers)
    # wait until the batch is visibly under way, then kill one worker outright
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        summary = requests.get(server.url + batch["status_url"], timeout=10).json()
        if summary["done"] >= 50:
            break
        time.sleep(0.05)
    assert summary["pending"] > 0, "the batch finished before the kill; make it bigger"
    workers[0].kill(signal.SIGKILL)
    results = poll_all(server.url, batch, timeout=180)
    assert_matches_engine(results, big, numbers)


def test_flushed_redis_with_jobs_queued_loses_nothing(stack, book, tmp_path, redis_url):
    server, env, procs = stack
    put_book(server.url, book)
    numbers = numbers_of(book)
    batch = post(server, numbers)  # no worker yet: every job is waiting in Redis
    assert redis.Redis.from_url(redis_url).llen("rq:queue:ruptura") > 0
    redis.Redis.from_url(redis_url).flushdb()
    start_workers(env, tmp_path, procs)
    results = poll_all(server.url, batch, timeout=120)
    assert_matches_engine(results, book, numbers)


def test_flushdb_while_workers_run_loses_nothing(stack, tmp_path, redis_url):
    server, env, procs = stack
    big = generate_book(seed=13, orders=1500, as_of=AS_OF)
    start_workers(env, tmp_path, procs, extra_env={"RUPTURA_CHUNK_SIZE": "10"})
    put_book(server.url, big)
    numbers = numbers_of(big)
    batch = post(server, numbers)
    while requests.get(server.url + batch["status_url"], timeout=10).json()["done"] < 50:
        time.sleep(0.05)
    redis.Redis.from_url(redis_url).flushdb()
    results = poll_all(server.url, batch, timeout=180)
    assert_matches_engine(results, big, numbers)


def test_the_same_batch_in_embedded_mode(book, tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'embedded.db'}", **FAST_LEDGER}
    server = Server(env, tmp_path / "embedded.log")
    try:
        assert "EMBEDDED mode" in server.output()
        put_book(server.url, book)
        numbers = numbers_of(book)
        started = time.monotonic()
        batch = post(server, numbers)
        results = poll_all(server.url, batch, timeout=120)
        print(f"\n300-order batch, embedded (SQLite + threads): {time.monotonic() - started:.2f} s")
        assert_matches_engine(results, book, numbers)
    finally:
        server.kill(signal.SIGTERM)
