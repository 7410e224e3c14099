"""Run RQ workers (with the scheduler) and the ledger sweeper on the configured Redis.

`--workers N` starts N worker processes under a supervisor that restarts any
that die; with one worker (the default) this process is the worker itself.
"""

import argparse
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
import uuid

from rq import SimpleWorker
from rq.worker_registration import REDIS_WORKER_KEYS

from config import Config
from jobs import logs, runtime
from run_api import sweep_forever

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this (forked) process when its parent dies, even by SIGKILL."""
    with contextlib.suppress(OSError):  # not Linux: the scheduler may outlive a killed worker
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def work(burst: bool = False) -> None:
    """Be one worker: a SimpleWorker (jobs run in-process, keeping the product cache warm)."""
    logs.setup(Config.LOG_LEVEL)
    os.register_at_fork(after_in_child=die_with_parent)  # RQ forks its scheduler
    if not Config.REDIS_URL:
        sys.exit("run_worker.py needs REDIS_URL; without it run_api.py runs worker threads itself")
    if Config.WORKER_NICE > 0:  # on a machine shared with the API, polls get the CPU first
        with contextlib.suppress(OSError):
            os.nice(Config.WORKER_NICE)
    rt = runtime.configure(Config)
    stop = threading.Event()
    threading.Thread(target=sweep_forever, args=(rt, stop), name="sweeper", daemon=True).start()
    worker = SimpleWorker(
        [rt.queue], connection=rt.redis, name=f"ruptura-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    )
    logs.event("worker.start", pid=os.getpid(), queue=rt.queue.name, redis=Config.REDIS_URL)
    threading.Thread(
        target=keep_registered, args=(worker, stop), name="registration", daemon=True
    ).start()
    worker.work(burst=burst, with_scheduler=not burst, logging_level=Config.LOG_LEVEL)
    stop.set()


def keep_registered(worker: SimpleWorker, stop: threading.Event, every: float = 2.0) -> None:
    """Register the worker again when Redis has lost it (restarted empty, or flushed).

    RQ retries its connection and goes on working after a Redis outage, but it registers
    only at start: without this the worker would work unseen by `Worker.all` and /stats.
    """
    redis = worker.connection
    while not stop.wait(every):
        try:
            if redis.sismember(REDIS_WORKER_KEYS, worker.key):
                continue
            if redis.hexists(worker.key, "death"):
                continue  # shutting down: RQ unregistered it on purpose
            redis.delete(worker.key)  # a heartbeat may have left a bare hash behind
            worker.register_birth()
            logs.event("worker.registered_again", name=worker.name)
        except Exception:  # Redis still down (RQ logs it), or RQ registering at the same time
            continue


def supervise(count: int) -> None:
    """Keep `count` worker processes alive until SIGTERM/SIGINT."""
    ctx = multiprocessing.get_context("spawn")
    children: list = [None] * count
    not_before = [0.0] * count  # restart backoff per slot: 1 s, 2 s, 4 s … 30 s
    failures = [0] * count
    stopping = threading.Event()

    def shutdown(signum, _frame):
        stopping.set()
        for child in children:
            if child is not None and child.is_alive():
                child.terminate()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    while not stopping.is_set():
        for i, child in enumerate(children):
            if child is not None and child.is_alive():
                if time.monotonic() - not_before[i] > 60:
                    failures[i] = 0  # up for a minute: a later death starts the backoff anew
                continue
            if time.monotonic() < not_before[i]:
                continue
            if child is not None:
                failures[i] += 1
                logs.event("worker.restart", slot=i, exitcode=child.exitcode, failures=failures[i])
            not_before[i] = time.monotonic() + min(30, 2 ** max(0, failures[i] - 1))
            children[i] = ctx.Process(target=work, name=f"ruptura-worker-{i}")
            children[i].start()
        time.sleep(0.5)
    for child in children:
        if child is not None:
            child.join(timeout=30)


def main(argv=None) -> None:
    """Parse arguments and work."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--burst", action="store_true", help="quit when the queue is empty")
    args = parser.parse_args(argv)
    if args.workers <= 1:
        work(burst=args.burst)
    else:
        supervise(args.workers)


if __name__ == "__main__":
    main()
