"""Serve the API and pages; in the embedded mode also run worker threads and the sweeper."""

import argparse
import contextlib
import ctypes
import multiprocessing
import os
import signal
import socket
import threading

from sqlalchemy.engine import make_url
from waitress import serve

from api import create_app
from config import Config
from jobs import logs, migrate, runtime, tasks
from jobs.queue import start_thread_workers

PR_SET_PDEATHSIG = 1


def sweep_forever(rt: runtime.Runtime, stop: threading.Event) -> None:
    """Run the ledger sweeper every SWEEP_INTERVAL_S until stopped."""
    while not stop.wait(rt.settings["SWEEP_INTERVAL_S"]):
        try:
            tasks.sweep(rt)
        except Exception as exc:  # the sweeper must outlive a database or Redis outage
            logs.event("sweeper.error", error=repr(exc))


def start_background(rt: runtime.Runtime, workers: int) -> threading.Event:
    """Start embedded worker threads and the sweeper thread; return their stop event."""
    stop = start_thread_workers(rt.queue, workers) if workers else threading.Event()
    threading.Thread(target=sweep_forever, args=(rt, stop), name="sweeper", daemon=True).start()
    return stop


def main(argv=None) -> None:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=16, help="HTTP threads (per process)")
    parser.add_argument(
        "--processes",
        type=int,
        default=Config.API_PROCESSES,
        help="API processes sharing the port (service mode only; default RUPTURA_API_PROCESSES "
        f"or {Config.API_PROCESSES}). Python runs one thread at a time per process: on a "
        "machine with several cores, several processes answer more polls",
    )
    parser.add_argument("--migrate", action="store_true", help="apply migrations first")
    args = parser.parse_args(argv)
    logs.setup(Config.LOG_LEVEL)
    embedded = not Config.REDIS_URL
    if embedded or args.migrate:
        migrate.upgrade(Config.DATABASE_URL)
    processes = 1 if embedded else max(1, args.processes)
    mode = (
        f"EMBEDDED mode: SQLite at {Config.DATABASE_URL}, in-process queue, "
        f"{Config.EMBEDDED_WORKERS} worker threads"
        if embedded
        else f"SERVICE mode: {make_url(Config.DATABASE_URL).render_as_string()}, "
        f"Redis {Config.REDIS_URL}, "
        f"{processes} API process{'es' if processes > 1 else ''}; "
        "start workers with run_worker.py"
    )
    access = "tokens required for writes" if Config.API_TOKENS else "OPEN (no API tokens set)"
    url = f"http://{args.host}:{args.port}"
    try:  # bind first: a busy port is a one-line error, before any worker thread starts
        sock = listen(args.host, args.port)
    except OSError as exc:
        raise SystemExit(
            f"cannot listen on {url}: {exc.strerror} (is another server running there? "
            "stop it or pass --port N)"
        ) from None
    if processes > 1:
        print(banner(mode, access, url), flush=True)
        supervise(processes, sock, args.threads)
        return
    app = create_app(Config)
    if embedded:
        start_background(app.extensions["ruptura.runtime"], Config.EMBEDDED_WORKERS)
    print(banner(mode, access, url), flush=True)
    serve_app(app, args.threads, sockets=[sock])


def banner(mode: str, access: str, url: str) -> str:
    """Return what the server prints at start-up."""
    return (
        f"Ruptura {mode}\n  access: {access}\n  open {url}/  (chat: {url}/chat, "
        f"API docs: {url}/api/docs)"
    )


def serve_app(app, threads: int, **where) -> None:
    """Serve the app with waitress, on host/port or on given sockets."""
    serve(
        app,
        threads=threads,
        ident="ruptura",
        connection_limit=1000,
        channel_timeout=30,
        **where,
    )


def listen(host: str, port: int) -> socket.socket:
    """Open the listening socket (the API processes share it when there are several)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def serve_child(sock: socket.socket, threads: int) -> None:
    """One API process: its own app, engines and pools, serving the shared socket."""
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    with contextlib.suppress(OSError, AttributeError):  # Linux: die with the supervisor,
        libc = ctypes.CDLL("libc.so.6", use_errno=True)  # even if it is SIGKILLed
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    logs.setup(Config.LOG_LEVEL)
    serve_app(create_app(Config), threads, sockets=[sock])


def supervise(count: int, sock: socket.socket, threads: int) -> None:
    """Fork `count` API processes on one listening socket; restart any that dies; stop all on
    SIGTERM/SIGINT. The processes are forked before any app, thread or connection exists."""
    ctx = multiprocessing.get_context("fork")
    children: list = [None] * count
    stopping = threading.Event()

    def shutdown(_signum, _frame):
        stopping.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    while not stopping.is_set():
        for i, child in enumerate(children):
            if child is None or not child.is_alive():
                if child is not None:
                    logs.event("api.restart", slot=i, exitcode=child.exitcode)
                children[i] = ctx.Process(target=serve_child, args=(sock, threads), daemon=True)
                children[i].start()
        stopping.wait(1)
    for child in children:
        if child is not None and child.is_alive():
            child.terminate()
    for child in children:
        if child is not None:
            child.join(timeout=10)


if __name__ == "__main__":
    main()
