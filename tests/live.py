"""Real processes for integration and browser tests: API servers and RQ workers."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("RUPTURA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port() -> int:
    """Return a free TCP port on the loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A child process of this repo's Python, with its log kept in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log = log
        self.handle = log.open("wb")
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        for key in ("DATABASE_URL", "REDIS_URL"):
            if key not in env:
                full_env.pop(key, None)
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=full_env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        """Return the process id."""
        return self.proc.pid

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send a signal to the process and its children (RQ's scheduler), and reap it."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.handle.close()

    def output(self) -> str:
        """Return what the process printed so far."""
        return self.log.read_text(errors="replace")


class Server(Process):
    """run_api.py on a free port."""

    def __init__(self, env: dict[str, str], log: Path, extra: list[str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(["run_api.py", "--port", str(self.port), *(extra or [])], env, log)
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until /healthz answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.output()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready:\n{self.output()}")


def worker(env: dict[str, str], log: Path, workers: int = 1) -> Process:
    """Start run_worker.py."""
    return Process(["run_worker.py", "--workers", str(workers)], env, log)


def put_book(url: str, book: dict[str, list], headers: dict | None = None) -> None:
    """PUT a generated book (jobs.demo.generate_book output) through the API."""
    for key in ("products", "stock", "receipts", "orders", "sales", "supplier_offers"):
        response = requests.put(
            f"{url}/api/v1/{key.replace('_', '-')}", json=book[key], headers=headers, timeout=120
        )
        response.raise_for_status()


def poll_all(url: str, batch: dict, timeout: float = 120, interval: float = 0.2) -> dict:
    """Poll a batch's results until nothing is pending; return order → result."""
    results: dict[str, dict] = {}
    cursor = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        params = {"since": cursor} if cursor else {}
        body = requests.get(url + batch["results_url"], params=params, timeout=30).json()
        for item in body["results"]:
            results[item["order"]] = item
        cursor = body["cursor"]
        if body["pending"] == 0:
            return results
        time.sleep(interval)
    raise TimeoutError(f"{len(results)}/{batch['total']} results after {timeout}s")
