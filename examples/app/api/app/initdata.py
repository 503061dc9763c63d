"""Initial data: `python -m app.initdata FILE` loads {"notes": ["...", ...]} (JSON).

Idempotent: a note whose body is already there is not added again.
"""

import json
import sqlite3
import sys

from . import settings
from .migrate import database_path


def main(argv: list) -> int:
    if len(argv) != 1:
        print("usage: python -m app.initdata FILE", file=sys.stderr)
        return 2
    try:
        with open(argv[0]) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{argv[0]}: {e}", file=sys.stderr)
        return 1
    notes = data.get("notes") if isinstance(data, dict) else None
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        print(f'{argv[0]}: expected {{"notes": ["text", ...]}}', file=sys.stderr)
        return 1
    added = 0
    with sqlite3.connect(database_path(settings.get("DATABASE_URL"))) as db:
        for body in notes:
            if db.execute("SELECT 1 FROM notes WHERE body = ?", (body,)).fetchone():
                continue
            db.execute("INSERT INTO notes (body) VALUES (?)", (body,))
            added += 1
    print(f"{added} note(s) added, {len(notes) - added} already there")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
