"""Settings: the release's `.env` (written by the deploy, mode 0600), then the environment.

The `.env` is looked up next to the code of THIS release (`<release>/.env`), not in
the working directory: a rolling restart (SIGHUP) starts the new workers from the
new release while the parent process keeps its old working directory.
"""

import os
from pathlib import Path

RELEASE_DIR = Path(__file__).resolve().parent.parent.parent


def _read_env_file(path: Path) -> dict:
    values = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return values
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


_FILE = _read_env_file(RELEASE_DIR / ".env")


def get(name: str, default: str = "") -> str:
    return os.environ.get(name) or _FILE.get(name) or default
