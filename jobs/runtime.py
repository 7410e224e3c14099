"""The process-wide handles a job needs: settings, database and queue.

API processes configure it from the Flask config; `run_worker.py` from `Config`.
In the embedded mode the API process and its worker threads share one runtime.
"""

from dataclasses import dataclass
from typing import Any

from redis import Redis
from rq import Queue
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from jobs.db import make_engines, make_session_factory
from jobs.queue import redis_connection


@dataclass
class Runtime:
    """Settings plus live connections for one process."""

    settings: dict[str, Any]
    engine: Engine
    read_engine: Engine
    session_factory: sessionmaker
    read_session_factory: sessionmaker
    redis: Redis
    queue: Queue

    @property
    def embedded(self) -> bool:
        """Tell whether the queue is the in-process fake."""
        return not self.settings.get("REDIS_URL")


_current: Runtime | None = None


def settings_from(config: Any) -> dict[str, Any]:
    """Collect the upper-case settings of a config object or mapping."""
    if isinstance(config, dict):
        return {k: v for k, v in config.items() if k.isupper()}
    return {k: getattr(config, k) for k in dir(config) if k.isupper()}


POOL_SETTINGS = {"pool_size": "DB_POOL_SIZE", "max_overflow": "DB_MAX_OVERFLOW"}


def configure(config: Any) -> Runtime:
    """Build the runtime for this process from settings, replacing any previous one."""
    global _current
    settings = settings_from(config)
    if _current is not None:
        _current.engine.dispose()
        _current.read_engine.dispose()
    pool = {arg: settings[key] for arg, key in POOL_SETTINGS.items() if key in settings}
    engine, read_engine = make_engines(settings["DATABASE_URL"], **pool)
    connection = redis_connection(settings.get("REDIS_URL"))
    _current = Runtime(
        settings=settings,
        engine=engine,
        read_engine=read_engine,
        session_factory=make_session_factory(engine),
        read_session_factory=make_session_factory(read_engine),
        redis=connection,
        queue=Queue(settings.get("QUEUE_NAME", "ruptura"), connection=connection),
    )
    return _current


def get() -> Runtime:
    """Return this process's runtime."""
    if _current is None:
        raise RuntimeError("jobs.runtime is not configured in this process")
    return _current
