"""Faults on real processes: killed workers, a restarted Redis, a stopped PostgreSQL, bad data.

Every test runs the API (`run_api.py`) and `run_worker.py` as processes. Redis is always a
PRIVATE instance (tests/integration/services.py), never the shared one; the PostgreSQL
stop test also gets a private cluster. Each test ends by checking that every requested
order resolved — done or not_found, or failed only where the test makes it so — and that
each result equals the engine run directly on the book: nothing lost, nothing wrong.
Timings are printed (run with -s) and recorded in docs/reliability.md.
"""

import signal
import time
from datetime import date

import psutil
import pytest
import requests
from rq import Worker
from sqlalchemy import create_engine, text

from jobs.demo import generate_book
from tests.expected import expected_analyses, strip
from tests.integration.services import (  # noqa: F401 (fixtures)
    private_pg_fixture,
    private_redis_fixture,
    wait_for,
)
from tests.live import Process, Server, poll_all, put_book

AS_OF = date(2026, 3, 2)
FAST_LEDGER = {
    "RUPTURA_QUEUED_DEADLINE_S": "3",
    "RUPTURA_RUNNING_DEADLINE_S": "10",
    "RUPTURA_SWEEP_INTERVAL_S": "0.5",
    "RUPTURA_LOG_LEVEL": "WARNING",
    "RUPTURA_CHUNK_SIZE": "10",
    "RUPTURA_RATELIMIT_ENABLED": "0",
}


@pytest.fixture
def procs():
    """Processes a test starts; stopped (SIGTERM, then SIGKILL) at the end, newest first."""
    started: list[Process] = []
    yield started
    for proc in reversed(started):
        proc.kill(signal.SIGTERM)


def start_api(env, tmp_path, procs) -> Server:
    """Start run_api.py with `env`."""
    server = Server(env, tmp_path / "api.log")
    procs.append(server)
    return server


def start_supervisor(env, tmp_path, procs, workers: int = 2) -> Process:
    """Start `run_worker.py --workers N`: a supervisor that restarts dead worker processes."""
    proc = Process(["run_worker.py", "--workers", str(workers)], env, tmp_path / "workers.log")
    procs.append(proc)
    return proc


def worker_pids(supervisor: Process) -> set[int]:
    """Return the pids of the supervisor's live worker processes."""
    try:
        children = psutil.Process(supervisor.pid).children()
    except psutil.NoSuchProcess:
        return set()
    pids = set()
    for child in children:
        try:
            if "spawn_main" in " ".join(child.cmdline()) and child.status() != "zombie":
                pids.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return pids


def registered_workers(redis_url: str) -> list[Worker]:
    """Return the RQ workers registered in Redis."""
    import redis

    conn = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=2)
    try:
        return Worker.all(connection=conn)
    finally:
        conn.close()


def busy_worker(redis_url: str, func_suffix: str) -> tuple[int, str] | None:
    """Return (pid, job id) of a worker running a job whose function ends with func_suffix."""
    for w in registered_workers(redis_url):
        try:
            job = w.get_current_job()
        except Exception:  # the job hash may vanish between the two reads
            continue
        if job is not None and (job.func_name or "").endswith(func_suffix):
            return int(w.name.split("-")[1]), job.id
    return None


def post(url: str, numbers, as_of: date = AS_OF, expect: int = 202) -> dict:
    """POST a batch and check the status."""
    response = requests.post(
        url + "/api/v1/batches", json={"orders": numbers, "as_of": as_of.isoformat()}, timeout=60
    )
    assert response.status_code == expect, response.text
    return response.json()


def summary(url: str, batch: dict) -> dict:
    """GET a batch's status document."""
    return requests.get(url + batch["status_url"], timeout=10).json()


def wait_progress(url: str, batch: dict, done: int, timeout: float = 60) -> dict:
    """Wait until `done` orders of a batch resolved; return the status (fail if it finished)."""
    wait_for(lambda: summary(url, batch)["done"] >= done, timeout, f"{done} orders done")
    status = summary(url, batch)
    assert status["pending"] > 0, "the batch finished before the fault; make it bigger"
    return status


def numbers_of(book) -> list[str]:
    return [o["number"] for o in book["orders"]]


def assert_all_resolved(results: dict, book: dict, numbers: list[str], as_of: date = AS_OF):
    """Every order resolved (done/not_found) and equals the engine run on the book."""
    assert sorted(results) == sorted(numbers)
    expected = expected_analyses(book, numbers, as_of)
    for number in numbers:
        assert results[number]["status"] in ("done", "not_found"), results[number]
        assert strip(results[number]["analysis"]) == strip(expected[number]), number


def assert_error_shape(response, status: int) -> dict:
    """The one error shape, with the status expected."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


# --- 1. SIGKILL: a chunk job, then a chat's purchase analysis --------------------------------


def ask(url: str, product: str) -> str:
    """Open a chat session, ask about a product; return the session id."""
    chat = requests.post(url + "/api/v1/chat/sessions", json={"locale": "en"}, timeout=10).json()
    answer = requests.post(
        f"{url}/api/v1/chat/sessions/{chat['id']}/messages",
        json={"content": f"Should I buy more {product}?"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["messages"][1]["metadata"]["type"] == "analysis_started"
    return chat["id"]


def chat_answers(url: str, session_id: str) -> list[dict]:
    """Return the chat's final assistant messages (result or failure) and whether it waits."""
    body = requests.get(f"{url}/api/v1/chat/sessions/{session_id}/messages", timeout=10).json()
    finals = [
        m
        for m in body["messages"]
        if m["sender"] == "ai"
        and (m["metadata"] or {}).get("type") in ("analysis_result", "analysis_failed")
    ]
    return finals if not body["pending"] else []


def engine_for(database_url: str):
    """A SQLAlchemy engine on a test database (psycopg 3)."""
    return create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))


def redispatched(engine) -> dict[str, int]:
    """Count ledger rows dispatched more than once, by kind."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT kind, count(*) FROM analyses WHERE attempts > 1 GROUP BY kind")
        )
        return dict(rows.all())


def lock_waiters(engine) -> int:
    """Count the database sessions waiting for a lock."""
    with engine.connect() as conn:
        return conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )


def kill_busy_worker(redis_url: str, func_suffix: str, engine, waiters: int) -> tuple[int, str]:
    """SIGKILL a worker running `func_suffix` once `waiters` sessions wait for the test's lock.

    The job is then certainly mid-way: its rows are claimed (running) and its result computed,
    but the transaction that records it cannot commit.
    """
    found = None

    def ready():
        nonlocal found
        found = busy_worker(redis_url, func_suffix)
        return found is not None and lock_waiters(engine) >= waiters

    what = f"a worker blocked in {func_suffix} (finishing takes the finish_seq row lock?)"
    wait_for(ready, 60, what, interval=0.01)
    psutil.Process(found[0]).send_signal(signal.SIGKILL)
    return found


def test_sigkill_workers_mid_chunk_and_mid_chat_analysis(pg_url, private_redis, tmp_path, procs):
    today = date.today()
    book = generate_book(seed=21, orders=1500, as_of=today)
    env = {"DATABASE_URL": pg_url, "REDIS_URL": private_redis.url, **FAST_LEDGER}
    server = start_api(env, tmp_path, procs)
    put_book(server.url, book)
    numbers = numbers_of(book)
    batch = post(server.url, numbers, as_of=today)
    products = [p["code"] for p in book["products"]]
    sessions = {ask(server.url, code): code for code in products}  # queued behind the chunks
    engine = engine_for(pg_url)
    # Freeze every job just before it can commit its result: hold the finish-sequence counter
    # (every finish takes it) and the chat messages table (a chat answer is inserted with it).
    counter = engine.connect()
    counter.begin()
    counter.execute(text("SELECT value FROM counters WHERE name = 'finish_seq' FOR UPDATE"))
    chat_table = engine.connect()
    chat_table.begin()
    chat_table.execute(text("LOCK TABLE chat_messages IN EXCLUSIVE MODE"))
    supervisor = start_supervisor(env, tmp_path, procs)
    try:
        # kill 1: both workers hold a claimed chunk they cannot commit; one dies
        first = kill_busy_worker(private_redis.url, "analyze_chunk", engine, waiters=2)
        counter.rollback()
        first_kill = time.monotonic()
        # kill 2: the chunks go through; a chat's purchase analysis blocks on its answer
        second = kill_busy_worker(private_redis.url, "analyze_purchase", engine, waiters=1)
        second_kill = time.monotonic()
    finally:
        counter.close()
        chat_table.rollback()
        chat_table.close()

    results = poll_all(server.url, batch, timeout=180)
    resolved_batch = time.monotonic()
    assert_all_resolved(results, book, numbers, as_of=today)
    answers = {}
    for session_id in sessions:
        wait_for(lambda s=session_id: chat_answers(server.url, s), 60, "a chat answer")
        answers[session_id] = chat_answers(server.url, session_id)
    resolved_chats = time.monotonic()
    for session_id, finals in answers.items():
        assert len(finals) == 1, finals  # exactly one answer, never a duplicate
        assert finals[0]["metadata"]["type"] == "analysis_result", finals[0]
        assert finals[0]["metadata"]["product"] == sessions[session_id]
    # the sweeper re-dispatched the killed chunk and the killed purchase analysis
    retried = redispatched(engine)
    engine.dispose()
    assert retried.get("order", 0) >= 1, retried  # the rows of the killed chunk
    assert retried.get("purchase", 0) >= 1, retried
    # the supervisor replaced both killed workers
    wait_for(lambda: len(worker_pids(supervisor)) == 2, 30, "two worker processes again")
    assert not {first[0], second[0]} & worker_pids(supervisor)
    print(
        f"\nSIGKILL x2 (mid-chunk, then mid-purchase): {len(numbers)} orders and "
        f"{len(sessions)} chats resolved; batch {resolved_batch - first_kill:.1f} s after the "
        f"first kill, chats {resolved_chats - second_kill:.1f} s after the second; rows "
        f"re-dispatched by the sweeper: {retried}"
    )


# --- 2. Redis restarted (empty) with jobs queued ---------------------------------------------


def test_redis_restart_with_jobs_queued_loses_nothing(pg_url, private_redis, tmp_path, procs):
    book = generate_book(seed=22, orders=1500, as_of=AS_OF)
    env = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": private_redis.url,
        **FAST_LEDGER,
        # the limiter stays on (its counters live in Redis: it must fail open), generous limits
        "RUPTURA_RATELIMIT_ENABLED": "1",
        "RUPTURA_RATELIMIT_POLL": "100000/minute",
        "RUPTURA_RATELIMIT_ENQUEUE": "1000/minute",
        "RUPTURA_RATELIMIT_WRITE": "1000/minute",
    }
    server = start_api(env, tmp_path, procs)
    put_book(server.url, book)
    numbers = numbers_of(book)
    supervisor = start_supervisor(env, tmp_path, procs)
    batch = post(server.url, numbers)
    wait_progress(server.url, batch, 50)
    before = worker_pids(supervisor)
    private_redis.stop()  # SIGKILL: every queued job is gone
    down_at = time.monotonic()
    time.sleep(1)
    # while Redis is down: reads come from the database; a batch is still accepted (ledger)
    assert summary(server.url, batch)["pending"] > 0
    page = requests.get(server.url + batch["results_url"], timeout=10)
    assert page.status_code == 200 and page.json()["pending"] > 0
    late = post(server.url, numbers[:200], as_of=date(2026, 3, 3))
    ready = requests.get(server.url + "/readyz", timeout=10)
    assert ready.status_code == 503 and ready.headers["Retry-After"]
    assert ready.json()["checks"]["queue"].startswith("down")
    time.sleep(2)
    private_redis.start()  # same port, empty
    back_at = time.monotonic()
    wait_for(lambda: requests.get(server.url + "/readyz", timeout=10).ok, 30, "API ready")
    results = poll_all(server.url, batch, timeout=180)
    late_results = poll_all(server.url, late, timeout=180)
    recovered = time.monotonic() - back_at
    assert_all_resolved(results, book, numbers)
    assert_all_resolved(late_results, book, numbers[:200], as_of=date(2026, 3, 3))
    wait_for(lambda: len(registered_workers(private_redis.url)) == 2, 30, "workers registered")
    wait_for(lambda: len(worker_pids(supervisor)) == 2, 30, "two worker processes")
    replaced = len(before - worker_pids(supervisor))
    print(
        f"\nRedis down {back_at - down_at:.1f} s: {len(numbers) + 200} orders resolved "
        f"{recovered:.1f} s after Redis came back; workers replaced by the supervisor: {replaced}/2"
    )


# --- 3. PostgreSQL stopped during a batch ----------------------------------------------------


def test_postgres_stop_during_a_batch_answers_503_then_recovers(
    private_pg, private_redis, tmp_path, procs
):
    url = private_pg.create_database()
    book = generate_book(seed=23, orders=1500, as_of=AS_OF)
    env = {"DATABASE_URL": url, "REDIS_URL": private_redis.url, **FAST_LEDGER}
    server = start_api(env, tmp_path, procs)
    put_book(server.url, book)
    numbers = numbers_of(book)
    supervisor = start_supervisor(env, tmp_path, procs)
    batch = post(server.url, numbers)
    wait_progress(server.url, batch, 50)
    before = worker_pids(supervisor)
    private_pg.stop()
    down_at = time.monotonic()
    # while it is down: 503 + Retry-After in the one error shape, for writes and reads
    for response in (
        requests.post(
            server.url + "/api/v1/batches",
            json={"orders": ["X"], "as_of": "2026-03-02"},
            timeout=30,
        ),
        requests.get(server.url + batch["status_url"], timeout=30),
        requests.get(server.url + batch["results_url"], timeout=30),
        requests.get(server.url + "/api/v1/orders/X/analysis", timeout=30),
    ):
        error = assert_error_shape(response, 503)
        assert error["code"] == "unavailable"
        assert int(response.headers["Retry-After"]) > 0
    ready = requests.get(server.url + "/readyz", timeout=30)
    assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("down")
    assert requests.get(server.url + "/healthz", timeout=10).ok  # alive, only not ready
    time.sleep(max(0.0, 3 - (time.monotonic() - down_at)))
    private_pg.start()
    back_at = time.monotonic()
    api_back = wait_for(
        lambda: requests.get(server.url + batch["status_url"], timeout=10).ok, 30, "API answers"
    )
    results = poll_all(server.url, batch, timeout=180)
    recovered = time.monotonic() - back_at
    assert_all_resolved(results, book, numbers)
    after = post(server.url, numbers[:50], as_of=date(2026, 3, 4))  # and new work goes through
    assert_all_resolved(
        poll_all(server.url, after, timeout=60), book, numbers[:50], date(2026, 3, 4)
    )
    same = before == worker_pids(supervisor)
    print(
        f"\nPostgreSQL down {back_at - down_at:.1f} s: API answered again {api_back:.2f} s after "
        f"the restart; {len(numbers)} orders resolved {recovered:.1f} s after it; "
        f"same worker processes throughout: {same}"
    )


# --- 4. data that breaks the engine: one order fails, its chunk-mates succeed ----------------

BAD_PRODUCTS = [{"code": "HUGE-1", "name": "Overflowing sum"}, {"code": "HUGE-2", "name": "Inf"}]
BAD_ORDERS = [
    {  # two lines of one product whose quantities sum past the largest float: OverflowError
        "number": "BAD-OVERFLOW",
        "lines": [{"product": "HUGE-1", "qty": 1e308}, {"product": "HUGE-1", "qty": 1e308}],
    },
    {  # qty x price overflows to inf: a result JSON and PostgreSQL refuse
        "number": "BAD-INF",
        "lines": [{"product": "HUGE-2", "qty": 1e308, "unit_price": 10}],
    },
]


def write_orders_directly(url: str, orders: list[dict]) -> None:
    """Insert orders and their lines with SQL, bypassing the API's validation."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        for order in orders:
            conn.execute(
                text(
                    "INSERT INTO orders (number, customer, priority, status)"
                    " VALUES (:n, '', 0, 'open')"
                ),
                {"n": order["number"]},
            )
            for i, line in enumerate(order["lines"], start=1):
                conn.execute(
                    text(
                        "INSERT INTO order_lines (order_number, line_no, product_code, qty,"
                        " unit_price) VALUES (:n, :i, :p, :q, :u)"
                    ),
                    {
                        "n": order["number"],
                        "i": i,
                        "p": line["product"],
                        "q": line["qty"],
                        "u": line.get("unit_price", 0.0),
                    },
                )
        conn.execute(text("UPDATE counters SET value = value + 1 WHERE name = 'data_version'"))
    engine.dispose()


def test_an_order_that_breaks_the_engine_fails_alone_in_its_chunk(
    pg_url, private_redis, tmp_path, procs
):
    book = generate_book(seed=24, orders=300, as_of=AS_OF)
    env = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": private_redis.url,
        **FAST_LEDGER,
        "RUPTURA_CHUNK_SIZE": "1000",  # the whole batch is one chunk, one job
    }
    server = start_api(env, tmp_path, procs)
    put_book(server.url, book)
    requests.put(f"{server.url}/api/v1/products", json=BAD_PRODUCTS, timeout=30).raise_for_status()
    # The API refuses such quantities (422), so the bad data arrives the way bad data does:
    # written straight into the database by another system.
    refused = requests.put(f"{server.url}/api/v1/orders", json=BAD_ORDERS, timeout=30)
    assert refused.status_code == 422
    write_orders_directly(pg_url, BAD_ORDERS)
    good = numbers_of(book)
    bad = [o["number"] for o in BAD_ORDERS]
    numbers = [*good[:150], *bad, *good[150:]]
    batch = post(server.url, numbers)
    procs.append(Process(["run_worker.py"], env, tmp_path / "worker.log"))
    results = poll_all(server.url, batch, timeout=120)
    assert sorted(results) == sorted(numbers)
    assert results["BAD-OVERFLOW"]["status"] == "failed"
    assert "OverflowError" in results["BAD-OVERFLOW"]["error"]["message"]
    assert results["BAD-INF"]["status"] == "failed"
    assert "too large" in results["BAD-INF"]["error"]["message"]
    good_results = {n: results[n] for n in good}
    assert_all_resolved(good_results, book, good)
    status = summary(server.url, batch)
    assert (status["state"], status["failed"], status["pending"]) == ("done", 2, 0)
    assert status["done"] + status["not_found"] == len(good)
    print(f"\nengine fault: 2 bad orders failed alone, {len(good)} chunk-mates resolved")
