"""Anonymisation: `python -m app.anonymize` replaces every note's body with
`note ID`, so a copy of production's data (`opsctl restore --env staging --from
prod --anonymize ...`) keeps its shape and loses its content.
"""

import asyncio
import sys

from sqlalchemy import text

from . import db


async def anonymize() -> int:
    eng = db.engine()
    try:
        async with eng.begin() as conn:
            result = await conn.execute(
                text("UPDATE notes SET body = 'note ' || CAST(id AS TEXT)")
            )
            return result.rowcount
    finally:
        await eng.dispose()


def main() -> int:
    n = asyncio.run(anonymize())
    print(f"anonymized {n} notes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
