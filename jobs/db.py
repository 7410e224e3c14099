"""Engine and session construction, shared by API processes and workers.

SQLite gets WAL, a 30 s busy timeout and real transactions: the write engine
begins with `BEGIN IMMEDIATE` (writers queue on the lock instead of failing to
upgrade), the read engine with a deferred `BEGIN` (one snapshot per
transaction). On PostgreSQL the read engine uses REPEATABLE READ for the same
reason: an analysis reads the data version and the data from one snapshot.
"""

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, sessionmaker


class Base(DeclarativeBase):
    """Declarative base of every table."""


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _sqlite_engine(url: str, begin: str) -> Engine:
    """Create a SQLite engine whose transactions start with `begin`."""
    path = url.split("///", 1)[1] if "///" in url else ""
    if not path or path == ":memory:":
        raise ValueError("use a SQLite file, not an in-memory database (workers share it)")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below govern transactions
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql(begin)

    return engine


def make_engines(url: str, pool_size: int = 10, max_overflow: int = 20) -> tuple[Engine, Engine]:
    """Create the (write, read) engines for a PostgreSQL or SQLite URL.

    On PostgreSQL both share one pool: at most `pool_size + max_overflow` connections per
    process (plus the results cache's listener in API processes).
    """
    if url.startswith("sqlite"):
        return _sqlite_engine(url, "BEGIN IMMEDIATE"), _sqlite_engine(url, "BEGIN")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True)
    return engine, engine.execution_options(isolation_level="REPEATABLE READ")


def make_session_factory(engine: Engine) -> sessionmaker:
    """Create a session factory that keeps objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
