"""Apply and check Alembic migrations against a database URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from amss.db.engine import sqlalchemy_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Stored as an attribute, not an option: ConfigParser would choke on '%' in passwords.
    config.attributes["url"] = sqlalchemy_url(url)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def pending_revisions(url: str) -> list[str]:
    """Revisions that exist in the code but are not applied to the database yet."""
    script = ScriptDirectory.from_config(alembic_config(url))
    engine = create_engine(sqlalchemy_url(url), hide_parameters=True)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()
    heads = set(script.get_heads())
    if current == heads:
        return []
    applied: set[str] = set()
    for rev in current:
        applied.update(r.revision for r in script.iterate_revisions(rev, "base"))
    return [r.revision for r in script.walk_revisions() if r.revision not in applied]


def migrations_fingerprint() -> str:
    """Changes whenever a migration file changes (names the cached test template database)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
