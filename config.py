"""Settings, each read from the environment with a default that works on a bare machine."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def env_int(name: str, default: int) -> int:
    """Read an integer environment variable."""
    return int(os.environ.get(name, default))


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable (1/true/yes/on)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    """Read a comma-separated environment variable."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


class Config:
    """Production and demo settings."""

    DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'var' / 'ruptura.db'}"
    REDIS_URL = os.environ.get("REDIS_URL") or None  # None: in-process queue (fakeredis + threads)
    # PostgreSQL connections per process: pool + overflow (the server's max_connections bounds
    # the sum over every API and worker process).
    DB_POOL_SIZE = env_int("RUPTURA_DB_POOL_SIZE", 10)
    DB_MAX_OVERFLOW = env_int("RUPTURA_DB_MAX_OVERFLOW", 20)
    QUEUE_NAME = os.environ.get("RUPTURA_QUEUE", "ruptura")
    EMBEDDED_WORKERS = env_int("RUPTURA_EMBEDDED_WORKERS", 2)
    API_PROCESSES = env_int("RUPTURA_API_PROCESSES", 1)  # run_api.py --processes (service mode)
    # run_worker.py lowers its CPU priority by this much (0: not at all), so that an API on
    # the same machine answers polls promptly while analyses run (docs/performance.md).
    WORKER_NICE = env_int("RUPTURA_WORKER_NICE", 5)

    LEAD_DAYS = env_int("RUPTURA_LEAD_DAYS", 1)
    CHUNK_SIZE = env_int("RUPTURA_CHUNK_SIZE", 20)
    # A large batch is cut into about CHUNK_TARGET_JOBS jobs of at most CHUNK_MAX orders
    # (never fewer than CHUNK_SIZE): a job's fixed cost is paid per chunk (docs/performance.md).
    CHUNK_MAX = env_int("RUPTURA_CHUNK_MAX", 200)
    CHUNK_TARGET_JOBS = env_int("RUPTURA_CHUNK_TARGET_JOBS", 64)
    POLL_INTERVAL_MS = env_int("RUPTURA_POLL_INTERVAL_MS", 2000)
    MAX_BATCH_ORDERS = env_int("RUPTURA_MAX_BATCH_ORDERS", 10_000)
    RESULTS_PAGE_LIMIT = env_int("RUPTURA_RESULTS_LIMIT", 1000)
    # PostgreSQL: answer unchanged polls from counts cached per API process, kept exact by
    # LISTEN/NOTIFY on every finish (api/pollcache.py); off = every poll reads the database.
    RESULTS_CACHE = env_bool("RUPTURA_RESULTS_CACHE", True)
    MAX_CONTENT_LENGTH = env_int("RUPTURA_MAX_BODY_BYTES", 32 * 1024 * 1024)

    # The ledger: how long a row may stay queued/running before the sweeper acts.
    QUEUED_DEADLINE_S = env_int("RUPTURA_QUEUED_DEADLINE_S", 30)
    RUNNING_DEADLINE_S = env_int("RUPTURA_RUNNING_DEADLINE_S", 60)
    MAX_ATTEMPTS = env_int("RUPTURA_MAX_ATTEMPTS", 3)
    SWEEP_INTERVAL_S = float(os.environ.get("RUPTURA_SWEEP_INTERVAL_S", 2))
    JOB_RETRIES = env_int("RUPTURA_JOB_RETRIES", 2)

    WEBHOOK_SECRET = os.environ.get("RUPTURA_WEBHOOK_SECRET", "change-me")
    WEBHOOK_MAX_ATTEMPTS = env_int("RUPTURA_WEBHOOK_MAX_ATTEMPTS", 5)
    WEBHOOK_TIMEOUT_S = env_int("RUPTURA_WEBHOOK_TIMEOUT_S", 10)

    # Access control: empty API_TOKENS means the API runs open (the demo says so).
    API_TOKENS = env_list("RUPTURA_API_TOKENS")
    READS_NEED_TOKEN = env_bool("RUPTURA_READS_NEED_TOKEN", False)
    CORS_ORIGINS = env_list("RUPTURA_CORS_ORIGINS")
    RATELIMIT_ENABLED = env_bool("RUPTURA_RATELIMIT_ENABLED", True)
    RATELIMIT_ENQUEUE = os.environ.get("RUPTURA_RATELIMIT_ENQUEUE", "60/minute")
    RATELIMIT_POLL = os.environ.get("RUPTURA_RATELIMIT_POLL", "600/minute")
    RATELIMIT_WRITE = os.environ.get("RUPTURA_RATELIMIT_WRITE", "120/minute")

    LOG_LEVEL = os.environ.get("RUPTURA_LOG_LEVEL", "INFO")
    TESTING = False


class TestConfig(Config):
    """Fast, isolated settings for the test suite."""

    TESTING = True
    DATABASE_URL = "sqlite:///" + str(BASE_DIR / "var" / "test.db")  # tests override per run
    REDIS_URL = None
    EMBEDDED_WORKERS = 0  # tests drive jobs explicitly unless they start workers
    RATELIMIT_ENABLED = False
    QUEUED_DEADLINE_S = 5
    RUNNING_DEADLINE_S = 5
    SWEEP_INTERVAL_S = 0.2
    API_TOKENS: list[str] = []
