"""Time from a result's commit to the browser showing it, with the real poller at 2 s.

Loads a book, opens the order-book page (`/`) in Debian's chromium (Playwright, headless);
web/static/ruptura.js enqueues every row and polls every 2 s (its default, honouring
`Retry-After: 2`). For each order it records, on the page (same machine clock:
`performance.timeOrigin + performance.now()`):
  - `event`: when the `ruptura:result` event fired (the poller received the result), and
  - `shown`: when the row's `data-ruptura-result` turned to the final status (the badge).
Two commit times: the analysis's `finished_at` in the database (taken just before the
finishing statement, so it over-states the delay), and, on PostgreSQL, the moment the bench
hears the finish's `NOTIFY ruptura_finish` (delivered at commit; matched by `finish_seq`),
which is the commit itself to within the loopback delivery: `*_commit` figures. `late`
counts results that the first poll of their batch starting after the commit did not bring
(a stale read would show there; it should be 0), and `parts` splits the delay: commit →
next poll start → `ruptura:result` event → row shown. The page is reloaded
`--rounds` times (each load enqueues the orders again, so every round is a fresh set of
analyses). Reports p50/p99/max of shown − finished_at (and of event − finished_at), and
`shown_steady`: the same for results committed after every batch's first poll. Before it,
results wait for that first poll, 2 s after the POST (its `Retry-After: 2`): when the
workers are faster than the interval, those early results show up to 2 s late.

    .venv/bin/python bench/visibility.py --pg postgresql://postgres@127.0.0.1:5432/postgres \\
        --redis redis://127.0.0.1:6379/12 --workers 2
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import statistics
import sys
import threading
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    add_stack_args,
    emit,
    log,
    machine,
    percentile,
    put_book,
    stack_from,
)
from tests.live import CHROMIUM, CHROMIUM_ARGS

RECORDER = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const rec = window.__bench = { events: [], shown: [], idle: 0, seen: {} };
  document.addEventListener('ruptura:result',
    (e) => rec.events.push([String(e.detail.order), now()]));
  document.addEventListener('ruptura:idle', () => { rec.idle = now(); });
  const FINAL = new Set(['ok', 'partial', 'short', 'not_found', 'failed']);
  new MutationObserver((mutations) => {
    const t = now();
    for (const m of mutations) {
      const el = m.target;
      const order = el.getAttribute && el.getAttribute('data-ruptura-order');
      const value = order && el.getAttribute('data-ruptura-result');
      if (value && FINAL.has(value) && !rec.seen[order]) {
        rec.seen[order] = 1;
        rec.shown.push([order, t]);
      }
    }
  }).observe(document, { subtree: true, attributes: true,
                         attributeFilter: ['data-ruptura-result'] });
})();
"""


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--orders",
        type=int,
        default=5000,
        help="orders on the page (5000; the poller POSTs them in batches of 1000)",
    )
    parser.add_argument("--products", type=int, default=200, help="products (200)")
    parser.add_argument("--rounds", type=int, default=3, help="page loads (3)")
    parser.add_argument("--timeout", type=float, default=120, help="per round, s (120)")
    add_stack_args(parser)
    return parser.parse_args(argv)


def commits(stack, since: float) -> dict[str, tuple[float, int | None, str]]:
    """Return order → (finished_at epoch s, finish_seq, batch id) of batches created after
    `since`."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from jobs.models import Analysis, Batch, BatchItem

    engine = stack.engine()
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    BatchItem.order_number,
                    Analysis.finished_at,
                    Analysis.finish_seq,
                    BatchItem.batch_id,
                )
                .join(Analysis, Analysis.id == BatchItem.analysis_id)
                .join(Batch, Batch.id == BatchItem.batch_id)
                .where(Batch.created_at >= datetime.fromtimestamp(since, UTC))
            ).all()
    finally:
        engine.dispose()
    return {
        number: (finished.timestamp(), seq, str(batch))
        for number, finished, seq, batch in rows
        if finished is not None
    }


class CommitClock:
    """Hear every `NOTIFY ruptura_finish` (sent at commit) and when: finish_seq → epoch s."""

    def __init__(self, database_url: str):
        from sqlalchemy.engine import make_url

        from jobs.ledger import FINISH_CHANNEL

        self.heard: dict[int, float] = {}
        self.dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
        self.channel = FINISH_CHANNEL
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("could not LISTEN for finishes")

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f"LISTEN {self.channel}")
            self.ready.set()
            while not self.stop.is_set():
                for note in conn.notifies(timeout=0.5):
                    self.heard.setdefault(int(note.payload), time.time())

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


COMMIT_SERIES = (
    "shown_commit",
    "shown_steady_commit",
    "to_next_poll",
    "poll_to_event",
    "event_to_shown",
)


def polls_by_batch(entries: list, origin: float) -> dict[str, list[tuple[float, float]]]:
    """Group results polls by batch id as (start, end) epoch seconds, in time order."""
    grouped: dict[str, list[tuple[float, float]]] = {}
    for name, start, end, *_ in entries:
        batch = name.rstrip("/").split("/")[-2]  # …/batches/{id}/results
        grouped.setdefault(batch, []).append(((origin + start) / 1000, (origin + end) / 1000))
    for spans in grouped.values():
        spans.sort()
    return grouped


def split_by_commit(rows, heard, batch_polls, shown, event, steady_from, into) -> int:
    """Add each result's delays from its heard commit to the `COMMIT_SERIES` lists of `into`;
    return how many results the first poll after their commit did not bring."""
    late = 0
    starts = {batch: [p[0] for p in spans] for batch, spans in batch_polls.items()}
    for o, (_, seq, batch) in rows.items():
        committed = heard.get(seq)
        if committed is None or o not in shown:
            continue
        into["shown_commit"].append(shown[o] - committed)
        if committed >= steady_from:
            into["shown_steady_commit"].append(shown[o] - committed)
        i = bisect.bisect_left(starts.get(batch, []), committed)
        spans = batch_polls.get(batch, [])
        if i == len(spans) or o not in event:
            continue
        # a batch's polls run one after another (the next is set up once the answer is
        # handled): a result that the first poll after its commit brought is out before the
        # second starts
        if i + 1 < len(spans) and event[o] > spans[i + 1][0]:
            late += 1
        into["to_next_poll"].append(spans[i][0] - committed)
        into["poll_to_event"].append(event[o] - spans[i][0])
        into["event_to_shown"].append(shown[o] - event[o])
    return late


def stats(delays_s: list[float]) -> dict:
    """p50/p99/max/mean of delays, in seconds."""
    if not delays_s:
        return {"count": 0}
    return {
        "count": len(delays_s),
        "p50_s": round(percentile(delays_s, 50), 3),
        "p99_s": round(percentile(delays_s, 99), 3),
        "mean_s": round(statistics.fmean(delays_s), 3),
        "max_s": round(max(delays_s), 3),
        "min_s": round(min(delays_s), 3),
    }


def main(argv=None) -> None:
    from playwright.sync_api import sync_playwright

    from jobs.demo import generate_book

    args = parse(argv)
    book = generate_book(
        seed=5, orders=args.orders, products=args.products, lines=(1, 6), as_of=date.today()
    )
    out = {
        "bench": "visibility",
        "orders": args.orders,
        "rounds": args.rounds,
        "interval_ms": 2000,
        "machine": machine(),
    }
    shown_delays, event_delays, steady_delays, polls, gaps, missing = [], [], [], [], [], 0
    carried: list[tuple[float, int]] = []  # (ms, bytes) of the polls that brought results
    late = 0
    by_commit: dict[str, list[float]] = {name: [] for name in COMMIT_SERIES}
    with stack_from(args) as stack, sync_playwright() as pw:
        out["mode"] = stack.mode
        log(f"loading the book: {args.orders} orders")
        put_book(stack.url, book)
        clock = None if stack.embedded else CommitClock(stack.database_url)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.add_init_script(RECORDER)
        for r in range(args.rounds):
            since = time.time() - 1
            page.goto(f"{stack.url}/?limit={args.orders}")
            page.wait_for_function(
                "(n) => window.__bench.idle && window.__bench.shown.length >= n",
                arg=args.orders,
                timeout=args.timeout * 1000,
            )
            recorded = page.evaluate("window.__bench")
            posts = page.evaluate(
                """() => performance.getEntriesByType('resource')
                     .filter((e) => e.name.endsWith('/api/v1/batches'))
                     .map((e) => performance.timeOrigin + e.responseEnd)"""
            )
            entries = page.evaluate(
                """() => performance.getEntriesByType('resource')
                     .filter((e) => e.name.includes('/results'))
                     .map((e) => [e.name.split('?')[0], e.startTime, e.responseEnd,
                                  e.responseStatus, e.encodedBodySize])"""
            )
            origin = page.evaluate("performance.timeOrigin")
            polls += [end - start for _, start, end, *_ in entries]
            carried += [(end - start, size) for _, start, end, code, size in entries if code == 200]
            batch_polls = polls_by_batch(entries, origin)
            for spans in batch_polls.values():
                gaps += [(b[0] - a[0]) * 1000 for a, b in itertools.pairwise(spans)]
            page.evaluate("performance.clearResourceTimings()")
            rows = commits(stack, since)
            finished = {o: row[0] for o, row in rows.items()}
            shown = {o: t / 1000 for o, t in recorded["shown"]}
            event = {o: t / 1000 for o, t in recorded["events"]}
            # after every batch's first poll (POST + Retry-After: 2), the pollers run their
            # steady 2 s loop; before it, results wait for that first poll
            steady_from = max(posts) / 1000 + 2.0 if posts else 0
            if clock is not None:
                late += split_by_commit(
                    rows, clock.heard, batch_polls, shown, event, steady_from, by_commit
                )
            missing += sum(1 for o in finished if o not in shown)
            round_delays = [shown[o] - finished[o] for o in finished if o in shown]
            shown_delays += round_delays
            steady_delays += [
                shown[o] - finished[o]
                for o in finished
                if o in shown and finished[o] >= steady_from
            ]
            event_delays += [event[o] - finished[o] for o in finished if o in event]
            log(f"round {r + 1}: {len(round_delays)} results, {stats(round_delays)}")
            time.sleep(1)
        browser.close()
        if clock is not None:
            clock.close()
    out["shown"] = stats(shown_delays)
    out["event"] = stats(event_delays)
    out["shown_steady"] = stats(steady_delays)
    if by_commit["shown_commit"]:
        out["shown_commit"] = stats(by_commit["shown_commit"])
        out["shown_steady_commit"] = stats(by_commit["shown_steady_commit"])
        out["late"] = late
        # where the time goes: commit → next poll of its batch starts → the result's event
        # (request, response, JSON parsing) → the row shows it (the next animation frame)
        out["parts"] = {name: stats(by_commit[name]) for name in COMMIT_SERIES[2:]}
    out["poll_request_ms"] = {
        "count": len(polls),
        "p50": round(percentile(polls, 50), 1) if polls else None,
        "p99": round(percentile(polls, 99), 1) if polls else None,
        "max": round(max(polls), 1) if polls else None,
    }
    if carried:
        out["poll_200_ms"] = {
            "count": len(carried),
            "p50": round(percentile([ms for ms, _ in carried], 50), 1),
            "p99": round(percentile([ms for ms, _ in carried], 99), 1),
            "kb_p50": round(percentile([b / 1024 for _, b in carried], 50), 1),
        }
    # start-to-start time between two polls of one batch: 2 s after each response
    out["poll_period_ms"] = {
        "count": len(gaps),
        "p50": round(percentile(gaps, 50), 1) if gaps else None,
        "mean": round(statistics.fmean(gaps), 1) if gaps else None,
        "p99": round(percentile(gaps, 99), 1) if gaps else None,
    }
    out["p50_s"], out["p99_s"] = out["shown"].get("p50_s"), out["shown"].get("p99_s")
    out["missing"] = missing
    emit(out)


if __name__ == "__main__":
    main()
