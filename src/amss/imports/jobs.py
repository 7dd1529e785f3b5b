"""The import job: claim, validate, then apply batch after batch until done.

Each step is its own transaction and re-reads the import's status, so a worker killed at
any point leaves a state the next run continues from: ``validating`` with no rows (the
validation rolled back, start it again) or ``applying`` with some rows ``applied`` (those
committed with what they applied; the rest are still ``valid``).
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.exc import DataError, IntegrityError

from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.imports import service
from amss.kit.handlers import database_error
from amss.kit.logging import get_logger

_log = get_logger(__name__)


async def run_import(
    database: Database,
    import_id: UUID,
    org_id: UUID,
    *,
    batch_size: int = service.BATCH_SIZE,
    max_batches: int | None = None,
) -> str:
    """Process the import as far as it goes; its final status (``applying`` only when
    ``max_batches`` stopped it early)."""
    async with UnitOfWork(database.session_factory) as uow:
        status, caller = await service.claim(uow, org_id, import_id)
    try:
        if status == "validating":
            async with UnitOfWork(database.session_factory) as uow:
                status = await service.validate(uow, caller, import_id)
        batches = 0
        while status == "applying" and (max_batches is None or batches < max_batches):
            async with UnitOfWork(database.session_factory) as uow:
                status = await service.apply_next(uow, caller, import_id, batch_size)
            batches += 1
    except (IntegrityError, DataError) as error:
        # The database refused a value the row checks let through: running the job again
        # would fail the same way, so the import fails, saying what was refused. Other
        # errors (the database away, a deadlock) propagate and the job is retried.
        mapped = database_error(error)
        reason = mapped.message if mapped is not None else "the database refused a value"
        _log.error("import failed", import_id=str(import_id), reason=reason)
        async with UnitOfWork(database.session_factory) as uow:
            return await service.fail(uow, caller, import_id, f"not applied: {reason}")
    return status
