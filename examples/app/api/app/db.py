"""The database at DATABASE_URL, through SQLAlchemy's asyncio engine.

- `postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DB` (also `postgresql://` and
  `postgres://`, which mean asyncpg here): PostgreSQL.
- `sqlite:///ABSOLUTE/PATH` (also `sqlite+aiosqlite:///`): SQLite, through aiosqlite.

The URL may hold a password: it is never printed (`describe` shows it without).
"""

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from . import settings


def url(raw: str = ""):
    raw = raw or settings.get("DATABASE_URL")
    if not raw:
        raise ValueError("DATABASE_URL is not set")
    for prefix, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if raw.startswith(prefix):
            raw = driver + raw[len(prefix):]
            break
    u = make_url(raw)
    if u.drivername not in ("postgresql+asyncpg", "sqlite+aiosqlite"):
        raise ValueError(
            f"DATABASE_URL must be postgresql+asyncpg://... or sqlite:///PATH, not {u.drivername}://..."
        )
    return u


def describe(u) -> str:
    """The URL without its password, for messages."""
    return u.render_as_string(hide_password=True)


def engine(raw: str = "", **kwargs) -> AsyncEngine:
    u = url(raw)
    eng = create_async_engine(u, **kwargs)
    if u.get_backend_name() == "sqlite":
        # pysqlite's own transaction handling skips DDL: let SQLAlchemy's BEGIN
        # cover a whole migration, as PostgreSQL does.
        @event.listens_for(eng.sync_engine, "connect")
        def _connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None

        @event.listens_for(eng.sync_engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN")

    return eng
