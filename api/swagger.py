"""Derive flask-restx (Swagger) models from the marshmallow schemas, so shapes are written once."""

from flask_restx import Namespace
from flask_restx import fields as rf
from marshmallow import Schema, missing, validate
from marshmallow import fields as mf

SIMPLE = {
    mf.String: rf.String,
    mf.Url: rf.String,
    mf.Float: rf.Float,
    mf.Integer: rf.Integer,
    mf.Boolean: rf.Boolean,
    mf.Date: rf.Date,
    mf.DateTime: rf.DateTime,
}


def _kwargs(field: mf.Field) -> dict:
    """Collect the Swagger attributes of a marshmallow field."""
    kwargs = {"required": field.required, "description": field.metadata.get("description")}
    validators = field.validators if hasattr(field, "validators") else []
    for v in validators:
        if isinstance(v, validate.OneOf):
            kwargs["enum"] = list(v.choices)
        elif isinstance(v, validate.Range):
            if v.min is not None:
                kwargs["min"] = v.min
                kwargs["exclusiveMin"] = not v.min_inclusive
            if v.max is not None:
                kwargs["max"] = v.max
    if field.load_default not in (None, missing) and not callable(field.load_default):
        kwargs["default"] = field.load_default
    return {k: v for k, v in kwargs.items() if v is not None}


class _Nullable:
    """Mix-in for a restx field whose value may be null: `x-nullable: true` (Swagger 2.0)."""

    def schema(self):
        return {**super().schema(), "x-nullable": True}


_NULLABLE: dict[type, type] = {}


def _restx(rx_type: type, field: mf.Field) -> type:
    """Return the restx field class to use, its nullable variant when the field allows None."""
    if not field.allow_none:
        return rx_type
    if rx_type not in _NULLABLE:
        _NULLABLE[rx_type] = type(f"Nullable{rx_type.__name__}", (_Nullable, rx_type), {})
    return _NULLABLE[rx_type]


def _field(ns: Namespace, field: mf.Field):
    """Convert one marshmallow field."""
    if isinstance(field, mf.Nested):
        return _restx(rf.Nested, field)(
            model(ns, field.nested), **_kwargs(field), allow_null=field.allow_none
        )
    if isinstance(field, mf.List):
        return _restx(rf.List, field)(_field(ns, field.inner), **_kwargs(field))
    if isinstance(field, mf.Dict | mf.Raw):
        return _restx(rf.Raw, field)(**_kwargs(field))
    for mm_type, rx_type in SIMPLE.items():
        if type(field) is mm_type:
            return _restx(rx_type, field)(**_kwargs(field))
    return _restx(rf.Raw, field)(**_kwargs(field))


def model(ns: Namespace, schema: type[Schema] | Schema):
    """Return (registering once) the restx model of a marshmallow schema."""
    schema_cls = schema if isinstance(schema, type) else type(schema)
    name = schema_cls.__name__.removesuffix("Schema")
    if name in ns.models:
        return ns.models[name]
    declared = schema_cls._declared_fields
    return ns.model(name, {key: _field(ns, f) for key, f in declared.items()})


def query_params(schema: type[Schema]) -> dict:
    """Describe a query-string schema as Swagger parameters."""
    params = {}
    for key, f in schema._declared_fields.items():
        kind = (
            "integer"
            if isinstance(f, mf.Integer)
            else "boolean"
            if isinstance(f, mf.Boolean)
            else "string"
        )
        params[key] = {
            "in": "query",
            "type": kind,
            "description": f.metadata.get("description", ""),
        }
    return params
