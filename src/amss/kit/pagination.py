"""``limit``/``offset`` paging with ``X-Total-Count`` (SPEC §5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Response

from amss.db.jsonview import Rendered

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


def json_page(rendered: Rendered[Any]) -> Response:
    """A page rendered by PostgreSQL, passed through as it is, with its ``X-Total-Count``."""
    return Response(
        rendered.body,
        media_type="application/json",
        headers={"X-Total-Count": str(rendered.total)},
    )


def json_body(rendered: Rendered[Any], status_code: int = 200) -> Response:
    """One object rendered by PostgreSQL, passed through as it is."""
    return Response(rendered.body, status_code=status_code, media_type="application/json")
