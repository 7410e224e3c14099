"""Chat namespace: ask about one product; the purchase analysis answers from a worker.

A message is matched to a product at once (api.matching). One product: a
purchase-analysis ledger row is written and dispatched, and the assistant says
so (`analysis_started`); the worker later appends `analysis_result` (or
`analysis_failed`). Several products: the assistant asks which one
(`clarification`, no job). None: it says how to ask (`no_match`, no job).
A reply to a clarification may be the number of a listed product, or words
that single one of them out.
"""

import uuid
from datetime import date

from flask import current_app, request, url_for
from flask_restx import Namespace, Resource
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from api import matching, schemas
from api.auth import rate_limit
from api.common import load_body, load_query
from api.errors import ApiError
from api.extensions import db
from api.swagger import model, query_params
from jobs import ledger, tasks
from jobs.constants import OPEN_STATUSES, AnalysisKind
from jobs.db import utcnow
from jobs.models import Analysis, ChatMessage, ChatSession, Product, ProductAlias

ns = Namespace("chat", path="/chat", description="Ask whether to buy a product; poll the answer")
ERROR = model(ns, schemas.ErrorSchema)
SESSION = model(ns, schemas.ChatSessionSchema)
EXCHANGE = model(ns, schemas.ChatExchangeSchema)
MESSAGES = model(ns, schemas.ChatMessagesSchema)
RETRY_AFTER = "2"
QUOTE_CHARS = 80

TEXTS = {
    "en": {
        "started": "Analysing {code} – {name}. The answer will appear here in a moment.",
        "clarify": "Which product do you mean?\n{options}\nReply with the code or the number.",
        "no_match": 'I could not find a product matching "{text}". Ask with a product code, '
        'an alias or part of its name, for example: "Should I buy more {example}?"',
        "no_products": "There are no products loaded yet, so I cannot analyse anything. "
        "Load them through the API (PUT /api/v1/products), then ask again.",
    },
    "pt-BR": {
        "started": "Analisando {code} – {name}. A resposta aparece aqui em instantes.",
        "clarify": "Qual produto você quer dizer?\n{options}\nResponda com o código ou o número.",
        "no_match": 'Não encontrei um produto para "{text}". Pergunte pelo código do produto, '
        'um código alternativo ou parte do nome, por exemplo: "Devo comprar mais {example}?"',
        "no_products": "Ainda não há produtos carregados, então não consigo analisar nada. "
        "Carregue-os pela API (PUT /api/v1/products) e pergunte de novo.",
    },
}


# --- services ---------------------------------------------------------------------------


def message_dict(message: ChatMessage) -> dict:
    """Shape a stored message for the API."""
    return schemas.ChatMessageSchema().dump(
        {
            "id": message.id,
            "sender": message.sender,
            "content": message.content,
            "metadata": message.meta,
            "created_at": message.created_at,
        }
    )


def create_session(session: Session, locale: str) -> dict:
    """Start a conversation."""
    chat = ChatSession(id=str(uuid.uuid4()), locale=locale, created_at=utcnow())
    session.add(chat)
    session.flush()
    return schemas.ChatSessionSchema().dump(
        {"id": chat.id, "locale": chat.locale, "created_at": chat.created_at}
    )


def get_chat(session: Session, session_id: str) -> ChatSession:
    """Return a chat session or raise 404."""
    chat = session.get(ChatSession, session_id)
    if chat is None:
        raise ApiError(404, f"Chat session '{session_id}' does not exist.")
    return chat


def load_candidates(session: Session) -> list[matching.Candidate]:
    """Return every product with its aliases, for the matcher."""
    aliases: dict[str, list[str]] = {}
    for alias, code in session.execute(
        select(ProductAlias.alias, ProductAlias.product_code).order_by(ProductAlias.alias)
    ):
        aliases.setdefault(code, []).append(alias)
    return [
        matching.Candidate(code, name, tuple(aliases.get(code, ())))
        for code, name in session.execute(select(Product.code, Product.name).order_by(Product.code))
    ]


def last_ai_message(session: Session, session_id: str) -> ChatMessage | None:
    """Return the assistant's latest message in a session."""
    return session.scalar(
        select(ChatMessage)
        .where(ChatMessage.session_id == session_id, ChatMessage.sender == "ai")
        .order_by(ChatMessage.id.desc())
        .limit(1)
    )


def resolve(
    text: str, candidates: list[matching.Candidate], previous: ChatMessage | None
) -> matching.Match:
    """Match a message, letting it first answer a pending clarification."""
    offered = (previous.meta or {}).get("candidates") if previous is not None else None
    if previous is not None and (previous.meta or {}).get("type") == "clarification" and offered:
        by_code = {c.code: c for c in candidates}
        listed = [by_code[o["code"]] for o in offered if o.get("code") in by_code]
        choice = text.strip().rstrip(".)").lstrip("#")
        if choice.isdigit() and 1 <= int(choice) <= len(listed):
            return matching.Match("single", [listed[int(choice) - 1]])
        narrowed = matching.find_product(text, listed)
        if narrowed.kind == "single":
            strong, _ = matching.match_codes(text, candidates)
            if not strong or strong == narrowed.products:
                return narrowed
    return matching.find_product(text, candidates)


def ai_reply(
    match: matching.Match, text: str, locale: str, candidates: list[matching.Candidate]
) -> tuple[str, dict]:
    """Return the content and metadata of the assistant's immediate answer (not a started one)."""
    t = TEXTS[locale]
    if match.kind == "ambiguous":
        options = "\n".join(
            f"{i}. {p.code} – {p.name}" for i, p in enumerate(match.products, start=1)
        )
        meta = {
            "type": "clarification",
            "candidates": [{"code": p.code, "name": p.name} for p in match.products],
        }
        return t["clarify"].format(options=options), meta
    if not candidates:
        return t["no_products"], {"type": "no_match"}
    quoted = " ".join(text.split())
    if len(quoted) > QUOTE_CHARS:
        quoted = quoted[: QUOTE_CHARS - 1] + "…"
    example = candidates[0].name or candidates[0].code
    return t["no_match"].format(text=quoted, example=example), {"type": "no_match"}


def post_message(session: Session, chat: ChatSession, text: str, settings) -> tuple[list, tuple]:
    """Store the user's message and the assistant's answer; return them and the dispatch, if any."""
    candidates = load_candidates(session)
    match = resolve(text, candidates, last_ai_message(session, chat.id))
    locale = chat.locale if chat.locale in TEXTS else "en"
    now = utcnow()
    user = ChatMessage(session_id=chat.id, sender="user", content=text, meta=None, created_at=now)
    session.add(user)
    session.flush()
    job = None
    if match.kind == "single":
        product = match.products[0]
        row, token = ledger.create_purchase_analysis(
            session, product.code, date.today(), chat.id, settings["QUEUED_DEADLINE_S"]
        )
        content = TEXTS[locale]["started"].format(code=product.code, name=product.name)
        meta = {
            "type": "analysis_started",
            "async": True,
            "product": product.code,
            "name": product.name,
            "analysis_id": row.id,
        }
        job = (AnalysisKind.PURCHASE.value, token, [row.id])
    else:
        content, meta = ai_reply(match, text, locale, candidates)
    ai = ChatMessage(session_id=chat.id, sender="ai", content=content, meta=meta, created_at=now)
    session.add(ai)
    session.flush()
    return [message_dict(user), message_dict(ai)], job


def list_messages(session: Session, session_id: str, after: int) -> dict:
    """Return the messages after an id and whether an analysis is still open, from one snapshot."""
    get_chat(session, session_id)
    rows = session.scalars(
        select(ChatMessage)
        .where(ChatMessage.session_id == session_id, ChatMessage.id > after)
        .order_by(ChatMessage.id)
    )
    pending = session.scalar(
        select(
            exists().where(
                Analysis.status.in_(OPEN_STATUSES),  # ix_analyses_open: few rows are open
                Analysis.kind == AnalysisKind.PURCHASE.value,
                Analysis.chat_session_id == session_id,
            )
        )
    )
    return {"messages": [message_dict(m) for m in rows], "pending": bool(pending)}


# --- resources --------------------------------------------------------------------------


@ns.route("/sessions")
class ChatSessions(Resource):
    method_decorators = [rate_limit("RATELIMIT_WRITE")]

    @ns.doc("create_chat_session", description="Start a conversation; locale en or pt-BR.")
    @ns.expect(model(ns, schemas.ChatSessionRequestSchema))
    @ns.response(201, "Created", SESSION)
    @ns.response(400, "Bad JSON", ERROR)
    @ns.response(422, "Invalid locale", ERROR)
    @ns.response(429, "Rate limited", ERROR)
    def post(self):
        raw = request.get_data(cache=True)
        schema = schemas.ChatSessionRequestSchema()
        payload = load_body(schema) if raw.strip() else schema.load({})
        session = db.session
        with session.begin():
            body = create_session(session, payload["locale"])
        location = url_for("api.chat_chat_messages", session_id=body["id"])
        return body, 201, {"Location": location}


@ns.route("/sessions/<string:session_id>/messages")
class ChatMessages(Resource):
    method_decorators = [
        rate_limit("RATELIMIT_ENQUEUE", ["POST"]),
        rate_limit("RATELIMIT_POLL", ["GET"]),
    ]

    @ns.doc(
        "post_chat_message",
        description="Ask about a product (code, alias or name). The answer comes at once: "
        "analysis_started (poll the messages), clarification, or no_match.",
    )
    @ns.expect(model(ns, schemas.ChatMessageRequestSchema))
    @ns.response(201, "The user's message and the assistant's answer", EXCHANGE)
    @ns.response(400, "Bad JSON", ERROR)
    @ns.response(404, "No such session", ERROR)
    @ns.response(422, "Invalid message", ERROR)
    @ns.response(429, "Rate limited", ERROR)
    def post(self, session_id):
        payload = load_body(schemas.ChatMessageRequestSchema())
        session = db.session
        with session.begin():
            chat = get_chat(session, session_id)
            messages, job = post_message(session, chat, payload["content"], current_app.config)
        if job is not None:
            tasks.dispatch(db.runtime, [job])
        return {"messages": messages}, 201

    @ns.doc(
        "get_chat_messages",
        params=query_params(schemas.ChatMessagesQuerySchema),
        description="Messages after an id; `pending` while an analysis is queued or running.",
    )
    @ns.response(200, "Messages", MESSAGES)
    @ns.response(404, "No such session", ERROR)
    @ns.response(422, "Bad query", ERROR)
    def get(self, session_id):
        query = load_query(schemas.ChatMessagesQuerySchema())
        session = db.reader
        with session.begin():
            body = list_messages(session, session_id, query["after"])
        headers = {"Cache-Control": "no-store"}
        if body["pending"]:
            headers["Retry-After"] = RETRY_AFTER
        return body, 200, headers
