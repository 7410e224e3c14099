"""Apply the Alembic migrations programmatically (no alembic.ini needed)."""

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig

from jobs.db import make_engines, make_session_factory
from jobs.ledger import ensure_counters

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> AlembicConfig:
    """Return an Alembic config for the database at `url`."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` and make sure the counters exist."""
    command.upgrade(alembic_config(url), revision)
    engine, _ = make_engines(url)
    with make_session_factory(engine).begin() as session:
        ensure_counters(session)
    engine.dispose()
