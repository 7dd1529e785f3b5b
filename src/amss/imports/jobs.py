"""The import job: claim, validate, then apply batch after batch until done.

Each step is its own transaction and re-reads the import's status, so a worker killed at
any point leaves a state the next run continues from: ``validating`` with no rows (the
validation rolled back, start it again) or ``applying`` with some rows ``applied`` (those
committed with what they applied; the rest are still ``valid``).
"""

from __future__ import annotations

from uuid import UUID

from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.imports import service


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
    if status == "validating":
        async with UnitOfWork(database.session_factory) as uow:
            status = await service.validate(uow, caller, import_id)
    batches = 0
    while status == "applying" and (max_batches is None or batches < max_batches):
        async with UnitOfWork(database.session_factory) as uow:
            status = await service.apply_next(uow, caller, import_id, batch_size)
        batches += 1
    return status
