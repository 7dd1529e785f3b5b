"""``limit``/``offset`` paging with ``X-Total-Count`` (SPEC §5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Response

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000_000


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


# Dependencies are coroutines: FastAPI runs a plain ``def`` dependency in the thread pool,
# a hop that costs more than the function itself.
async def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="rows per page (1-500)")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


PageDep = Annotated[Page, Depends(page_params)]


def set_total(response: Response, total: int) -> None:
    response.headers["X-Total-Count"] = str(total)
