"""Migrations: `python -m app.migrate` applies migrations/*.sql in name order, once each.

The database is SQLite at DATABASE_URL (`sqlite:///ABSOLUTE/PATH`). Each migration
runs in a transaction with its bookkeeping row: a failing migration changes nothing
and exits 1 with the file name and the database's message.
"""

import sqlite3
import sys
from pathlib import Path

from . import settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def database_path(url: str) -> str:
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ValueError(f"DATABASE_URL must be sqlite:///PATH, not {url!r}")
    return "/" + url[len(prefix):].lstrip("/")


def main() -> int:
    path = database_path(settings.get("DATABASE_URL"))
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)")
    done = {row[0] for row in db.execute("SELECT name FROM schema_migrations")}
    applied = 0
    for sql in sorted(MIGRATIONS.glob("*.sql")):
        if sql.name in done:
            continue
        try:
            db.execute("BEGIN")
            for statement in sql.read_text().split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT INTO schema_migrations (name) VALUES (?)", (sql.name,))
            db.execute("COMMIT")
        except sqlite3.Error as e:
            db.execute("ROLLBACK")
            print(f"migration {sql.name} failed: {e}", file=sys.stderr)
            return 1
        applied += 1
        print(f"applied {sql.name}")
    print(f"{applied} migration(s) applied, database {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
