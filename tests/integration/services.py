"""PRIVATE Redis and PostgreSQL instances that fault tests may stop, kill and restart.

The machine's shared services (127.0.0.1:5432, 127.0.0.1:6379) serve other test runs and
CI, so tests that take a dependency down never touch them: they start their own
`redis-server` and their own PostgreSQL cluster (initdb + pg_ctl) on free loopback ports,
in throwaway directories, and remove them afterwards.

Use the fixtures by importing them into a test module:
`from tests.integration.services import private_pg_fixture, private_redis_fixture`.

Missing binaries skip the test with the reason, except under RUPTURA_REQUIRE_SERVICES=1
(CI), where they fail it.
"""

import glob
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from jobs.migrate import upgrade
from tests.live import free_port

REQUIRE_SERVICES = bool(os.environ.get("RUPTURA_REQUIRE_SERVICES"))
PG_OS_USER = "postgres"  # initdb refuses to run as root


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when CI requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"RUPTURA_REQUIRE_SERVICES is set but {reason}")
    pytest.skip(reason)


def wait_for(check, timeout: float, what: str, interval: float = 0.05) -> float:
    """Call `check` until it returns true; return the seconds it took (TimeoutError after)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout} s")


class PrivateRedis:
    """A redis-server child on a free loopback port, no persistence: stop, kill, start again."""

    def __init__(self, workdir: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.log = workdir / f"redis-{self.port}.log"

    def start(self, timeout: float = 10) -> None:
        """Start the server on its port and wait until it answers PING."""
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.workdir),
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        wait_for(self.answers, timeout, f"private Redis on port {self.port}")

    def answers(self) -> bool:
        """Tell whether the server answers PING."""
        try:
            conn = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
            try:
                return bool(conn.ping())
            finally:
                conn.close()
        except redis.RedisError:
            return False

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Take the server down (SIGKILL by default: nothing is kept, like a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=15)
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port, empty."""
        self.stop()
        self.start()


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free loopback port, run as the postgres OS user."""

    def __init__(self):
        versions = sorted(
            glob.glob("/usr/lib/postgresql/*/bin/initdb"),
            key=lambda p: (
                int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
            ),
        )
        bindir = Path(versions[-1]).parent if versions else None
        if bindir is None:
            found = shutil.which("initdb")
            bindir = Path(found).resolve().parent if found else None
        if bindir is None or not (bindir / "pg_ctl").exists():
            unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        if self.as_root:
            try:
                import pwd

                self.owner = pwd.getpwnam(PG_OS_USER)
            except KeyError:
                unavailable(f"running as root and there is no '{PG_OS_USER}' user for initdb")
        # A short path under /tmp (which every user may traverse) keeps the socket path valid.
        self.root = Path(tempfile.mkdtemp(prefix="ruptura-pg-"))
        self.datadir = self.root / "data"
        if self.as_root:
            os.chown(self.root, self.owner.pw_uid, self.owner.pw_gid)
        self.port = free_port()
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.log = self.root / "server.log"

    def _run(self, *args: str, timeout: float = 120) -> None:
        """Run a PostgreSQL binary as the cluster's owner."""
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["su", PG_OS_USER, "-s", "/bin/sh", "-c", shlex.join(command)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n"
                + (self.log.read_text(errors="replace") if self.log.exists() else "")
            )

    def init(self) -> None:
        """Create the cluster (trust authentication, superuser postgres)."""
        self._run("initdb", "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-o", options, "-l", str(self.log), "-w", "start"
        )
        wait_for(self.answers, 30, f"private PostgreSQL on port {self.port}")

    def stop(self) -> None:
        """Stop the server (fast shutdown: clients are disconnected)."""
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def answers(self) -> bool:
        """Tell whether the server accepts a connection."""
        engine = create_engine(
            self.admin_url.replace("postgresql://", "postgresql+psycopg://"),
            connect_args={"connect_timeout": 2},
        )
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # any failure means: not up yet
            return False
        finally:
            engine.dispose()

    def create_database(self, name: str = "ruptura") -> str:
        """Create and migrate an application database; return its URL."""
        engine = create_engine(
            self.admin_url.replace("postgresql://", "postgresql+psycopg://"),
            isolation_level="AUTOCOMMIT",
        )
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        url = f"postgresql://postgres@127.0.0.1:{self.port}/{name}"
        upgrade(url)
        return url

    def destroy(self) -> None:
        """Stop the server if it runs and remove the cluster."""
        try:
            if self.answers():
                self.stop()
        except Exception:  # best effort: remove the files whatever happened
            pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(name="private_redis")
def private_redis_fixture(tmp_path):
    """A private, restartable Redis on a free port."""
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(name="private_pg")
def private_pg_fixture():
    """A private, stoppable PostgreSQL cluster on a free port."""
    cluster = PrivatePostgres()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
