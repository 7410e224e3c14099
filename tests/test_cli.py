"""The `ruptura` command: migrations, loading the example files (JSON and CSV), the demo."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from api.cli import main
from jobs.db import make_engines, make_session_factory
from jobs.models import Order, OrderLine, Product, ProductAlias, Sale
from tests.helpers import EXAMPLES


def counts(url: str) -> dict:
    """Count rows of the main tables."""
    engine, _ = make_engines(url)
    with make_session_factory(engine)() as s:
        result = {
            m.__name__: s.scalar(select(func.count()).select_from(m))
            for m in (Product, ProductAlias, Order, OrderLine, Sale)
        }
    engine.dispose()
    return result


def run(url: str, *args):
    """Invoke the CLI against a database."""
    result = CliRunner().invoke(main, ["--database-url", url, *args], catch_exceptions=False)
    return result


def test_upgrade_then_load_json_examples(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run(url, "db", "upgrade").exit_code == 0
    result = run(url, "load", str(EXAMPLES))
    assert result.exit_code == 0, result.output
    assert "5 orders loaded" in result.output
    assert counts(url)["OrderLine"] == 6


def test_load_csv_examples_gives_the_same_book(tmp_path):
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    for f in EXAMPLES.glob("*.csv"):
        shutil.copy(f, csv_dir / f.name)
    url_csv = f"sqlite:///{tmp_path / 'csv.db'}"
    url_json = f"sqlite:///{tmp_path / 'json.db'}"
    for url in (url_csv, url_json):
        run(url, "db", "upgrade")
    assert run(url_csv, "load", str(csv_dir)).exit_code == 0
    assert run(url_json, "load", str(EXAMPLES)).exit_code == 0
    assert counts(url_csv) == counts(url_json)


def test_bad_file_loads_nothing_and_says_why(tmp_path):
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    run(url, "db", "upgrade")
    bad = tmp_path / "stock.json"
    bad.write_text('[{"product": "NOPE", "on_hand": 1}]')
    result = CliRunner().invoke(main, ["--database-url", url, "load", str(bad)])
    assert result.exit_code != 0
    assert "unknown product 'NOPE'" in result.output


def test_demo_loads_a_deterministic_book(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    run(url, "db", "upgrade")
    result = run(url, "demo", "--orders", "40", "--seed", "7", "--as-of", "2026-03-02")
    assert result.exit_code == 0, result.output
    first = counts(url)
    assert first["Order"] == 40
    assert "already loaded" in run(url, "demo", "--if-empty").output
    url2 = f"sqlite:///{tmp_path / 'demo2.db'}"
    run(url2, "db", "upgrade")
    run(url2, "demo", "--orders", "40", "--seed", "7", "--as-of", "2026-03-02")
    assert counts(url2) == first


def test_run_api_on_a_busy_port_says_so_in_one_line(tmp_path):
    root = Path(__file__).resolve().parent.parent
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'busy.db'}"
    try:
        done = subprocess.run(
            [sys.executable, "run_api.py", "--port", str(port)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        busy.close()
    assert done.returncode == 1
    assert f"cannot listen on http://127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
