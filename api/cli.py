"""The `ruptura` command: migrate, load files, generate the demo book."""

import csv
import json
from datetime import date
from pathlib import Path

import click

from api import loader
from config import Config
from jobs import migrate
from jobs.db import make_engines, make_session_factory

FILE_KINDS = {
    "products": "products",
    "stock": "stock",
    "receipts": "receipts",
    "orders": "orders",
    "sales": "sales",
    "supplier_offers": "supplier-offers",
    "supplier-offers": "supplier-offers",
}
LOAD_ORDER = ["products", "stock", "receipts", "orders", "sales", "supplier-offers"]
CHUNK = 2000


def _blank_to_none(row: dict) -> dict:
    """Drop empty CSV cells so schema defaults apply."""
    return {k: v for k, v in row.items() if v not in ("", None)}


def read_rows(path: Path, kind: str) -> list[dict]:
    """Read a JSON list or a CSV file into payload items of one kind."""
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [_blank_to_none(row) for row in csv.DictReader(handle)]
    if kind == "products":
        for row in rows:
            row["aliases"] = [a for a in row.get("aliases", "").split(";") if a]
    if kind == "orders":
        orders: dict[str, dict] = {}
        for row in rows:
            line = {k: row.pop(k) for k in ("product", "qty", "unit_price") if k in row}
            order = orders.setdefault(row["number"], {**row, "lines": []})
            order["lines"].append(line)
        rows = list(orders.values())
    return rows


def find_files(path: Path) -> list[tuple[str, Path]]:
    """Return (kind, file) pairs in load order, for a file or a folder of files."""
    files = [path] if path.is_file() else sorted(path.iterdir())
    found = [
        (FILE_KINDS[f.stem], f)
        for f in files
        if f.suffix in (".json", ".csv") and f.stem in FILE_KINDS
    ]
    if path.is_dir():  # prefer JSON over CSV of the same kind
        by_kind: dict[str, Path] = {}
        for kind, f in found:
            if kind not in by_kind or f.suffix == ".json":
                by_kind[kind] = f
        found = list(by_kind.items())
    return sorted(found, key=lambda kf: LOAD_ORDER.index(kf[0]))


def session_factory(database_url: str | None):
    """Return a write-session factory for the configured database."""
    engine, _ = make_engines(database_url or Config.DATABASE_URL)
    return make_session_factory(engine)


def load_items(factory, kind: str, items: list[dict], label: str) -> dict:
    """Validate a whole file, then write it in one transaction with a progress bar."""
    with factory.begin() as session:
        valid = loader.validate(session, kind, items)
        with click.progressbar(length=len(valid), label=label) as bar:
            for start in range(0, len(valid), CHUNK):
                part = valid[start : start + CHUNK]
                loader.KINDS[kind]["write"](session, part)
                bar.update(len(part))
        version = loader.bump_counter(session, loader.COUNTER_DATA_VERSION)
    return {"kind": kind, "count": len(valid), "data_version": version}


@click.group()
@click.option("--database-url", envvar="DATABASE_URL", default=None, help="Default: Config")
@click.pass_context
def main(ctx, database_url):
    """Ruptura command line."""
    ctx.obj = {"url": database_url or Config.DATABASE_URL}


@main.group()
def db():
    """Database schema commands."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx):
    """Apply every migration."""
    migrate.upgrade(ctx.obj["url"])
    click.echo(f"database is at the latest schema: {ctx.obj['url']}")


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.pass_context
def load(ctx, path: Path):
    """Load JSON or CSV files (named products, stock, receipts, orders, sales, supplier_offers)."""
    from marshmallow import ValidationError

    from api.errors import ApiError

    factory = session_factory(ctx.obj["url"])
    files = find_files(path)
    if not files:
        raise click.ClickException(f"no known data files in {path}")
    for kind, file in files:
        try:
            result = load_items(factory, kind, read_rows(file, kind), f"{file.name:<22}")
        except (ApiError, ValidationError) as exc:
            details = getattr(exc, "details", None) or getattr(exc, "messages", None)
            raise click.ClickException(
                f"{file}: nothing loaded from this file: {exc}\n{json.dumps(details, indent=1)[:4000]}"
            ) from exc
        click.echo(f"  {result['count']} {kind} loaded (data version {result['data_version']})")


@main.command()
@click.option("--orders", default=300, show_default=True)
@click.option("--products", default=60, show_default=True)
@click.option("--lines", default="1-8", show_default=True, help="min-max lines per order")
@click.option("--seed", default=42, show_default=True)
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--if-empty", is_flag=True, help="Do nothing when orders already exist")
@click.pass_context
def demo(ctx, orders, products, lines, seed, as_of, if_empty):
    """Generate the deterministic demo book and load it."""
    from sqlalchemy import func, select

    from jobs.demo import generate_book
    from jobs.models import Order

    factory = session_factory(ctx.obj["url"])
    if if_empty:
        with factory() as session:
            if session.scalar(select(func.count()).select_from(Order)):
                click.echo("demo data already loaded")
                return
    low, _, high = lines.partition("-")
    book = generate_book(
        seed=seed,
        orders=orders,
        products=products,
        lines=(int(low), int(high or low)),
        as_of=as_of.date() if as_of else date.today(),
    )
    for key in ("products", "stock", "receipts", "orders", "sales", "supplier_offers"):
        kind = FILE_KINDS[key]
        result = load_items(factory, kind, book[key], f"{key:<16}")
        click.echo(f"  {result['count']} {kind} loaded")


if __name__ == "__main__":
    main()
