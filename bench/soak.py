"""Soak: many pollers follow their own batches for a while; count errors, losses and memory.

Each of `--pollers` threads POSTs its own batch of `--batch-size` random orders of the book,
follows it like the browser poller does (results endpoint with the cursor and `If-None-Match`,
every `--interval` s with ±10 % jitter, honouring `Retry-After` on 429/503) until nothing is
pending, and enqueues a new batch every `--enqueue-every` s, for `--duration` s. Then the
batches still open are followed to the end (at most `--drain-timeout` s).

Counted: every response that is not 2xx/304 except 429 is an error (connection failures too);
an order is lost if its batch did not return a result for it by the end of the drain (on an
overloaded machine, raise `--drain-timeout` before calling that a loss); results with status
`failed` are counted apart. The RSS of the API process and of the worker processes (with
their forked schedulers) is sampled every second; memory is "flat" when, after a warm-up of
20 % of the run, the average of the last third of the samples is within `--flat-pct` % of
the first third's. CPU used by the API, the workers and this load generator is reported too
(on a small machine the three share the cores).

By default the script starts its own stack (bench/common.py `Stack`: embedded SQLite, or
`--pg URL --redis URL --workers N` for a fresh PostgreSQL database, a private queue name and N
`run_worker.py` processes), with one API token per poller and the rate limits ON (each poller
is a client with its own limit, as in production). `--url` targets a running stack instead
(loopback only; `--token` if it needs one; memory is then sampled for `--api-pid` /
`--worker-pid` if given). Prints progress to stderr and ONE JSON line of figures to stdout;
exits 1 when there were errors, lost or failed orders, or the memory was not flat.

    .venv/bin/python bench/soak.py --duration 60 --pollers 200 \\
        --pg postgresql://postgres@127.0.0.1:5432/postgres --redis redis://127.0.0.1:6379/12
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
import requests

from bench.common import AS_OF, Stack, add_stack_args, emit, log, machine, percentile

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
RESOLVED = {"done", "not_found"}


# --- one poller -------------------------------------------------------------------------------


class Stats:
    """Counters shared by the pollers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.status: Counter[str] = Counter()
        self.errors: list[str] = []
        self.latencies_ms: list[float] = []  # results endpoint only
        self.batches = 0
        self.requested = 0
        self.resolved = 0
        self.lost = 0
        self.failed = 0
        self.resolve_s: list[float] = []

    def response(self, status: int | str, latency_ms: float | None = None, detail: str = ""):
        """Record one response (or a transport failure as status 'exception')."""
        with self.lock:
            self.status[str(status)] += 1
            if latency_ms is not None:
                self.latencies_ms.append(latency_ms)
            is_error = status == "exception" or not (
                200 <= int(status) < 300 or int(status) in (304, 429)
            )
            if is_error and len(self.errors) < 20:
                self.errors.append(f"{status} {detail}"[:300])

    @property
    def error_count(self) -> int:
        """Responses that count as errors."""
        return sum(
            n
            for status, n in self.status.items()
            if status == "exception" or not (200 <= int(status) < 300 or status in ("304", "429"))
        )


class Poller(threading.Thread):
    """One client: enqueue a batch, follow it to the end, again every `enqueue_every` s."""

    def __init__(self, index: int, args, numbers: list[str], stats: Stats, token: str | None):
        super().__init__(name=f"poller-{index}", daemon=True)
        self.args, self.numbers, self.stats = args, numbers, stats
        self.rng = random.Random(args.seed * 100_003 + index)
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"
        self.stop_enqueuing = 0.0  # monotonic time after which no new batch is posted
        self.give_up = 0.0  # monotonic time after which a batch is no longer followed

    def call(self, method: str, url: str, **kwargs) -> requests.Response | None:
        """Make one request; record it; None on a transport failure."""
        started = time.perf_counter()
        try:
            response = self.http.request(method, url, timeout=30, **kwargs)
        except requests.RequestException as exc:
            self.stats.response("exception", detail=f"{method} {url}: {exc!r}")
            return None
        latency = (time.perf_counter() - started) * 1000 if "/results" in url else None
        self.stats.response(response.status_code, latency, f"{method} {url}: {response.text[:200]}")
        return response

    def pause(self, response: requests.Response | None) -> None:
        """Sleep one interval (with jitter), or what Retry-After asks on 429/503."""
        wait = self.args.interval * self.rng.uniform(0.9, 1.1)
        if response is not None and response.status_code in (429, 503):
            with contextlib.suppress(ValueError):
                wait = max(wait, float(response.headers.get("Retry-After", wait)))
        time.sleep(wait)

    def post(self) -> dict | None:
        """Enqueue a batch of random orders; retry after Retry-After on 429/503."""
        orders = self.rng.sample(self.numbers, min(self.args.batch_size, len(self.numbers)))
        while time.monotonic() < self.stop_enqueuing:
            response = self.call(
                "POST",
                f"{self.args.url}/api/v1/batches",
                json={"orders": orders, "as_of": AS_OF.isoformat()},
            )
            if response is not None and response.status_code == 202:
                body = response.json()
                body["orders"] = orders
                return body
            self.pause(response)
        return None

    def follow(self, batch: dict) -> None:
        """Poll a batch's results with the cursor and ETag until nothing is pending."""
        started = time.monotonic()
        seen: dict[str, str] = {}
        cursor, etag = None, None
        url = self.args.url + batch["results_url"]
        while time.monotonic() < self.give_up:
            params = {"since": cursor} if cursor else {}
            headers = {"If-None-Match": etag} if etag else {}
            response = self.call("GET", url, params=params, headers=headers)
            if response is not None and response.status_code == 200:
                body = response.json()
                for item in body["results"]:
                    seen[item["order"]] = item["status"]
                cursor, etag = body["cursor"], response.headers.get("ETag")
                if body["pending"] == 0:
                    break
                if len(body["results"]) >= 1000:
                    continue  # a full page: the next one at once
            self.pause(response)
        missing = [n for n in batch["orders"] if n not in seen]
        with self.stats.lock:
            self.stats.batches += 1
            self.stats.requested += len(batch["orders"])
            self.stats.resolved += sum(1 for s in seen.values() if s in RESOLVED)
            self.stats.failed += sum(1 for s in seen.values() if s not in RESOLVED)
            self.stats.lost += len(missing)
            if not missing:
                self.stats.resolve_s.append(time.monotonic() - started)

    def run(self) -> None:
        time.sleep(self.rng.uniform(0, self.args.ramp))  # pollers arrive over the ramp
        while time.monotonic() < self.stop_enqueuing:
            posted = time.monotonic()
            batch = self.post()
            if batch is None:
                break
            self.follow(batch)
            time.sleep(
                max(
                    0.0,
                    min(posted + self.args.enqueue_every, self.stop_enqueuing) - time.monotonic(),
                )
            )
        self.http.close()


# --- memory ---------------------------------------------------------------------------------


class RssSampler(threading.Thread):
    """Sample the RSS (MB) of the API and of the workers (with their children) every second."""

    def __init__(self, api_pids: list[int], worker_pids: list[int], interval: float = 1.0):
        super().__init__(name="rss", daemon=True)
        self.api_pids, self.worker_pids, self.interval = api_pids, worker_pids, interval
        self.samples: list[tuple[float, float, float]] = []  # (t, api MB, workers MB)
        self.halt = threading.Event()
        self.t0 = time.monotonic()

    @staticmethod
    def rss(pids: list[int]) -> float:
        total = 0
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                total += proc.memory_info().rss
                total += sum(c.memory_info().rss for c in proc.children(recursive=True))
            except psutil.Error:
                continue
        return total / 2**20

    @staticmethod
    def cpu(pids: list[int], children: bool = True) -> float:
        """CPU seconds (user + system) used so far by processes (and their live children)."""
        total = 0.0
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                for p in (proc, *(proc.children(recursive=True) if children else ())):
                    times = p.cpu_times()
                    total += times.user + times.system
            except psutil.Error:
                continue
        return total

    def run(self) -> None:
        while not self.halt.is_set():
            t = time.monotonic() - self.t0
            self.samples.append((t, self.rss(self.api_pids), self.rss(self.worker_pids)))
            self.halt.wait(self.interval)


def flatness(samples: list[tuple[float, float, float]], start: float, end: float, pct: float):
    """Compare the first and last thirds of the samples in [start, end]; return figures."""
    window = [s for s in samples if start <= s[0] <= end]
    out = {}
    flat = True
    for index, name in ((1, "api"), (2, "workers")):
        values = [s[index] for s in window]
        if len(values) < 3 or not any(values):
            out[name] = None
            continue
        third = len(values) // 3
        first = sum(values[:third]) / third
        last = sum(values[-third:]) / third
        growth = (last - first) / first * 100 if first else 0.0
        flat = flat and growth <= pct
        out[name] = {
            "first_third_mb": round(first, 1),
            "last_third_mb": round(last, 1),
            "max_mb": round(max(values), 1),
            "growth_pct": round(growth, 1),
        }
    return out, flat and any(out.values())


# --- the run --------------------------------------------------------------------------------


def check_loopback(url: str) -> None:
    """Refuse anything but the loopback."""
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        raise SystemExit(f"--url must be a loopback address ({', '.join(sorted(LOOPBACK))})")


def put_book(url: str, book: dict, token: str | None) -> None:
    """PUT a generated book through the API."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for key in ("products", "stock", "receipts", "orders", "sales", "supplier_offers"):
        response = requests.put(
            f"{url}/api/v1/{key.replace('_', '-')}", json=book[key], headers=headers, timeout=600
        )
        response.raise_for_status()


def soak(args, api_pids: list[int], worker_pids: list[int], tokens: list[str | None]) -> dict:
    """Load the book, run the pollers, and return the figures."""
    from jobs.demo import generate_book

    book = generate_book(seed=args.seed, orders=args.orders, products=args.products, as_of=AS_OF)
    log(f"loading a book of {args.orders} orders over {args.products} products")
    put_book(args.url, book, tokens[0])
    numbers = [o["number"] for o in book["orders"]]
    stats = Stats()
    sampler = RssSampler(api_pids, worker_pids)
    cpu_before = [
        sampler.cpu(api_pids),
        sampler.cpu(worker_pids),
        sampler.cpu([os.getpid()], False),
    ]
    sampler.start()
    pollers = [
        Poller(i, args, numbers, stats, tokens[i % len(tokens)]) for i in range(args.pollers)
    ]
    started = time.monotonic()
    for p in pollers:
        p.stop_enqueuing = started + args.duration
        p.give_up = started + args.duration + args.drain_timeout
        p.start()
    log(f"{args.pollers} pollers for {args.duration} s")
    for p in pollers:
        p.join(timeout=max(0.0, p.give_up - time.monotonic()) + 60)
    ended = time.monotonic()
    cpu_after = [sampler.cpu(api_pids), sampler.cpu(worker_pids), sampler.cpu([os.getpid()], False)]
    sampler.halt.set()
    sampler.join()
    warmup = max(5.0, 0.2 * args.duration)
    memory, flat = flatness(sampler.samples, warmup, args.duration, args.flat_pct)
    elapsed = ended - started
    total = sum(stats.status.values())
    figures = {
        "bench": "soak",
        "duration_s": args.duration,
        "elapsed_s": round(elapsed, 1),
        "drain_s": round(max(0.0, elapsed - args.duration), 1),
        "pollers": args.pollers,
        "batch_size": args.batch_size,
        "interval_s": args.interval,
        "enqueue_every_s": args.enqueue_every,
        "book_orders": args.orders,
        "batches": stats.batches,
        "orders_requested": stats.requested,
        "orders_resolved": stats.resolved,
        "lost": stats.lost,
        "failed": stats.failed,
        "requests": total,
        "requests_per_s": round(total / elapsed, 1) if elapsed else None,
        "status_counts": dict(sorted(stats.status.items())),
        "not_modified_share": round(stats.status["304"] / total, 3) if total else None,
        "errors": stats.error_count,
        "rate_limited": stats.status["429"],
        "error_samples": stats.errors[:5],
        "results_p50_ms": _round(percentile(stats.latencies_ms, 50)),
        "results_p99_ms": _round(percentile(stats.latencies_ms, 99)),
        "batch_resolve_p50_s": _round(percentile(stats.resolve_s, 50)),
        "batch_resolve_max_s": _round(max(stats.resolve_s, default=None)),
        "rss": memory,
        "rss_samples": len(sampler.samples),
        "cpu_cores_used": {
            name: round((after - before) / (ended - started), 2)
            for name, before, after in zip(
                ("api", "workers", "load_generator"), cpu_before, cpu_after, strict=True
            )
        },
        "memory_flat": flat,
        "flat_pct": args.flat_pct,
        "stuck_pollers": sum(p.is_alive() for p in pollers),
    }
    figures["ok"] = (
        figures["errors"] == 0
        and figures["lost"] == 0
        and figures["failed"] == 0
        and figures["stuck_pollers"] == 0
        and flat
    )
    return figures


def _round(value, digits: int = 2):
    return None if value is None else round(value, digits)


def parse(argv=None):
    """Parse the options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (60)")
    parser.add_argument("--pollers", type=int, default=200, help="concurrent pollers (200)")
    parser.add_argument("--batch-size", type=int, default=200, help="orders per batch (200)")
    parser.add_argument("--interval", type=float, default=2.0, help="poll interval, s (2)")
    parser.add_argument(
        "--enqueue-every", type=float, default=20, help="each poller posts a batch every N s (20)"
    )
    parser.add_argument("--ramp", type=float, default=5, help="pollers arrive over N s (5)")
    parser.add_argument(
        "--drain-timeout", type=float, default=300, help="follow open batches at most N s (300)"
    )
    parser.add_argument("--orders", type=int, default=2000, help="orders in the book (2000)")
    parser.add_argument("--products", type=int, default=100, help="products in the book (100)")
    parser.add_argument("--seed", type=int, default=5, help="book and sampling seed")
    parser.add_argument("--flat-pct", type=float, default=15, help="memory growth allowed, %%")
    parser.add_argument("--url", help="a running stack (loopback only) instead of starting one")
    parser.add_argument("--token", help="bearer token for --url")
    parser.add_argument("--api-pid", type=int, action="append", default=[], help="with --url")
    parser.add_argument("--worker-pid", type=int, action="append", default=[], help="with --url")
    parser.add_argument(
        "--no-limits",
        action="store_true",
        help="own stack: no API tokens and no rate limits (default: a token per poller)",
    )
    add_stack_args(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Run the soak and print the figures."""
    args = parse(argv)
    if args.url:
        check_loopback(args.url)
        figures = soak(args, args.api_pid, args.worker_pid, [args.token])
        figures["mode"] = "external"
    else:
        tokens: list[str | None] = [None]
        env = {}
        if not args.no_limits:
            tokens = [f"soak-{i}-{uuid.uuid4().hex[:12]}" for i in range(args.pollers)]
            env = {"RUPTURA_API_TOKENS": ",".join(tokens), "RUPTURA_RATELIMIT_ENABLED": "true"}
        stack = Stack(
            pg=args.pg,
            redis_url=args.redis,
            workers=args.workers,
            api_threads=args.api_threads,
            chunk_size=args.chunk_size,
            keep=args.keep,
            env=env,
        )
        with stack:
            args.url = stack.url
            api = [stack.api.pid]
            workers = [] if stack.embedded else [w.pid for w in stack.worker_procs]
            figures = soak(args, api, workers, tokens)
            figures["mode"] = stack.mode
            figures["rate_limits"] = not args.no_limits
    figures["machine"] = machine()
    emit(figures)
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
