"""A short soak in CI: bench/soak.py against PostgreSQL + a private Redis + 2 worker processes.

50 pollers, each following its own 200-order batch with the cursor and ETag and enqueueing
a new one every 10 s, for 25 s: no error (429 aside), no order lost or failed, and the RSS
of the API and of the workers flat (last third within 15 % of the first third, after
warm-up). The full run (200 pollers, 60 s) is recorded in docs/reliability.md.
"""

import json
import subprocess
import sys

import pytest

from tests.conftest import PG_SKIP, PG_URL
from tests.integration.services import private_redis_fixture  # noqa: F401 (fixture)
from tests.live import ROOT


def test_short_soak_has_no_errors_no_losses_and_flat_memory(private_redis):
    if PG_SKIP:
        pytest.skip(PG_SKIP)
    command = [
        sys.executable,
        "bench/soak.py",
        "--duration",
        "25",
        "--pollers",
        "50",
        "--enqueue-every",
        "10",
        "--pg",
        PG_URL,
        "--redis",
        private_redis.url,
        "--workers",
        "2",
        "--drain-timeout",
        "150",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    lines = done.stdout.strip().splitlines()
    assert lines, f"no figures (exit {done.returncode}):\n{done.stderr[-3000:]}"
    figures = json.loads(lines[-1])
    print("\nsoak:", json.dumps(figures, sort_keys=True))
    assert figures["orders_requested"] > 0 and figures["batches"] >= 50
    assert figures["errors"] == 0, figures["error_samples"]
    assert figures["lost"] == 0 and figures["failed"] == 0
    assert figures["orders_resolved"] == figures["orders_requested"]
    assert figures["stuck_pollers"] == 0
    assert figures["memory_flat"], figures["rss"]
    assert figures["ok"] and done.returncode == 0
