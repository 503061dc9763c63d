"""The API: /api/health and /api/version, served by uvicorn on 127.0.0.1:3579."""

import sqlite3

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from . import settings
from .migrate import database_path

app = FastAPI(title="example-api")


@app.get("/api/health")
def health():
    # Healthy when the database answers and carries the schema this code expects.
    try:
        with sqlite3.connect(database_path(settings.get("DATABASE_URL"))) as db:
            db.execute("SELECT count(*) FROM notes").fetchone()
    except Exception as e:  # noqa: BLE001 - any failure is "unhealthy"
        return JSONResponse({"status": "unhealthy", "error": str(e)}, status_code=503)
    return {"status": "ok"}


@app.get("/api/version")
def version():
    return {
        "commit": settings.get("APP_COMMIT", "unknown"),
        "release": settings.get("APP_RELEASE", "unknown"),
        "ref": settings.get("APP_REF", "unknown"),
    }
