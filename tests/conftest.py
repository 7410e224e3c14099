"""Fixtures: the app from the factory on SQLite and PostgreSQL, its client, and a job drainer."""

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from api import create_app
from api.extensions import db
from config import TestConfig
from jobs.db import Base
from jobs.loading import CACHE
from jobs.queue import ThreadWorker

PG_URL = os.environ.get("RUPTURA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/ruptura_test")
if not PG_URL.startswith("postgresql"):
    raise RuntimeError("RUPTURA_TEST_PG_URL must be a postgresql:// URL")
REDIS_URL = os.environ.get("RUPTURA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _pg_available() -> str | None:
    """Create the test database if needed; return why PostgreSQL can't be used, or None."""
    admin_url = PG_URL.rsplit("/", 1)[0] + "/postgres"
    name = PG_URL.rsplit("/", 1)[1]
    try:
        engine = create_engine(
            admin_url.replace("postgresql://", "postgresql+psycopg://"),
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 3},
        )
        with engine.connect() as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception as exc:  # any failure means: skip the PostgreSQL variant, saying why
        return f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}"
    return None


PG_SKIP = _pg_available()
requires_pg = pytest.mark.skipif(PG_SKIP is not None, reason=PG_SKIP or "")


def redis_skip_reason() -> str | None:
    """Return why Redis can't be used, or None."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis not reachable at {REDIS_URL}: {type(exc).__name__}"
    return None


REDIS_SKIP = redis_skip_reason()
requires_redis = pytest.mark.skipif(REDIS_SKIP is not None, reason=REDIS_SKIP or "")


CHROMIUM_SKIP = (
    None if os.path.exists("/usr/bin/chromium") else "Debian's chromium is not installed"
)
REQUIRE_SERVICES = bool(os.environ.get("RUPTURA_REQUIRE_SERVICES"))


def pytest_sessionstart(session):
    """In CI (RUPTURA_REQUIRE_SERVICES=1) a missing service is an error, never a skip."""
    problems = [reason for reason in (PG_SKIP, REDIS_SKIP, CHROMIUM_SKIP) if reason]
    if REQUIRE_SERVICES and problems:
        raise pytest.UsageError("required services are missing: " + "; ".join(problems))


def make_settings(database_url: str, **overrides):
    """Return a TestConfig subclass pointing at a database."""
    return type("Settings", (TestConfig,), {"DATABASE_URL": database_url, **overrides})


def reset_schema(database_url: str) -> None:
    """Drop and recreate every table."""
    from jobs.db import make_engines

    engine, _ = make_engines(database_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=requires_pg)])
def backend(request, tmp_path):
    """Yield a fresh database URL for each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
    else:
        reset_schema(PG_URL)
        yield PG_URL


@pytest.fixture
def sqlite_url(tmp_path):
    """Return a fresh SQLite file URL."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def app_factory():
    """Build apps on demand with setting overrides; tables created fresh."""

    def build(database_url: str, **overrides):
        CACHE.clear()
        app = create_app(make_settings(database_url, **overrides))
        with app.app_context():
            db.create_all()
        return app

    return build


@pytest.fixture
def app(app_factory, backend):
    """The app on each backend, with the in-process queue and no worker threads."""
    return app_factory(backend)


@pytest.fixture
def client(app):
    """A test client of the app."""
    return app.test_client()


def drain(app, max_rounds: int = 50) -> int:
    """Run every queued job in this thread until the queue is empty; return rounds run."""
    rt = app.extensions["ruptura.runtime"]
    rounds = 0
    while rt.queue.count and rounds < max_rounds:
        ThreadWorker([rt.queue], connection=rt.redis, name=f"t-{uuid.uuid4().hex[:6]}").work(
            burst=True, logging_level="WARNING"
        )
        rounds += 1
    return rounds


@pytest.fixture
def run_jobs(app):
    """Return a function that runs all queued jobs synchronously."""
    return lambda: drain(app)


@pytest.fixture(autouse=True)
def _clean_fake_redis():
    """Start each test with an empty in-process queue."""
    from jobs.queue import redis_connection

    redis_connection(None).flushall()
    yield
