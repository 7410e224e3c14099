"""Per-process runtime settings that reach the database engines."""

import pytest

from config import TestConfig
from jobs import runtime

PG = "postgresql://nobody@127.0.0.1:1/none"  # engines connect lazily: nothing is opened


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"DB_POOL_SIZE": 3, "DB_MAX_OVERFLOW": 2}, (3, 2)),
        ({}, (10, 20)),  # the defaults when a config does not say
    ],
)
def test_postgres_pool_comes_from_the_settings(settings, expected):
    rt = runtime.configure({"DATABASE_URL": PG, **settings})
    try:
        assert (rt.engine.pool.size(), rt.engine.pool._max_overflow) == expected
        assert rt.read_engine.pool is rt.engine.pool  # reads share the write engine's pool
    finally:
        runtime.configure(TestConfig)
