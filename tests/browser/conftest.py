"""Shared browser-test fixtures: real API servers and Debian's chromium driven by Playwright.

- ``live_server(name, book=None, **env)`` (module scope) starts ``run_api.py`` in the embedded
  mode on a fresh SQLite file (in-process queue, worker threads, migrations), optionally loads
  a generated book (``jobs.demo.generate_book`` output) through the API, and returns the
  ``tests.live.Server``. Every server it started is stopped when the module ends.
- ``browser`` (module scope): chromium launched with ``CHROMIUM_ARGS``; skipped with the
  ``CHROMIUM_SKIP`` reason when chromium is missing (in CI that is an error at session start).
  Module scope, not session: two sync Playwright drivers must never be alive at once.
- ``new_page(**context_options)``: a page in a fresh context (1280×800 unless told), closed
  after the test; ``page_errors(page)`` lists its uncaught errors and console errors.
- ``page``: ``new_page()``.
"""

import signal
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM_SKIP
from tests.live import CHROMIUM, CHROMIUM_ARGS, Server, put_book

VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """Return a factory of real API servers in the embedded mode, stopped after the module."""
    started: list[Server] = []

    def start(name: str = "api", book: dict | None = None, **env: str) -> Server:
        tmp = tmp_path_factory.mktemp(name)
        server = Server(
            {
                "DATABASE_URL": f"sqlite:///{tmp / 'ruptura.db'}",
                "RUPTURA_LOG_LEVEL": "WARNING",
                **env,
            },
            tmp / "api.log",
        )
        started.append(server)
        if book is not None:
            put_book(server.url, book)
        return server

    yield start
    for server in started:
        server.kill(signal.SIGTERM)


@pytest.fixture(scope="module")
def browser():
    """Chromium through the Playwright sync API, for one test module."""
    reason = CHROMIUM_SKIP or (None if Path(CHROMIUM).exists() else f"no chromium at {CHROMIUM}")
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Pages:
    """Pages of one test, each in its own browser context; remembers what each page logged."""

    def __init__(self, browser):
        self.browser = browser
        self.contexts = []
        self.logged: dict[int, list[str]] = {}

    def __call__(self, **context_options):
        context = self.browser.new_context(**{"viewport": VIEWPORT, **context_options})
        self.contexts.append(context)
        page = context.new_page()
        errors = self.logged.setdefault(id(page), [])
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
        return page

    def errors(self, page) -> list[str]:
        """Uncaught exceptions and console errors (CSP violations included) of a page."""
        return self.logged[id(page)]

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def new_page(browser):
    """Return a factory of pages (``new_page(**context_options)``), closed after the test."""
    pages = Pages(browser)
    yield pages
    pages.close()


@pytest.fixture
def page_errors(new_page):
    """``page_errors(page)``: what a page from ``new_page``/``page`` logged as an error."""
    return new_page.errors


@pytest.fixture
def page(new_page):
    """A fresh page (own context, 1280×800)."""
    return new_page()
