"""Entry point run by the Ralph virtualenv's Python (never imported by pytest): Ralph's LRS on the filesystem backend.

Ralph 5.1.0's filesystem backend writes with the "create" operation, so only
the first write to its store succeeds (INFRA-NOTES.md); switching the class
default to "append" before the API module builds its backend fixes that.
Configuration comes from the environment the harness (`ralph.py`) sets:
`RALPH_RUNSERVER_BACKEND=fs`, `RALPH_AUTH_FILE`, the store directory, and
`RALPH_HARNESS_CREDENTIALS=user:password`, from which this script writes the
auth file itself (one bcrypt hash here is quicker than a `ralph auth` process).

Usage: python ralph_server.py HOST PORT
"""

import json
import os
import sys
from pathlib import Path

import bcrypt
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend

FSLRSBackend.default_operation_type = BaseOperationType.APPEND

import uvicorn  # noqa: E402  (after the patch above, on purpose)
from ralph.api import app  # noqa: E402


def write_auth_file(path: Path, credentials: str) -> None:
    """The file `ralph auth` would write, for one user with every scope."""
    username, password = credentials.split(":", 1)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
    agent = {"mbox": f"mailto:{username}@example.org", "objectType": "Agent"}
    path.write_text(json.dumps([{"agent": agent, "scopes": ["all"], "hash": hashed, "username": username}]))


if __name__ == "__main__":
    if os.environ.get("RALPH_HARNESS_CREDENTIALS"):
        write_auth_file(Path(os.environ["RALPH_AUTH_FILE"]), os.environ["RALPH_HARNESS_CREDENTIALS"])
    uvicorn.run(app, host=sys.argv[1], port=int(sys.argv[2]), log_level="warning", access_log=False)
