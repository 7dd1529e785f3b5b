"""The unit of work: one transaction per use case, and the only place that commits."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from amss.events.queue import defer_dispatch
from amss.kit.idempotency import seal_current_claim


class UnitOfWork:
    """Holds the session of one use case. Services change rows, then call ``commit()``.

    Leaving the block without committing rolls everything back, so a failure anywhere
    leaves no partial change (nor its audit row, nor its event).
    """

    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], *, read_only: bool = False
    ) -> None:
        self._session_factory = session_factory
        self._session: AsyncSession | None = None
        self.read_only = read_only

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside its 'async with' block")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._session_factory()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self.session, None
        session.info.pop("amss_event_orgs", None)
        try:
            await session.rollback()
        finally:
            await session.close()

    async def commit(self) -> None:
        if self.read_only:
            # A read-only unit of work runs without a transaction: a write there would not
            # be atomic. Its use case must take a writing one (WriteUowDep) instead.
            raise RuntimeError("this unit of work only reads; it cannot commit a change")
        # A request carrying an Idempotency-Key is marked executed in this same transaction,
        # and the events it wrote get their dispatch job in it too.
        sealed = await seal_current_claim(self.session)
        await defer_dispatch(self.session)
        try:
            await self.session.commit()
        except BaseException:
            # The seal rolled back with the change: the request may run again (a retry after
            # a deadlock) and must seal then.
            if sealed is not None:
                sealed.sealed = False
            raise

    async def rollback(self) -> None:
        self.session.info.pop("amss_event_orgs", None)
        await self.session.rollback()
