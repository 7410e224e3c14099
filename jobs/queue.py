"""Redis connections and workers: real Redis, or fakeredis with worker threads."""

import logging
import threading
import uuid

import fakeredis
from redis import Redis
from rq import Queue, SimpleWorker
from rq.timeouts import TimerDeathPenalty

log = logging.getLogger("ruptura.queue")

_FAKE_SERVER = fakeredis.FakeServer()
_connections: dict[str, Redis] = {}


def redis_connection(url: str | None) -> Redis:
    """Return a shared connection to Redis at `url`, or to the in-process fake when None."""
    key = url or "fake://"
    if key not in _connections:
        if url:
            _connections[key] = Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        else:
            _connections[key] = fakeredis.FakeRedis(server=_FAKE_SERVER)
    return _connections[key]


class ThreadWorker(SimpleWorker):
    """A SimpleWorker that can live in a thread: timer timeouts, no signal handlers."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self):
        """Leave signals to the main thread."""


def run_thread_worker(queue: Queue, stop: threading.Event, idle_s: int = 1) -> None:
    """Work the queue in this thread until `stop` is set."""
    while not stop.is_set():
        worker = ThreadWorker(
            [queue], connection=queue.connection, name=f"embedded-{uuid.uuid4().hex[:8]}"
        )
        try:
            worker.work(max_idle_time=idle_s, logging_level="WARNING")
        except Exception:  # keep the embedded worker alive whatever a job did
            log.exception("embedded worker crashed; restarting")
            stop.wait(1)


def start_thread_workers(queue: Queue, count: int) -> threading.Event:
    """Start `count` daemon worker threads; set the returned event to stop them."""
    stop = threading.Event()
    for i in range(count):
        threading.Thread(
            target=run_thread_worker, args=(queue, stop), name=f"ruptura-worker-{i}", daemon=True
        ).start()
    return stop
