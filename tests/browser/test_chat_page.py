"""The chat page in Debian's chromium, against a real server in the embedded mode."""

import signal
import time
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
import requests

from tests.live import CHROMIUM, CHROMIUM_ARGS, Server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"chromium not installed at {CHROMIUM} (apt-get install chromium)",
    ),
]

XSS = "<img src=x onerror=window.__xss=1>"
RESULT = '[data-type="analysis_result"]'
TIMEOUT_MS = 30_000


def load_data(url: str) -> None:
    """PUT the DESIGN §4 worked example (on hand 250 → buy 140 from S2) and two more products."""
    today = date.today()
    payloads = {
        "products": [
            {"code": "FEI-01", "name": "Feijão Carioca 1kg", "aliases": ["7891000100101"]},
            {"code": "FEI-02", "name": "Feijão Preto 1kg"},
            {"code": "XSS-1", "name": f"Biscoito {XSS}"},
        ],
        "stock": [{"product": "FEI-01", "on_hand": 250}],
        "orders": [{"number": "O1", "ship_date": None, "lines": [{"product": "FEI-01", "qty": 50}]}],
        "sales": [
            {"product": "FEI-01", "date": (today - timedelta(days=i)).isoformat(), "qty": 10}
            for i in range(1, 91)
        ],
        "supplier-offers": [
            {"supplier": "S1", "product": "FEI-01", "unit_price": 5.0, "lead_time_days": 10,
             "min_qty": 100, "multiple": 50},
            {"supplier": "S2", "product": "FEI-01", "unit_price": 4.5, "lead_time_days": 20,
             "min_qty": 0, "multiple": 1},
        ],
    }  # fmt: skip
    for kind, payload in payloads.items():
        response = requests.put(f"{url}/api/v1/{kind}", json=payload, timeout=30)
        assert response.status_code == 200, response.text


def start_server(tmp: Path, **env: str) -> Server:
    server = Server(
        env={"DATABASE_URL": f"sqlite:///{tmp}/db.sqlite", "RUPTURA_LOG_LEVEL": "WARNING", **env},
        log=tmp / "api.log",
    )
    load_data(server.url)
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The API with its embedded worker threads."""
    server = start_server(tmp_path_factory.mktemp("chat"))
    yield server
    server.kill(signal.SIGTERM)


@pytest.fixture(scope="module")
def stalled_server(tmp_path_factory):
    """The API with no worker: every analysis stays queued (pending) for the whole test."""
    server = start_server(tmp_path_factory.mktemp("stalled"), RUPTURA_EMBEDDED_WORKERS="0")
    yield server
    server.kill(signal.SIGTERM)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Chat:
    """One browser tab on /chat, with its GET …/messages requests and its errors recorded."""

    def __init__(self, browser, url: str):
        self.url = url
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.polls: list[float] = []
        self.errors: list[str] = []
        self.page.on("request", self._request)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", self._console)

    def _console(self, msg) -> None:
        if msg.type == "error":  # CSP violations land here too
            self.errors.append(f"{msg.text} ({(msg.location or {}).get('url', '')})")

    def _request(self, request) -> None:
        if request.method == "GET" and "/messages" in request.url:
            self.polls.append(time.monotonic())

    def open(self) -> "Chat":
        self.page.goto(self.url + "/chat")
        self.page.wait_for_selector(".chat-input")
        return self

    def ask(self, text: str) -> None:
        before = self.page.locator(".chat-msg").count()
        self.page.fill(".chat-input", text)
        self.page.press(".chat-input", "Enter")
        self.wait_messages(before + 2)

    def wait_messages(self, count: int) -> None:
        """Wait until at least `count` messages are shown (no eval: the page's CSP forbids it)."""
        self.page.locator(".chat-msg").nth(count - 1).wait_for(timeout=TIMEOUT_MS)

    def texts(self, selector: str = ".chat-msg") -> list[str]:
        return self.page.locator(f"{selector} .chat-text").all_inner_texts()

    def ids(self) -> list[str]:
        return [m.get_attribute("data-message-id") for m in self.page.locator(".chat-msg").all()]

    def pending_visible(self) -> bool:
        return self.page.locator(".chat-pending").is_visible()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def chat(browser, server):
    tab = Chat(browser, server.url).open()
    yield tab
    tab.close()


def test_answer_appears_and_polling_stops(chat):
    assert chat.polls == []  # no session yet: nothing to poll
    chat.ask("Should I buy more feijao cariocca?")
    started = chat.page.locator('[data-type="analysis_started"] .chat-text')
    assert "Analysing FEI-01" in started.inner_text()
    chat.page.wait_for_selector(RESULT, timeout=TIMEOUT_MS)
    answer = chat.page.locator(f"{RESULT} .chat-text")
    text = answer.inner_text()
    assert "Recommendation: buy 140 un from S2." in text
    assert "\n" in text  # multi-line, kept by white-space: pre-wrap
    assert answer.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
    assert chat.page.locator(f"{RESULT} .chat-decision").inner_text() == "Buy"
    assert len(chat.polls) >= 1  # the answer came by polling
    assert not chat.pending_visible()
    seen = len(chat.polls)
    chat.page.wait_for_timeout(5_000)
    assert len(chat.polls) == seen, "polling must stop once the result has arrived"
    assert chat.errors == []


def test_polls_every_two_seconds_only_while_pending(browser, stalled_server):
    chat = Chat(browser, stalled_server.url).open()
    try:
        chat.ask("FEI-01")
        assert chat.pending_visible()
        chat.page.wait_for_timeout(7_000)
        polls = list(chat.polls)
        assert 3 <= len(polls) <= 5, polls
        gaps = [b - a for a, b in pairwise(polls)]
        assert all(1.5 <= gap <= 3.5 for gap in gaps), gaps
        assert chat.pending_visible()

        # a reload resumes the conversation, and the polling with it
        ids = chat.ids()
        chat.page.reload()
        chat.wait_messages(len(ids))
        assert chat.ids() == ids
        chat.page.wait_for_selector(".chat-pending", state="visible", timeout=TIMEOUT_MS)
        seen = len(chat.polls)
        chat.page.wait_for_timeout(4_500)
        assert len(chat.polls) >= seen + 2

        # a new conversation has nothing pending: the polling stops
        chat.page.click(".chat-new")
        assert not chat.pending_visible()
        assert chat.page.locator(".chat-msg").count() == 0
        seen = len(chat.polls)
        chat.page.wait_for_timeout(4_500)
        assert len(chat.polls) == seen
        assert chat.errors == []
    finally:
        chat.close()


def test_markup_renders_as_text(chat):
    chat.ask("XSS-1")
    chat.ask(XSS)  # the user's own text too
    chat.page.wait_for_selector(RESULT, timeout=TIMEOUT_MS)
    assert chat.page.evaluate("typeof window.__xss") == "undefined"
    assert chat.page.locator(".chat-messages img").count() == 0
    texts = chat.texts()
    assert any(f"Biscoito {XSS}" in t for t in texts)
    assert any(t == XSS for t in chat.texts(".chat-msg-user"))
    assert chat.page.get_by_text(XSS).first.is_visible()
    assert chat.errors == []


def test_reload_keeps_the_history(chat):
    chat.ask("7891000100101")
    chat.page.wait_for_selector(RESULT, timeout=TIMEOUT_MS)
    ids, texts = chat.ids(), chat.texts()
    assert len(ids) == 3
    chat.page.reload()
    chat.page.wait_for_selector(RESULT, timeout=TIMEOUT_MS)
    assert chat.ids() == ids
    assert chat.texts() == texts
    seen = len(chat.polls)
    chat.page.wait_for_timeout(3_000)
    assert len(chat.polls) == seen  # the history needed one request; nothing is pending
    assert chat.errors == []


def test_portuguese_and_clarification_choices(chat):
    chat.page.click('[data-locale="pt-BR"]')
    assert chat.page.locator(".chat-send").inner_text() == "Enviar"
    chat.ask("feijao")
    clarification = chat.page.locator('[data-type="clarification"]')
    assert "Qual produto você quer dizer?" in clarification.locator(".chat-text").inner_text()
    choices = clarification.locator(".chat-choice")
    assert choices.count() == 2
    clarification.locator('.chat-choice[data-code="FEI-01"]').click()
    chat.page.wait_for_selector(RESULT, timeout=TIMEOUT_MS)
    text = chat.page.locator(f"{RESULT} .chat-text").inner_text()
    assert "Recomendação: comprar 140 un de S2." in text
    assert chat.page.locator(f"{RESULT} .chat-decision").inner_text() == "Comprar"
    assert chat.errors == []
