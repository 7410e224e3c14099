"""Real services for integration tests: a fresh PostgreSQL database and a flushed Redis DB."""

import uuid

import pytest
import redis
from sqlalchemy import create_engine, text

from jobs.migrate import upgrade
from tests.conftest import PG_SKIP, PG_URL, REDIS_SKIP, REDIS_URL

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_url():
    """Create a fresh, migrated PostgreSQL database for one test and drop it after."""
    if PG_SKIP:
        pytest.skip(PG_SKIP)
    name = f"ruptura_it_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        PG_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/postgres",
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def redis_url():
    """Return the dedicated Redis DB, flushed before and after the test."""
    if REDIS_SKIP:
        pytest.skip(REDIS_SKIP)
    conn = redis.Redis.from_url(REDIS_URL)
    conn.flushdb()
    yield REDIS_URL
    conn.flushdb()
    conn.close()
