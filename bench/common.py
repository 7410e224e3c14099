"""Shared helpers of the bench scripts: the stack under test, data loading, polling, figures.

A bench runs either on the embedded default (no `--pg`/`--redis`: `run_api.py` on a temporary
SQLite file, fakeredis and worker threads inside the API process) or on PostgreSQL + Redis +
N `run_worker.py` processes (`--pg URL --redis URL --workers N`): a fresh database is created
and migrated, the API and the workers are started here, and everything is removed afterwards.
Each bench prints progress to stderr and ONE JSON line of figures to stdout at the end.
Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

AS_OF = date(2026, 3, 2)
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"
# What every bench stack runs with: no rate limits (one client address makes all the requests),
# warnings-only logs (the per-job INFO lines would go to a file anyway).
BENCH_ENV = {
    "RUPTURA_RATELIMIT_ENABLED": "false",
    "RUPTURA_LOG_LEVEL": "WARNING",
}


def log(*parts) -> None:
    """Print progress to stderr."""
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, file=sys.stderr, flush=True)


def emit(figures: dict) -> None:
    """Print the one JSON line of figures."""
    print(json.dumps(figures, sort_keys=True, default=str), flush=True)


def percentile(values, p: float) -> float | None:
    """Return the p-th percentile (nearest rank) of values, or None if empty."""
    data = sorted(values)
    if not data:
        return None
    rank = max(1, min(len(data), int(-(-p * len(data) // 100))))
    return data[rank - 1]


def machine() -> dict:
    """Describe the machine the figures come from."""
    return {
        "cpus": os.cpu_count(),
        "mem_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        # the 2 cores are shared: anything else running shows here (1/5/15-minute averages)
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def free_port() -> int:
    """Return a free TCP port on the loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def add_stack_args(parser: argparse.ArgumentParser, workers: int = 2) -> None:
    """Add the options that choose and size the stack under test."""
    g = parser.add_argument_group("stack (default: embedded SQLite + worker threads)")
    g.add_argument(
        "--pg",
        metavar="URL",
        help=f"PostgreSQL server URL (a fresh database is created on it), e.g. {DEFAULT_PG}",
    )
    g.add_argument(
        "--redis",
        metavar="URL",
        help=f"Redis URL (a private queue name is used; nothing is flushed), e.g. {DEFAULT_REDIS}",
    )
    g.add_argument(
        "--workers",
        type=int,
        default=workers,
        help=f"run_worker.py processes (embedded: worker threads); default {workers}",
    )
    g.add_argument(
        "--server",
        choices=SERVERS,
        default="waitress",
        help="HTTP server: waitress (run_api.py) or gunicorn (gthread workers, service mode "
        "only); default waitress",
    )
    g.add_argument(
        "--api-threads", type=int, default=16, help="threads per API process (default 16)"
    )
    g.add_argument(
        "--api-processes",
        type=int,
        default=1,
        help="API processes: run_api.py --processes, or gunicorn --workers (service mode; "
        "default 1)",
    )
    g.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="a fixed chunk size (RUPTURA_CHUNK_SIZE = RUPTURA_CHUNK_MAX; default: the app's, "
        "20 a job, larger for large batches)",
    )
    g.add_argument("--keep", action="store_true", help="keep the temp dir (logs, SQLite file)")


SERVERS = ("waitress", "gunicorn")


class Child:
    """A child Python process of this repo, its output kept in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self.handle = log_path.open("wb")
        full = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        for key in ("DATABASE_URL", "REDIS_URL"):
            if key not in env:
                full.pop(key, None)
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=full,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        """Return the process id."""
        return self.proc.pid

    def alive(self) -> bool:
        """Tell whether the process still runs."""
        return self.proc.poll() is None

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL after `timeout`; reap."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.handle.close()

    def tail(self, lines: int = 30) -> str:
        """Return the end of the log."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Stack:
    """The system under test: API (+ workers), on SQLite (embedded) or PostgreSQL + Redis."""

    def __init__(
        self,
        pg: str | None = None,
        redis_url: str | None = None,
        workers: int = 2,
        api_threads: int = 16,
        api_processes: int = 1,
        chunk_size: int | None = None,
        env: dict[str, str] | None = None,
        keep: bool = False,
        server: str = "waitress",
    ):
        if bool(pg) != bool(redis_url):
            raise SystemExit("--pg and --redis go together (or neither, for the embedded mode)")
        if server == "gunicorn" and not pg:
            raise SystemExit(
                "--server gunicorn needs --pg and --redis (the embedded mode's "
                "worker threads live in run_api.py)"
            )
        self.server = server
        self.pg, self.redis_url, self.workers = pg, redis_url, workers
        self.api_threads, self.api_processes, self.keep = api_threads, api_processes, keep
        self.tmp = Path(tempfile.mkdtemp(prefix="ruptura-bench-"))
        self.queue = f"bench-{uuid.uuid4().hex[:8]}"
        self.env = {**BENCH_ENV, "RUPTURA_QUEUE": self.queue, **(env or {})}
        if chunk_size:  # a fixed chunk size, whatever the batch size
            self.env["RUPTURA_CHUNK_SIZE"] = str(chunk_size)
            self.env["RUPTURA_CHUNK_MAX"] = str(chunk_size)
        self.db_name: str | None = None
        self.database_url = ""
        self.api: Child | None = None
        self.worker_procs: list[Child] = []
        self.url = ""

    @property
    def embedded(self) -> bool:
        """Tell whether this is the embedded mode."""
        return not self.pg

    @property
    def mode(self) -> str:
        """Describe the mode."""
        if self.embedded:
            return f"embedded-sqlite+{self.workers}threads"
        api = f"+{self.api_processes}api" if self.api_processes > 1 else ""
        server = "+gunicorn" if self.server == "gunicorn" else ""
        return f"postgresql+redis+{self.workers}workers{api}{server}"

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _admin_engine(self):
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        admin = make_url(self.pg).set(drivername="postgresql+psycopg", database="postgres")
        return create_engine(admin, isolation_level="AUTOCOMMIT")

    def start(self) -> None:
        """Create the database, start the API and the workers, wait until ready."""
        env = dict(self.env)
        if self.embedded:
            self.database_url = f"sqlite:///{self.tmp / 'bench.db'}"
            env["DATABASE_URL"] = self.database_url
            env["RUPTURA_EMBEDDED_WORKERS"] = str(self.workers)
        else:
            from sqlalchemy import text
            from sqlalchemy.engine import make_url

            from jobs.migrate import upgrade

            self.db_name = f"ruptura_bench_{uuid.uuid4().hex[:8]}"
            engine = self._admin_engine()
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.db_name}"'))
            engine.dispose()
            url = make_url(self.pg).set(database=self.db_name)
            self.database_url = url.render_as_string(hide_password=False)
            log(f"migrating {self.db_name}")
            upgrade(self.database_url)
            env["DATABASE_URL"] = self.database_url
            env["REDIS_URL"] = self.redis_url
        self.env = env
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        if self.server == "waitress":
            api_args = ["run_api.py", "--port", str(port), "--threads", str(self.api_threads)]
            if not self.embedded and self.api_processes > 1:
                api_args += ["--processes", str(self.api_processes)]
        else:  # the same app, from its factory, under gunicorn
            api_args = [
                *("-m", "gunicorn", "--bind", f"127.0.0.1:{port}"),
                *("--workers", str(self.api_processes), "--worker-class", "gthread"),
                *("--threads", str(self.api_threads), "--backlog", "1024"),
                *("--keep-alive", "30", "--log-level", "warning"),
                "api:create_app()",
            ]
        self.api = Child(api_args, env, self.tmp / "api.log")
        if not self.embedded:
            for i in range(self.workers):
                self.worker_procs.append(
                    Child(["run_worker.py", "--workers", "1"], env, self.tmp / f"worker{i}.log")
                )
        self.wait_ready()
        log(f"stack up: {self.mode} at {self.url} (logs in {self.tmp})")

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until the API answers and every worker has registered with its queue."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.api.alive():
                raise RuntimeError(f"API exited:\n{self.api.tail()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"API not ready:\n{self.api.tail()}")
        if self.embedded:
            return
        from redis import Redis
        from rq import Worker

        conn = Redis.from_url(self.redis_url)
        while time.monotonic() < deadline:
            for w in self.worker_procs:
                if not w.alive():
                    raise RuntimeError(f"worker exited:\n{w.tail()}")
            mine = [w for w in Worker.all(connection=conn) if self.queue in w.queue_names()]
            if len(mine) >= self.workers:
                conn.close()
                return
            time.sleep(0.1)
        raise RuntimeError("workers did not register")

    def close(self) -> None:
        """Stop every process, drop the database and the queue's keys, remove the temp dir."""
        for child in [*self.worker_procs, *([self.api] if self.api else [])]:
            child.stop()
        if self.redis_url:
            try:
                forget_queue(self.redis_url, self.queue)
            except Exception as exc:  # cleanup is best effort
                log(f"redis cleanup failed: {exc!r}")
        if self.db_name:
            from sqlalchemy import text

            try:
                engine = self._admin_engine()
                with engine.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
                engine.dispose()
            except Exception as exc:
                log(f"dropping {self.db_name} failed: {exc!r}")
            self.db_name = None
        if self.keep:
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # --- what the benches look at -------------------------------------------------------------

    def api_pids(self) -> list[int]:
        """Return the pids of the processes answering HTTP (the API and its forked children)."""
        try:
            children = [c.pid for c in psutil.Process(self.api.pid).children(recursive=True)]
        except psutil.Error:
            children = []
        return children or [self.api.pid]

    def worker_pids(self) -> list[int]:
        """Return the pids doing the analyses (embedded: the API process, which hosts them)."""
        if self.embedded:
            return [self.api.pid]
        return [w.pid for w in self.worker_procs]

    def engine(self):
        """Return a SQLAlchemy engine on the stack's database (for read-only checks)."""
        from jobs.db import make_engines

        return make_engines(self.database_url)[0]


def forget_queue(redis_url: str, queue: str) -> None:
    """Delete a bench queue from Redis: its lists and registries, and the jobs they name."""
    from redis import Redis

    conn = Redis.from_url(redis_url)
    try:
        keys = list(conn.scan_iter(match=f"*{queue}*", count=1000))
        jobs: set[bytes] = set()
        for key in keys:
            kind = conn.type(key)
            if kind == b"list":
                jobs.update(conn.lrange(key, 0, -1))
            elif kind == b"zset":
                jobs.update(conn.zrange(key, 0, -1))
        # job ids, and "<job id>:<execution id>" members of the started registry
        ids = {j.decode().split(":")[0] for j in jobs}
        doomed = [*keys, *(f"rq:job:{i}" for i in ids), *(f"rq:results:{i}" for i in ids)]
        for start in range(0, len(doomed), 1000):
            conn.delete(*doomed[start : start + 1000])
        conn.srem("rq:queues", f"rq:queue:{queue}")
    finally:
        conn.close()


class MemorySampler:
    """Sample the RSS of some processes (and their children) in a background thread."""

    def __init__(self, pids: list[int], interval: float = 0.05):
        self.pids, self.interval = pids, interval
        self.peak: dict[int, int] = dict.fromkeys(pids, 0)
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self, pid: int) -> int:
        try:
            proc = psutil.Process(pid)
            return proc.memory_info().rss + sum(
                c.memory_info().rss for c in proc.children(recursive=True)
            )
        except psutil.Error:
            return 0

    def sample(self) -> None:
        """Take one sample now."""
        total = 0
        for pid in self.pids:
            rss = self._rss(pid)
            self.peak[pid] = max(self.peak[pid], rss)
            total += rss
        self.peak_total = max(self.peak_total, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def figures(self) -> dict:
        """Return the peaks in MB."""
        return {
            "peak_worker_rss_mb": round(max(self.peak.values(), default=0) / 2**20, 1),
            "peak_workers_total_rss_mb": round(self.peak_total / 2**20, 1),
        }


class PySpy:
    """Record py-spy profiles (collapsed stacks) of some processes while the block runs.

    `py-spy` comes with the `bench` extra. Each process gets `<name>.txt` in `outdir`;
    `summarise` prints the functions with the most samples (self and inclusive).
    """

    def __init__(self, targets: dict[str, int], outdir: Path, rate: int = 200):
        self.targets, self.outdir, self.rate = targets, Path(outdir), rate
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> PySpy:
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.outdir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.targets.items():
            self.procs.append(
                subprocess.Popen(
                    [
                        exe,
                        "record",
                        "--pid",
                        str(pid),
                        "--rate",
                        str(self.rate),
                        "--format",
                        "raw",
                        "--nonblocking",
                        "--output",
                        str(self.outdir / f"{name}.txt"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        time.sleep(0.5)
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def summarise(self, top: int = 25) -> str:
        """Return a text summary of every recorded profile."""
        out = []
        for name in self.targets:
            path = self.outdir / f"{name}.txt"
            if not path.exists():
                continue
            own: dict[str, int] = {}
            inclusive: dict[str, int] = {}
            total = 0
            for line in path.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                if not stack:
                    continue
                n = int(count)
                total += n
                frames = stack.split(";")
                own[frames[-1]] = own.get(frames[-1], 0) + n
                for frame in set(frames):
                    inclusive[frame] = inclusive.get(frame, 0) + n
            out.append(f"== {name}: {total} samples ({total / self.rate:.1f} s busy)")
            for title, table in (("self", own), ("inclusive", inclusive)):
                out.append(f"-- {title}")
                for frame, n in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
                    out.append(f"{n / max(total, 1) * 100:5.1f}%  {frame}")
        return "\n".join(out)


def make_book(orders: int, products: int, lines: int, seed: int = 7) -> dict:
    """Generate the deterministic bench book (every order has exactly `lines` lines)."""
    from jobs.demo import generate_book

    return generate_book(
        seed=seed, orders=orders, products=products, lines=(lines, lines), as_of=AS_OF
    )


def put_book(url: str, book: dict) -> float:
    """PUT every kind of a generated book through the API; return the seconds it took."""
    start = time.perf_counter()
    with requests.Session() as http:
        for key in ("products", "stock", "receipts", "orders", "sales", "supplier_offers"):
            response = http.put(
                f"{url}/api/v1/{key.replace('_', '-')}", json=book[key], timeout=600
            )
            response.raise_for_status()
    return time.perf_counter() - start


def post_batch(http: requests.Session, url: str, numbers: list[str]) -> dict:
    """POST one batch as of AS_OF; return the 202 body."""
    response = http.post(
        url + "/api/v1/batches",
        json={"orders": numbers, "as_of": AS_OF.isoformat()},
        timeout=120,
    )
    if response.status_code != 202:
        raise RuntimeError(f"POST /batches: {response.status_code} {response.text[:500]}")
    return response.json()


def read_all(
    http: requests.Session, url: str, batch: dict, timeout: float = 600, idle: float = 0.2
) -> tuple[dict[str, dict], float, int]:
    """Poll a batch's results with the cursor (and its ETag) until nothing is pending.

    Full pages are followed at once; otherwise the next poll waits `idle` seconds (so the
    time-to-all-results is known to ±idle/2 and the polling costs the server little).
    Returns (order → result, seconds from the call until the last result was read, requests).
    """
    start = time.perf_counter()
    results: dict[str, dict] = {}
    cursor, etag, requests_made = None, None, 0
    while time.perf_counter() - start < timeout:
        params = {"since": cursor} if cursor else {}
        headers = {"If-None-Match": etag} if etag else {}
        response = http.get(url + batch["results_url"], params=params, headers=headers, timeout=120)
        requests_made += 1
        if response.status_code == 304:
            time.sleep(idle)
            continue
        response.raise_for_status()
        etag = response.headers.get("ETag")
        body = response.json()
        for item in body["results"]:
            results[item["order"]] = item
        cursor = body["cursor"]
        if body["pending"] == 0:
            return results, time.perf_counter() - start, requests_made
        if len(body["results"]) < 1000:
            time.sleep(idle)
    raise TimeoutError(f"{len(results)}/{batch['total']} results after {timeout}s")


def check_results(book: dict, results: dict[str, dict], sample: int | None = None) -> int:
    """Compare results with the pure engine run on the payload book; return mismatches."""
    from tests.expected import VOLATILE, expected_analyses

    numbers = sorted(results)[:sample] if sample else sorted(results)
    expected = expected_analyses(book, numbers, AS_OF)
    bad = 0
    for n in numbers:
        got = results[n].get("analysis") or {}
        got = {k: v for k, v in got.items() if k not in VOLATILE}
        if got != expected[n]:
            bad += 1
    return bad


def stack_from(args, **extra) -> Stack:
    """Build the Stack the parsed options describe."""
    return Stack(
        pg=args.pg,
        redis_url=args.redis,
        workers=args.workers,
        api_threads=args.api_threads,
        api_processes=args.api_processes,
        chunk_size=args.chunk_size,
        keep=args.keep,
        server=args.server,
        **extra,
    )
