"""Extensions, created unbound here and bound to the app with `init_app`."""

from flask import Flask, g
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from jobs import runtime
from jobs.ledger import ensure_counters


class Database:
    """Sessions per request over the process runtime's engines."""

    def init_app(self, app: Flask) -> None:
        """Build the runtime from the app's config and close sessions after each request."""
        app.extensions["ruptura.runtime"] = runtime.configure(app.config)
        app.teardown_appcontext(self._teardown)

    @property
    def runtime(self) -> runtime.Runtime:
        """Return this process's runtime."""
        return runtime.get()

    @property
    def session(self):
        """Return this request's write session (BEGIN IMMEDIATE on SQLite)."""
        if "db_session" not in g:
            g.db_session = runtime.get().session_factory()
        return g.db_session

    @property
    def reader(self):
        """Return this request's read-only snapshot session."""
        if "db_reader" not in g:
            g.db_reader = runtime.get().read_session_factory()
        return g.db_reader

    def create_all(self) -> None:
        """Create the tables directly (tests; the app itself uses migrations)."""
        from jobs.db import Base

        rt = runtime.get()
        Base.metadata.create_all(rt.engine)
        with rt.session_factory.begin() as session:
            ensure_counters(session)

    @staticmethod
    def _teardown(_exc) -> None:
        for key in ("db_session", "db_reader"):
            session = g.pop(key, None)
            if session is not None:
                session.close()


db = Database()
cors = CORS()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
