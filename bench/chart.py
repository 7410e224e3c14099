"""Throughput against batch size and worker count, and its chart (docs/perf-throughput.png).

For each worker count (default 1, 2, 4) one stack is started and the book (default
10 000 orders x 5 lines, 500 products) loaded once; then for each batch size (default
1 000, 5 000, 10 000) the stock is PUT again (a new data version: the run starts with cold
product caches, as after any data change) and one batch of the first N orders is POSTed and
read to the end, as in bench/pipeline.py; then the same orders once more on the same data
version (warm caches: new analyses, nothing to load). Prints one JSON line with every
figure, saves them (--save), and draws orders/s against batch size, one line per worker
count. `--from FILE` redraws a saved run without measuring.

    .venv/bin/python bench/chart.py --pg postgresql://postgres@127.0.0.1:5432/postgres \\
        --redis redis://127.0.0.1:6379/12 --save bench/results/throughput.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from bench.common import (
    ROOT,
    Stack,
    emit,
    log,
    machine,
    make_book,
    put_book,
)
from bench.pipeline import run_optimised

DEFAULT_OUT = ROOT / "docs" / "perf-throughput.png"


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,5000,10000", help="batch sizes (1000,5000,10000)")
    parser.add_argument("--workers", default="1,2,4", help="worker counts (1,2,4)")
    parser.add_argument("--orders", type=int, default=10_000, help="orders in the book (10000)")
    parser.add_argument("--products", type=int, default=500, help="products (500)")
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL server URL (else embedded)")
    parser.add_argument("--redis", metavar="URL", help="Redis URL (with --pg)")
    parser.add_argument("--api-processes", type=int, default=1, help="run_api.py --processes (1)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"PNG ({DEFAULT_OUT})")
    parser.add_argument("--save", metavar="FILE", help="also save the figures as JSON")
    parser.add_argument("--from", dest="source", metavar="FILE", help="redraw saved figures")
    return parser.parse_args(argv)


def measure(args) -> dict:
    """Run every (workers, size) combination; return the figures."""
    sizes = [int(s) for s in args.sizes.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    book = make_book(args.orders, args.products, 5)
    numbers = [o["number"] for o in book["orders"]]
    runs = []
    for count in workers:
        with Stack(
            pg=args.pg, redis_url=args.redis, workers=count, api_processes=args.api_processes
        ) as stack:
            put_book(stack.url, book)
            with requests.Session() as http:
                for size in sizes:
                    # a new data version: the workers' product caches start cold; then the
                    # same orders again on the same version: warm caches
                    http.put(stack.url + "/api/v1/stock", json=book["stock"], timeout=60)
                    for cache in ("cold", "warm"):
                        time.sleep(1)
                        figures, results = run_optimised(stack, http, numbers[:size], 480)
                        if len(results) != size:
                            raise RuntimeError(f"{len(results)} results for {size} orders")
                        run = {"workers": count, "batch": size, "cache": cache}
                        run.update(mode=stack.mode, **figures)
                        log(f"{run}")
                        runs.append(run)
    return {"bench": "chart", "orders": args.orders, "machine": machine(), "runs": runs}


def draw(data: dict, out: str) -> None:
    """Plot orders/s against batch size, one line per worker count (solid cold, dashed warm)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 5), dpi=120)
    series: dict[tuple, list] = {}
    for run in data["runs"]:
        series.setdefault((run["workers"], run.get("cache", "cold")), []).append(run)
    counts = sorted({count for count, _ in series})
    colours = dict(zip(counts, ["tab:blue", "tab:orange", "tab:green", "tab:red"], strict=False))
    shift = {count: (i - (len(counts) - 1) / 2) * 22 for i, count in enumerate(counts)}
    for (count, cache), runs in sorted(series.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        runs.sort(key=lambda r: r["batch"])
        xs = [r["batch"] for r in runs]
        ys = [r["orders_per_s"] for r in runs]
        ax.plot(
            xs,
            ys,
            marker="o" if cache == "cold" else "s",
            linestyle="-" if cache == "cold" else "--",
            color=colours.get(count),
            label=f"{count} worker{'s' if count > 1 else ''}, {cache} cache",
        )
        for x, y in zip(xs, ys, strict=True):
            ax.annotate(
                f"{y:.0f}",
                (x, y),
                textcoords="offset points",
                xytext=(shift[count], 8 if cache == "warm" else -14),
                ha="center",
                fontsize=7,
                color=colours.get(count),
            )
    ax.set_xscale("log")
    sizes = sorted({r["batch"] for r in data["runs"]})
    ax.set_xticks(sizes)
    ax.set_xticklabels([f"{s:,}".replace(",", " ") for s in sizes])
    ax.minorticks_off()
    ax.set_xlim(sizes[0] / 1.4, sizes[-1] * 1.4)
    ax.axhline(1000, color="grey", linestyle=":", linewidth=1)
    ax.annotate(
        "target §7: 1 000 orders/s (10 000 orders, 2 workers)",
        (sizes[-1] * 1.35, 1000),
        textcoords="offset points",
        xytext=(0, -11),
        ha="right",
        fontsize=7,
        color="grey",
    )
    mode = data["runs"][0]["mode"] if data["runs"] else ""
    ax.set_title(
        f"POST to every result readable — {data['machine']['cpus']} cores, {mode.split('+')[0]}"
        f"{' + Redis' if 'redis' in mode else ''}\n"
        "cold: first batch after a data change · warm: the workers' product caches are full",
        fontsize=10,
    )
    ax.set_xlabel("orders in the batch (5 lines each, 500 products, 10 000-order book)")
    ax.set_ylabel("orders / s")
    ax.set_ylim(0, max(r["orders_per_s"] for r in data["runs"]) * 1.15)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="lower right")
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    log(f"chart written to {out}")


def main(argv=None) -> None:
    args = parse(argv)
    if args.source:
        data = json.loads(Path(args.source).read_text())
    else:
        data = measure(args)
        if args.save:
            Path(args.save).parent.mkdir(parents=True, exist_ok=True)
            Path(args.save).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    draw(data, args.out)
    emit(data)


if __name__ == "__main__":
    main()
