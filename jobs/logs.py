"""Structured logging: one JSON object per line."""

import json
import logging
import sys
import time

log = logging.getLogger("ruptura")


def event(name: str, level: int = logging.INFO, **fields) -> None:
    """Log one structured event."""
    log.log(level, json.dumps({"event": name, **fields}, default=str, sort_keys=True))


class Timer:
    """Measure elapsed milliseconds."""

    def __init__(self):
        self.start = time.perf_counter()

    @property
    def ms(self) -> float:
        """Return milliseconds since creation."""
        return round((time.perf_counter() - self.start) * 1000, 1)


def setup(level: str = "INFO") -> None:
    """Send log lines to stderr with a timestamp."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
