"""Helpers shared by the resources: reading bodies and query strings through schemas."""

from flask import request
from marshmallow import Schema

from api.errors import ApiError


def json_body():
    """Return the parsed JSON body, or raise a 400 saying why it is not usable."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ApiError(400, "A JSON body is required.", code="bad_json")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "The body is not valid JSON.", code="bad_json")
    return data


def load_body(schema: Schema):
    """Validate the JSON body with a schema (422 with marshmallow's details on failure)."""
    data = json_body()
    if getattr(schema, "many", False) and not isinstance(data, list):
        raise ApiError(422, "The body must be a JSON list.", {"_schema": ["expected a list"]})
    if not getattr(schema, "many", False) and not isinstance(data, dict):
        raise ApiError(422, "The body must be a JSON object.", {"_schema": ["expected an object"]})
    return schema.load(data)


def load_query(schema: Schema):
    """Validate the query string with a schema."""
    return schema.load(request.args.to_dict())
