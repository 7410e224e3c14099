"""Tables: the data integrators load, and the ledger of requested analyses."""

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobs.constants import AnalysisKind, AnalysisStatus, WebhookState
from jobs.db import Base, utcnow


class UTCDateTime(TypeDecorator):
    """Store naive UTC, hand back aware UTC, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value is not None else None


class Counter(Base):
    """Named monotonic counters: the data version and the finish sequence."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Product(Base):
    """A canonical product."""

    __tablename__ = "products"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    unit: Mapped[str] = mapped_column(String(16), default="un")
    aliases: Mapped[list["ProductAlias"]] = relationship(
        back_populates="product", cascade="all, delete-orphan"
    )


class ProductAlias(Base):
    """Another code for the same physical product."""

    __tablename__ = "product_aliases"
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_code: Mapped[str] = mapped_column(
        ForeignKey("products.code", ondelete="CASCADE"), index=True
    )
    product: Mapped[Product] = relationship(back_populates="aliases")


class Stock(Base):
    """On-hand quantity under one code (canonical or alias)."""

    __tablename__ = "stock"
    product_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    on_hand: Mapped[float] = mapped_column(Float)


class Receipt(Base):
    """Planned incoming quantity."""

    __tablename__ = "receipts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_code: Mapped[str] = mapped_column(String(64), index=True)
    date: Mapped[date] = mapped_column(Date)
    qty: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(16))


class Order(Base):
    """A sales order; its open lines are demand while it is open."""

    __tablename__ = "orders"
    number: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer: Mapped[str] = mapped_column(String(255), default="")
    ship_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    lines: Mapped[list["OrderLine"]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.line_no"
    )


class OrderLine(Base):
    """An open line of an order."""

    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_number: Mapped[str] = mapped_column(
        ForeignKey("orders.number", ondelete="CASCADE"), index=True
    )
    line_no: Mapped[int] = mapped_column(Integer)
    product_code: Mapped[str] = mapped_column(String(64), index=True)
    qty: Mapped[float] = mapped_column(Float)
    unit_price: Mapped[float] = mapped_column(Float, default=0.0)
    order: Mapped[Order] = relationship(back_populates="lines")


class Sale(Base):
    """Quantity sold on one day under one code."""

    __tablename__ = "sales"
    product_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    qty: Mapped[float] = mapped_column(Float)


class SupplierOffer(Base):
    """What one supplier charges for one product, and how fast it delivers."""

    __tablename__ = "supplier_offers"
    supplier: Mapped[str] = mapped_column(String(128), primary_key=True)
    product_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit_price: Mapped[float] = mapped_column(Float)
    lead_time_days: Mapped[int] = mapped_column(Integer)
    min_qty: Mapped[float] = mapped_column(Float, default=0.0)
    multiple: Mapped[float] = mapped_column(Float, default=1.0)


class Batch(Base):
    """A set of orders someone asked to analyse together."""

    __tablename__ = "batches"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    total: Mapped[int] = mapped_column(Integer)
    callback_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    webhook_state: Mapped[str] = mapped_column(String(16), default=WebhookState.NONE.value)
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0)
    webhook_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Analysis(Base):
    """One requested analysis: a ledger row before it is a job, the result after."""

    __tablename__ = "analyses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), default=AnalysisKind.ORDER.value)
    subject: Mapped[str] = mapped_column(String(64))  # order number or product code
    as_of: Mapped[date] = mapped_column(Date)
    requested_version: Mapped[int] = mapped_column(BigInteger)
    data_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=AnalysisStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finish_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    result_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    chat_session_id: Mapped[str | None] = mapped_column(String(36), nullable=True)

    __table_args__ = (
        Index("ix_analyses_open", "status", "deadline"),
        Index("ix_analyses_dedup", "kind", "subject", "as_of", "requested_version", "status"),
        Index("ix_analyses_latest", "kind", "subject", "finish_seq"),
    )


class BatchItem(Base):
    """Membership of an analysis in a batch (several batches may share one analysis)."""

    __tablename__ = "batch_items"
    batch_id: Mapped[str] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analyses.id"), primary_key=True)
    order_number: Mapped[str] = mapped_column(String(64))
    __table_args__ = (
        UniqueConstraint("batch_id", "order_number"),
        Index("ix_batch_items_analysis", "analysis_id"),
    )


class ChatSession(Base):
    """A conversation about products."""

    __tablename__ = "chat_sessions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    locale: Mapped[str] = mapped_column(String(8), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatMessage(Base):
    """One message of a chat session, from the user or the assistant."""

    __tablename__ = "chat_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("chat_sessions.id", ondelete="CASCADE"), index=True
    )
    sender: Mapped[str] = mapped_column(String(16))  # user | ai
    content: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict | None] = mapped_column("metadata", JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
