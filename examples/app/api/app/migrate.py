"""Migrations: `python -m app.migrate` applies migrations/*.sql in name order, once each.

`python -m app.migrate --check` applies nothing: it prints the migrations still to
run and exits 1 if there are any, 0 if none, 2 if the database cannot say (the
deploy turns the maintenance page on only for a release that has some to run).

`NAME.sql` is for every database; `NAME.postgresql.sql` and `NAME.sqlite.sql` are
the same migration written for one database each (recorded as `NAME.sql`).

The database is DATABASE_URL (PostgreSQL or SQLite, see app/db.py). Each migration
runs in a transaction with its bookkeeping row: a failing migration changes nothing
and exits 1 with the file name and the database's message.
"""

import asyncio
import sys
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from . import db

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def migrations(backend: str) -> list:
    """(recorded name, file) of the migrations for this backend, in name order."""
    found = {}
    for sql in MIGRATIONS.glob("*.sql"):
        parts = sql.name[: -len(".sql")].rsplit(".", 1)
        if len(parts) == 2 and parts[1] in ("postgresql", "sqlite"):
            if parts[1] != backend:
                continue
            found[parts[0] + ".sql"] = sql
        else:
            found.setdefault(sql.name, sql)
    return sorted(found.items())


async def migrate() -> int:
    eng = db.engine()
    try:
        async with eng.begin() as conn:
            await conn.execute(
                text("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)")
            )
            done = {row[0] for row in await conn.execute(text("SELECT name FROM schema_migrations"))}
        applied = 0
        for name, sql in migrations(eng.url.get_backend_name()):
            if name in done:
                continue
            try:
                async with eng.begin() as conn:
                    for statement in sql.read_text().split(";"):
                        if statement.strip():
                            await conn.exec_driver_sql(statement)
                    await conn.execute(
                        text("INSERT INTO schema_migrations (name) VALUES (:name)"),
                        {"name": name},
                    )
            except SQLAlchemyError as e:
                print(f"migration {sql.name} failed: {getattr(e, 'orig', e)}", file=sys.stderr)
                return 1
            applied += 1
            print(f"applied {name}")
        print(f"{applied} migration(s) applied, database {db.describe(eng.url)}")
        return 0
    finally:
        await eng.dispose()


async def pending() -> list:
    """The recorded names of the migrations not applied yet."""
    eng = db.engine()
    try:
        async with eng.connect() as conn:
            try:
                rows = await conn.execute(text("SELECT name FROM schema_migrations"))
                done = {row[0] for row in rows}
            except SQLAlchemyError:
                done = set()  # no bookkeeping table yet: every migration is to run
        return [name for name, _ in migrations(eng.url.get_backend_name()) if name not in done]
    finally:
        await eng.dispose()


def check() -> int:
    try:
        names = asyncio.run(pending())
    except Exception as e:  # noqa: BLE001 - any failure means "cannot say"
        print(f"cannot read the applied migrations: {e}", file=sys.stderr)
        return 2
    for name in names:
        print(f"to run: {name}")
    return 1 if names else 0


def main() -> int:
    if sys.argv[1:] == ["--check"]:
        return check()
    return asyncio.run(migrate())


if __name__ == "__main__":
    sys.exit(main())
