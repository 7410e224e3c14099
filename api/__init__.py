"""The HTTP side of Ruptura: the app factory."""

from flask import Blueprint, Flask
from flask_restx import Api

from api.auth import register_auth
from api.errors import error_response, register_error_handlers
from api.extensions import cors, db, limiter
from config import Config


class RupturaApi(Api):
    """flask-restx Api that renders every error in the one error shape."""

    def handle_error(self, e):
        return error_response(e)


def register_api(app: Flask) -> None:
    """Mount the versioned REST API and its Swagger UI at /api/docs."""
    from api import batches, data, ops, orders

    blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
    api = RupturaApi(
        blueprint,
        version="1",
        title="Ruptura API",
        description="Stock-out analysis of an order book, and purchase advice, on background "
        'workers. Poll the results; errors are {"error": {code, message, details}}.',
        doc="/docs",
        authorizations={"bearer": {"type": "apiKey", "in": "header", "name": "Authorization"}},
        security="bearer",
    )
    for namespace in (data.ns, batches.ns, orders.ns, ops.ns):
        api.add_namespace(namespace)
    try:
        from api import chat

        api.add_namespace(chat.ns)
    except ImportError:  # chat arrives with its own issue
        pass
    register_auth(blueprint)
    app.register_blueprint(blueprint)
    app.register_blueprint(ops.probes)

    @app.get("/api/docs")
    def docs_redirect():
        from flask import redirect

        return redirect("/api/v1/docs")


def register_extensions(app: Flask) -> None:
    """Bind the extensions."""
    db.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)  # Redis down: fail open, not 500
    # No limiter headers: its Retry-After (the window reset) would override the poll hint of 2 s.
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    limiter.init_app(app)
    cors.init_app(
        app,
        resources={r"/api/*": {"origins": app.config["CORS_ORIGINS"] or []}},
        allow_headers=["Authorization", "Content-Type", "If-None-Match", "Idempotency-Key"],
        expose_headers=["ETag", "Retry-After", "Location"],
        max_age=600,
    )


def register_pages(app: Flask) -> None:
    """Mount the order-book and chat pages, if present."""
    try:
        from web import pages
    except ImportError:
        return
    app.register_blueprint(pages.bp)


def create_app(config=None) -> Flask:
    """Create the Flask app from a config object (default: `Config`)."""
    app = Flask(__name__, static_folder=None)
    app.config.from_object(config or Config)
    app.config["RESTX_MASK_SWAGGER"] = False
    app.config["RESTX_ERROR_404_HELP"] = False
    register_extensions(app)
    register_api(app)
    register_pages(app)
    register_error_handlers(app)
    return app
