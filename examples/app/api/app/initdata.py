"""Initial data: `python -m app.initdata FILE` loads {"notes": ["...", ...]} (JSON).

Idempotent: a note whose body is already there is not added again.
"""

import asyncio
import json
import sys

from sqlalchemy import text

from . import db


async def load(notes: list) -> int:
    eng = db.engine()
    try:
        async with eng.begin() as conn:
            added = 0
            for body in notes:
                found = await conn.execute(text("SELECT 1 FROM notes WHERE body = :b"), {"b": body})
                if found.first():
                    continue
                await conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})
                added += 1
        return added
    finally:
        await eng.dispose()


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
    added = asyncio.run(load(notes))
    print(f"{added} note(s) added, {len(notes) - added} already there")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
