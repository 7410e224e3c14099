"""marshmallow schemas: the single source of truth for request and response shapes."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

CODE = validate.Length(min=1, max=64)
MAX_QTY = 1e12  # far above any real book; keeps sums and values finite (no inf in JSON)
POSITIVE = validate.Range(min=0, min_inclusive=False, max=MAX_QTY)
NON_NEGATIVE = validate.Range(min=0, max=MAX_QTY)


def code_field(**kwargs) -> fields.String:
    """Return a product/order code field."""
    return fields.String(required=True, validate=CODE, **kwargs)


class ProductSchema(Schema):
    code = code_field(metadata={"description": "Canonical product code"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    unit = fields.String(load_default="un", validate=validate.Length(min=1, max=16))
    aliases = fields.List(
        fields.String(validate=CODE),
        load_default=list,
        metadata={"description": "Other codes of the same physical product"},
    )


class StockSchema(Schema):
    product = code_field()
    on_hand = fields.Float(
        required=True,
        validate=validate.Range(min=-MAX_QTY, max=MAX_QTY),
        metadata={"description": "May be negative"},
    )


class ReceiptSchema(Schema):
    id = fields.String(required=True, validate=CODE, metadata={"description": "Integrator's key"})
    product = code_field()
    date = fields.Date(required=True)
    qty = fields.Float(required=True, validate=POSITIVE)
    kind = fields.String(required=True, validate=validate.OneOf(["production", "purchase"]))


class OrderLineSchema(Schema):
    product = code_field()
    qty = fields.Float(required=True, validate=POSITIVE, metadata={"description": "Open quantity"})
    unit_price = fields.Float(load_default=0.0, validate=NON_NEGATIVE)


class OrderSchema(Schema):
    number = code_field()
    customer = fields.String(load_default="", validate=validate.Length(max=255))
    ship_date = fields.Date(
        load_default=None, allow_none=True, metadata={"description": "null: unscheduled"}
    )
    priority = fields.Integer(
        load_default=0,
        validate=validate.Range(min=-1000, max=1000),
        metadata={"description": "Higher goes first"},
    )
    created_at = fields.DateTime(load_default=None, allow_none=True)
    status = fields.String(load_default="open", validate=validate.OneOf(["open", "closed"]))
    lines = fields.List(
        fields.Nested(OrderLineSchema), load_default=list, validate=validate.Length(max=1000)
    )


class SaleSchema(Schema):
    product = code_field()
    date = fields.Date(required=True)
    qty = fields.Float(required=True, validate=NON_NEGATIVE)


class SupplierOfferSchema(Schema):
    supplier = fields.String(required=True, validate=validate.Length(min=1, max=128))
    product = code_field()
    unit_price = fields.Float(required=True, validate=POSITIVE)
    lead_time_days = fields.Integer(required=True, validate=validate.Range(min=0, max=3650))
    min_qty = fields.Float(load_default=0.0, validate=NON_NEGATIVE)
    multiple = fields.Float(load_default=1.0, validate=POSITIVE)


class LoadResultSchema(Schema):
    kind = fields.String(required=True)
    count = fields.Integer(required=True)
    data_version = fields.Integer(required=True)


class BatchRequestSchema(Schema):
    orders = fields.List(
        fields.String(validate=CODE), required=True, validate=validate.Length(min=1, max=10_000)
    )
    as_of = fields.Date(
        load_default=None, allow_none=True, metadata={"description": "Default: today"}
    )
    callback_url = fields.Url(
        load_default=None, allow_none=True, require_tld=False, schemes={"http", "https"}
    )


class BatchCreatedSchema(Schema):
    id = fields.String(required=True)
    total = fields.Integer(required=True)
    state = fields.String(required=True, validate=validate.OneOf(["queued", "running", "done"]))
    status_url = fields.String(required=True)
    results_url = fields.String(required=True)


class BatchStatusSchema(Schema):
    id = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(["queued", "running", "done"]))
    as_of = fields.Date(required=True)
    total = fields.Integer(required=True)
    done = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    not_found = fields.Integer(required=True)
    pending = fields.Integer(required=True)
    progress = fields.Float(required=True, metadata={"description": "0..1"})
    created_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(allow_none=True)


class ResultsQuerySchema(Schema):
    since = fields.String(load_default=None, metadata={"description": "Opaque cursor"})
    orders = fields.String(load_default=None, metadata={"description": "Comma-separated numbers"})
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=1000))


class ProjectionPointSchema(Schema):
    date = fields.Date(required=True)
    stock = fields.Float(required=True)


class ReceiptRefSchema(Schema):
    date = fields.Date(required=True)
    qty = fields.Float(required=True)


class LineAnalysisSchema(Schema):
    product = fields.String(required=True)
    name = fields.String(allow_none=True)
    codes = fields.List(fields.String())
    qty = fields.Float(required=True)
    unit_price = fields.Float()
    value = fields.Float()
    status = fields.String(validate=validate.OneOf(["available", "late", "unavailable"]))
    available_on = fields.Date(allow_none=True)
    shortfall = fields.Float()
    on_hand = fields.Float()
    queue_ahead = fields.Float()
    supply_at_need = fields.Float()
    unknown_product = fields.Boolean()
    next_receipt = fields.Nested(ReceiptRefSchema, allow_none=True)
    projection = fields.List(fields.Nested(ProjectionPointSchema))
    min_projected = fields.Float(allow_none=True)


class OrderAnalysisSchema(Schema):
    status = fields.String(
        required=True, validate=validate.OneOf(["ok", "partial", "short", "not_found"])
    )
    as_of = fields.Date(required=True)
    total_value = fields.Float()
    available_value = fields.Float()
    availability_pct = fields.Float()
    ready_date = fields.Date(allow_none=True)
    criticality = fields.String(
        validate=validate.OneOf(["none", "low", "medium", "high", "critical"])
    )
    data_version = fields.Integer()
    computed_at = fields.DateTime()
    stale = fields.Boolean()
    lines = fields.List(fields.Nested(LineAnalysisSchema))


class ErrorDetailSchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)


class OrderResultSchema(Schema):
    order = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["done", "failed", "not_found"]))
    analysis = fields.Nested(OrderAnalysisSchema)
    error = fields.Nested(ErrorDetailSchema)


class ResultsPageSchema(Schema):
    results = fields.List(fields.Nested(OrderResultSchema), required=True)
    cursor = fields.String(required=True)
    pending = fields.Integer(required=True)
    state = fields.String(required=True, validate=validate.OneOf(["queued", "running", "done"]))


class AnalysisQuerySchema(Schema):
    fresh = fields.Boolean(load_default=False)
    as_of = fields.Date(load_default=None, allow_none=True)


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Raw(allow_none=True)


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class ChatSessionRequestSchema(Schema):
    locale = fields.String(load_default="en", validate=validate.OneOf(["en", "pt-BR"]))


class ChatSessionSchema(Schema):
    id = fields.String(required=True)
    locale = fields.String(required=True)
    created_at = fields.DateTime(required=True)


class ChatMessageRequestSchema(Schema):
    content = fields.String(required=True, validate=validate.Length(min=1, max=2000))

    @validates_schema
    def not_blank(self, data, **kwargs):
        """Reject a message of only white space."""
        if not data["content"].strip():
            raise ValidationError("must not be blank", "content")


class ChatMessageSchema(Schema):
    id = fields.Integer(required=True)
    sender = fields.String(required=True, validate=validate.OneOf(["user", "ai"]))
    content = fields.String(required=True)
    metadata = fields.Dict(
        allow_none=True,
        metadata={
            "description": "type: analysis_started | clarification | no_match | "
            "analysis_result | analysis_failed (null on user messages)"
        },
    )
    created_at = fields.DateTime(required=True)


class ChatExchangeSchema(Schema):
    messages = fields.List(
        fields.Nested(ChatMessageSchema),
        required=True,
        metadata={"description": "The user's message, then the assistant's immediate answer"},
    )


class ChatMessagesQuerySchema(Schema):
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0),
        metadata={"description": "Only messages with a larger id"},
    )


class ChatMessagesSchema(Schema):
    messages = fields.List(fields.Nested(ChatMessageSchema), required=True)
    pending = fields.Boolean(
        required=True,
        metadata={"description": "A purchase analysis of this session is queued or running"},
    )


class StatsSchema(Schema):
    mode = fields.String(required=True)
    data_version = fields.Integer(required=True)
    queue_depth = fields.Integer(allow_none=True)
    workers = fields.Integer(allow_none=True)
    analyses = fields.Dict(keys=fields.String(), values=fields.Integer())


class HealthSchema(Schema):
    status = fields.String(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.String())
