"""Access control and rate limits for the API.

Writes (POST, PUT, PATCH, DELETE) need `Authorization: Bearer <token>` with a
token from RUPTURA_API_TOKENS; reads need one too when RUPTURA_READS_NEED_TOKEN
is set. With no tokens configured the API runs open (the demo), and says so at
start-up. Rate limits count per token, else per client address.
"""

import hmac

from flask import Blueprint, current_app, request

from api.errors import ApiError
from api.extensions import limiter

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def bearer_token() -> str | None:
    """Return the bearer token of this request, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def client_key() -> str:
    """Identify the client for rate limiting: its token, else its address."""
    token = bearer_token()
    return f"token:{token}" if token else f"addr:{request.remote_addr}"


def check_token() -> None:
    """Reject the request unless it carries an accepted token where one is needed."""
    tokens = current_app.config.get("API_TOKENS") or []
    if not tokens or request.method == "OPTIONS":
        return
    if request.method not in WRITE_METHODS and not current_app.config.get("READS_NEED_TOKEN"):
        return
    token = bearer_token()
    if token is None:
        raise ApiError(
            401,
            "A bearer token is required.",
            headers={"WWW-Authenticate": 'Bearer realm="ruptura"'},
        )
    if not any(hmac.compare_digest(token, accepted) for accepted in tokens):
        raise ApiError(403, "This token is not accepted.")


def register_auth(blueprint: Blueprint) -> None:
    """Check tokens before every request of the API blueprint."""
    blueprint.before_request(check_token)


def rate_limit(setting: str, methods: list[str] | None = None):
    """Return a limiter decorator whose limit string comes from a config key."""
    return limiter.limit(
        lambda: current_app.config[setting],
        key_func=client_key,
        methods=methods,
        per_method=bool(methods),
    )
