"""Pipeline throughput: POST one batch of the whole book, time until every result is readable.

Generates the deterministic book (default 10 000 orders x 5 lines over 500 products), loads
it through the API, POSTs one batch of every order and polls the results endpoint with the
cursor (full pages at once, otherwise every 0.2 s, with the ETag) until nothing is pending.
Reports seconds, orders/s and the peak RSS of the worker processes (sampled every 50 ms;
embedded mode: the API process, which hosts the worker threads). Then the first --baseline-orders orders go through the
straightforward baseline (bench/baseline.py: one RQ job per order, per-order queries, no
cache) on the same workers, after an ANALYZE (the optimised run gets no statistics: it runs
right after the load), and the speed-up is printed. Every result of both runs is checked
against the pure engine.

    .venv/bin/python bench/pipeline.py                        # embedded SQLite, 2 threads
    .venv/bin/python bench/pipeline.py --pg postgresql://postgres@127.0.0.1:5432/postgres \\
        --redis redis://127.0.0.1:6379/12 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from bench.common import (
    AS_OF,
    MemorySampler,
    PySpy,
    add_stack_args,
    check_results,
    emit,
    log,
    machine,
    make_book,
    post_batch,
    put_book,
    read_all,
    stack_from,
)


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=10_000, help="orders in the book (10000)")
    parser.add_argument("--products", type=int, default=500, help="products (500)")
    parser.add_argument("--lines", type=int, default=5, help="lines per order (5)")
    parser.add_argument("--seed", type=int, default=7, help="book seed (7)")
    parser.add_argument(
        "--baseline-orders",
        type=int,
        default=1000,
        help="the first N orders of the book go through the baseline too (1000; 0 skips it). "
        "It analyses every order from scratch, so its orders/s do not depend on N; the whole "
        "10 000 would take longer than a bench run should",
    )
    parser.add_argument("--no-check", action="store_true", help="skip the result check")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="record py-spy profiles of the API and the workers during the optimised run "
        "into DIR and print a summary to stderr",
    )
    parser.add_argument("--timeout", type=float, default=480, help="per-run timeout, s (480)")
    add_stack_args(parser)
    return parser.parse_args(argv)


def run_optimised(
    stack, http, numbers: list[str], timeout: float, profile: str | None = None
) -> tuple[dict, dict]:
    """POST one batch of every order and read every result; return figures and results."""
    spy = contextlib.nullcontext()
    if profile:
        targets = {"api": stack.api.pid}
        if not stack.embedded:
            targets.update({f"worker{i}": pid for i, pid in enumerate(stack.worker_pids())})
        spy = PySpy(targets, Path(profile))
    with spy, MemorySampler(stack.worker_pids()) as memory:
        start = time.perf_counter()
        batch = post_batch(http, stack.url, numbers)
        posted = time.perf_counter() - start
        results, _, polls = read_all(http, stack.url, batch, timeout=timeout)
        seconds = time.perf_counter() - start
    if profile:
        log("profile:\n" + spy.summarise())
    figures = {
        "seconds": round(seconds, 3),
        "orders_per_s": round(len(numbers) / seconds, 1),
        "post_s": round(posted, 3),
        "result_polls": polls,
        **memory.figures(),
    }
    return figures, results


def run_baseline(stack, http, numbers: list[str], timeout: float) -> tuple[dict, dict]:
    """Send the orders through bench/baseline.py (one job per order); return figures, results."""
    from bench.baseline import enqueue_baseline
    from config import Config
    from jobs import runtime
    from jobs.queue import start_thread_workers

    settings = type(
        "BenchSettings",
        (Config,),
        {
            "DATABASE_URL": stack.database_url,
            "REDIS_URL": stack.redis_url,
            "QUEUE_NAME": stack.queue,
        },
    )
    rt = runtime.configure(settings)
    stop = None
    pids = stack.worker_pids()
    if stack.embedded:
        # The API's fake queue lives inside the API process: the baseline gets the same kind of
        # queue (fakeredis) and worker threads here, in the bench process.
        import os

        stop = start_thread_workers(rt.queue, stack.workers)
        pids = [os.getpid()]
    try:
        with MemorySampler(pids) as memory:
            start = time.perf_counter()
            batch_id = enqueue_baseline(rt, rt.queue, numbers, AS_OF)
            enqueued = time.perf_counter() - start
            batch = {
                "total": len(numbers),
                "results_url": f"/api/v1/batches/{batch_id}/results",
            }
            results, _, polls = read_all(http, stack.url, batch, timeout=timeout)
            seconds = time.perf_counter() - start
    finally:
        if stop is not None:
            stop.set()
        rt.engine.dispose()
    figures = {
        "seconds": round(seconds, 3),
        "orders_per_s": round(len(numbers) / seconds, 1),
        "enqueue_s": round(enqueued, 3),
        "result_polls": polls,
        **memory.figures(),
    }
    return figures, results


def analyze(stack) -> None:
    """Refresh the planner statistics of the stack's database."""
    from sqlalchemy import text

    engine = stack.engine()
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("ANALYZE"))
            conn.commit()
    finally:
        engine.dispose()


def main(argv=None) -> None:
    args = parse(argv)
    book = make_book(args.orders, args.products, args.lines, args.seed)
    numbers = [o["number"] for o in book["orders"]]
    out = {
        "bench": "pipeline",
        "orders": len(numbers),
        "products": args.products,
        "lines": args.lines,
        "workers": args.workers,
        "chunk_size": args.chunk_size,
        "machine": machine(),
    }
    with stack_from(args) as stack:
        out["mode"] = stack.mode
        log(
            f"loading the book: {len(numbers)} orders x {args.lines} lines, {args.products} products"
        )
        out["load_s"] = round(put_book(stack.url, book), 2)
        with requests.Session() as http:
            log("optimised run: one batch of every order")
            figures, results = run_optimised(stack, http, numbers, args.timeout, args.profile)
            if not args.no_check:
                figures["mismatches"] = check_results(book, results)
            out["optimised"] = figures
            log(f"optimised: {figures}")
            count = min(args.baseline_orders, len(numbers))
            if count:
                # Without planner statistics (a freshly loaded book) the baseline's join runs as
                # a nested loop over every order (~0.5 s a query on PostgreSQL): give it them.
                analyze(stack)
                log(f"baseline run: {count} jobs, one per order")
                base, base_results = run_baseline(stack, http, numbers[:count], args.timeout)
                if not args.no_check:
                    base["mismatches"] = check_results(book, base_results)
                base["orders"] = count
                out["baseline"] = base
                out["speedup"] = round(figures["orders_per_s"] / base["orders_per_s"], 1)
                log(f"baseline: {base}")
    emit(out)


if __name__ == "__main__":
    main()
