"""One error shape for the whole API: {"error": {"code", "message", "details"}}."""

import logging
import math
import time

import redis
from flask import jsonify, request
from marshmallow import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("ruptura.api")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the API reports to its client."""

    def __init__(
        self,
        status: int,
        message: str,
        details=None,
        code: str | None = None,
        headers: dict | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.code = code or HTTP_CODES.get(status, "error")
        self.headers = headers or {}


def seconds_until_reset() -> int:
    """Return how long the client must wait before the breached rate limit resets."""
    from api.extensions import limiter

    current = limiter.current_limit
    return max(1, math.ceil(current.reset_at - time.time())) if current else 1


def body(code: str, message: str, details=None) -> dict:
    """Build the error document."""
    return {"error": {"code": code, "message": message, "details": details}}


def to_api_error(exc: Exception) -> ApiError:
    """Translate any exception into an ApiError."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ValidationError):
        return ApiError(422, "Some fields are invalid.", exc.messages)
    if isinstance(exc, DataError):  # input the database refuses, e.g. a NUL character (PostgreSQL)
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        log.warning("value refused by the database: %s", reason)
        return ApiError(
            422, "A value in the request cannot be stored or compared.", {"_request": [reason]}
        )
    if isinstance(exc, OperationalError | redis.ConnectionError | redis.TimeoutError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        log.warning("dependency down: %r", exc)
        return ApiError(
            503, "A dependency is unavailable; try again shortly.", headers={"Retry-After": "5"}
        )
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        headers = {}
        if status == 429:
            headers["Retry-After"] = str(seconds_until_reset())
        message = exc.description or exc.name
        if status == 413:
            message = "The request body is larger than the server accepts."
        return ApiError(status, message, headers=headers)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return ApiError(500, "Internal error.", code="internal")


def error_response(exc: Exception):
    """Render any exception in the one error shape."""
    err = to_api_error(exc)
    response = jsonify(body(err.code, err.message, err.details))
    response.status_code = err.status
    response.headers.update(err.headers)
    return response


def wants_json() -> bool:
    """Tell whether this request is an API call (as opposed to a page)."""
    return request.path.startswith("/api/") or request.path in ("/healthz", "/readyz")


def register_error_handlers(app) -> None:
    """Use the one error shape for API paths, Flask's default pages elsewhere."""

    @app.errorhandler(Exception)
    def handle(exc):
        if wants_json():
            return error_response(exc)
        if isinstance(exc, HTTPException):
            return exc
        return error_response(exc)
