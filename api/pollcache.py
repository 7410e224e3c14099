"""A per-process cache of batch counts for the results endpoint, kept exact by LISTEN/NOTIFY.

Most polls find nothing new and are answered 304 from a batch's counts. The counts of a
batch that already has results change only when some analysis finishes, and every finish
on PostgreSQL sends `NOTIFY ruptura_finish` in its transaction (delivered at commit). A
thread of each API process LISTENs and counts the notifications; counts read *after* the
count was taken stay valid until it moves. So an unchanged poll is answered without
touching the database, and a poll after a commit never gets stale counts. (Any
notification invalidates every entry: the payload, the finish_seq, is informative only,
so a counter that goes back, as after a restore, cannot fool the cache.)

Whenever the listening connection is down (or on SQLite) the cache is off and every poll
reads the database, as before. Counts of a batch with no result yet are never cached: a
claim (queued → running) changes its state without a finish.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable

from jobs.ledger import FINISH_CHANNEL as CHANNEL

MAX_ENTRIES = 50_000

log = logging.getLogger("ruptura.pollcache")


class FinishWatch:
    """Listen for finish notifications on one PostgreSQL database; cache counts meanwhile."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self._lock = threading.Lock()
        self._epoch = 0  # a new one whenever listening (re)starts or stops
        self._heard: int | None = None  # notifications heard; None: not listening, cache off
        self._entries: dict[Hashable, tuple[tuple[int, int], dict]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ruptura-finish-watch", daemon=True)
        self._thread.start()

    # --- the request side ------------------------------------------------------------------

    def marker(self) -> tuple[int, int] | None:
        """Return the current (epoch, notifications heard), or None while not listening.
        Take it BEFORE reading the counts it will validate."""
        with self._lock:
            return None if self._heard is None else (self._epoch, self._heard)

    def get(self, key: Hashable, marker: tuple[int, int] | None) -> dict | None:
        """Return cached counts still valid at `marker`, or None."""
        if marker is None:
            return None
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] == marker else None

    def put(self, key: Hashable, marker: tuple[int, int] | None, counts: dict) -> None:
        """Remember counts read after `marker` was taken, if they can be cached."""
        if marker is None:
            return
        finished = counts["done"] + counts["failed"] + counts["not_found"]
        if not finished and counts["queued"] + counts["running"]:
            return  # no result yet: its state can change on a claim, which sends nothing
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (marker, dict(counts))

    def stop(self) -> None:
        """Stop listening (the thread ends within a second)."""
        self._stop.set()

    # --- the listening thread ----------------------------------------------------------------

    def _listening(self, on: bool) -> None:
        """Start a new epoch: listening from now on (count from 0), or not (cache off)."""
        with self._lock:
            self._epoch += 1
            self._heard = 0 if on else None
            self._entries.clear()

    def _heard_one(self) -> None:
        with self._lock:
            if self._heard is not None:
                self._heard += 1

    def _run(self) -> None:
        import psycopg

        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening(True)  # anything that commits from now on is announced
                    delay = 0.5
                    while not self._stop.is_set():
                        for _note in conn.notifies(timeout=1.0):
                            self._heard_one()
            except Exception as exc:  # the database went away: cache off until we listen again
                self._listening(False)
                log.debug("finish watch down: %r", exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 10)
        self._listening(False)


_watches: dict[str, FinishWatch] = {}
_by_engine: dict[int, tuple[object, FinishWatch | None]] = {}
_watches_lock = threading.Lock()


def watch_for(engine) -> FinishWatch | None:
    """Return this process's watch of the engine's database (PostgreSQL only), starting it."""
    known = _by_engine.get(id(engine))
    if known is not None and known[0] is engine:
        return known[1]
    watch = None
    if engine.dialect.name == "postgresql":
        dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with _watches_lock:
            watch = _watches.get(dsn)
            if watch is None:  # the first polls just miss the cache until it listens
                watch = _watches[dsn] = FinishWatch(dsn)
    _by_engine[id(engine)] = (engine, watch)
    return watch
