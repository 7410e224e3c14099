"""Latency of a synchronous analysis: `GET /orders/{n}/analysis?fresh=true` on a large book.

Loads the book (default 10 000 orders x 5 lines, 500 products), then one client asks for
`--requests` random orders (fixed seed) one after the other over a keep-alive connection.
Reports p50/p99/mean/max, and separately the first `--cold` requests (the API process's
product cache is empty after the load: they pay for reading their products' demand) and
the rest. No worker is involved; `--workers` only sizes the stack like the other benches.

    .venv/bin/python bench/fresh.py --pg postgresql://postgres@127.0.0.1:5432/postgres \\
        --redis redis://127.0.0.1:6379/12
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from bench.common import (
    AS_OF,
    add_stack_args,
    check_results,
    emit,
    log,
    machine,
    make_book,
    percentile,
    put_book,
    stack_from,
)


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=10_000, help="orders in the book (10000)")
    parser.add_argument("--products", type=int, default=500, help="products (500)")
    parser.add_argument("--lines", type=int, default=5, help="lines per order (5)")
    parser.add_argument("--requests", type=int, default=1000, help="requests (1000)")
    parser.add_argument("--cold", type=int, default=20, help="first N reported apart (20)")
    parser.add_argument("--seed", type=int, default=1, help="order choice seed (1)")
    add_stack_args(parser, workers=0)
    return parser.parse_args(argv)


def figures(latencies_ms: list[float]) -> dict:
    """p50/p99/mean/max of a list of milliseconds."""
    if not latencies_ms:
        return {}
    return {
        "count": len(latencies_ms),
        "p50_ms": round(percentile(latencies_ms, 50), 2),
        "p99_ms": round(percentile(latencies_ms, 99), 2),
        "mean_ms": round(statistics.fmean(latencies_ms), 2),
        "max_ms": round(max(latencies_ms), 2),
    }


def main(argv=None) -> None:
    args = parse(argv)
    book = make_book(args.orders, args.products, args.lines)
    numbers = [o["number"] for o in book["orders"]]
    rng = random.Random(args.seed)
    chosen = [rng.choice(numbers) for _ in range(args.requests)]
    out = {
        "bench": "fresh",
        "orders": len(numbers),
        "products": args.products,
        "machine": machine(),
    }
    with stack_from(args) as stack, requests.Session() as http:
        out["mode"] = stack.mode
        log(f"loading the book: {len(numbers)} orders")
        put_book(stack.url, book)
        latencies, results = [], {}
        for number in chosen:
            start = time.perf_counter()
            response = http.get(
                f"{stack.url}/api/v1/orders/{number}/analysis",
                params={"fresh": "true", "as_of": AS_OF.isoformat()},
                timeout=30,
            )
            latencies.append((time.perf_counter() - start) * 1000)
            response.raise_for_status()
            results[number] = {"analysis": response.json()}
        out["all"] = figures(latencies)
        out["cold"] = figures(latencies[: args.cold])
        out["warm"] = figures(latencies[args.cold :])
        out["p50_ms"], out["p99_ms"] = out["all"]["p50_ms"], out["all"]["p99_ms"]
        out["mismatches"] = check_results(book, results)
    emit(out)


if __name__ == "__main__":
    main()
