"""The API, served by uvicorn on 127.0.0.1:3579: /api/health, /api/version and
/api/notes (read and written in the database at DATABASE_URL)."""

from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from . import db, settings

ENGINE = {}


@asynccontextmanager
async def lifespan(_app):
    # One engine (a small pool) per worker process.
    ENGINE["db"] = db.engine(pool_size=5, max_overflow=5, pool_pre_ping=True)
    yield
    await ENGINE.pop("db").dispose()


app = FastAPI(title="example-api", lifespan=lifespan)


@app.get("/api/health")
async def health():
    # Healthy when the database answers and carries the schema this code expects.
    try:
        async with ENGINE["db"].connect() as conn:
            await conn.execute(text("SELECT count(*) FROM notes"))
    except Exception as e:  # noqa: BLE001 - any failure is "unhealthy"
        return JSONResponse(
            {"status": "unhealthy", "error": type(e).__name__ + ": " + str(getattr(e, "orig", e))},
            status_code=503,
        )
    return {"status": "ok", "database": ENGINE["db"].url.get_backend_name()}


@app.get("/api/version")
def version():
    return {
        "commit": settings.get("APP_COMMIT", "unknown"),
        "release": settings.get("APP_RELEASE", "unknown"),
        "ref": settings.get("APP_REF", "unknown"),
    }


class Note(BaseModel):
    body: str


@app.get("/api/notes")
async def list_notes():
    async with ENGINE["db"].connect() as conn:
        rows = await conn.execute(text("SELECT id, body FROM notes ORDER BY id"))
        return {"notes": [{"id": r.id, "body": r.body} for r in rows]}


@app.post("/api/notes", status_code=201)
async def add_note(note: Note):
    if not note.body.strip():
        raise HTTPException(status_code=422, detail="body must not be empty")
    async with ENGINE["db"].begin() as conn:
        row = await conn.execute(
            text("INSERT INTO notes (body) VALUES (:b) RETURNING id"), {"b": note.body}
        )
        return {"id": row.scalar_one(), "body": note.body}
