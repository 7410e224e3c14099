"""Per-process runtime settings that reach the database engines."""

from config import TestConfig
from jobs import runtime


def test_postgres_pool_size_comes_from_the_settings():
    url = "postgresql://nobody@127.0.0.1:1/none"  # engines connect lazily: nothing is opened
    rt = runtime.configure({"DATABASE_URL": url, "DB_POOL_SIZE": 3, "DB_MAX_OVERFLOW": 2})
    try:
        assert rt.engine.pool.size() == 3
        assert rt.engine.pool._max_overflow == 2
        assert rt.read_engine.pool is rt.engine.pool  # reads share the write engine's pool
    finally:
        runtime.configure(TestConfig)


def test_postgres_pool_defaults_to_ten_plus_twenty():
    rt = runtime.configure({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    try:
        assert (rt.engine.pool.size(), rt.engine.pool._max_overflow) == (10, 20)
    finally:
        runtime.configure(TestConfig)
