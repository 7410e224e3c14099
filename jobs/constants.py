"""Statuses and fixed names shared by the API and the workers."""

from enum import Enum


class AnalysisStatus(str, Enum):
    """Where one requested analysis is in the ledger."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ResultStatus(str, Enum):
    """What a finished analysis says, as the results endpoint reports it."""

    DONE = "done"
    FAILED = "failed"
    NOT_FOUND = "not_found"


class BatchState(str, Enum):
    """The state of a batch, derived from its analyses."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


class AnalysisKind(str, Enum):
    """Which engine a ledger row runs."""

    ORDER = "order"
    PURCHASE = "purchase"


class WebhookState(str, Enum):
    """Delivery state of a batch's callback."""

    NONE = "none"
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


OPEN_STATUSES = (AnalysisStatus.QUEUED.value, AnalysisStatus.RUNNING.value)
COUNTER_DATA_VERSION = "data_version"
COUNTER_FINISH_SEQ = "finish_seq"
SIGNATURE_HEADER = "X-Ruptura-Signature"
