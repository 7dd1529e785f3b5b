"""Receiving an uploaded file: after authentication, streamed to a temporary file, under a
size cap, a deadline for slow bodies, and a cap on uploads at once (issue 12)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile

from amss.kit.errors import (
    PayloadTooLarge,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
    invalid,
)

# A body that has not fully arrived by then is cut: a client dripping bytes cannot hold a
# slot (and a temporary file) forever.
UPLOAD_SECONDS = 120.0
# Uploads received at once per server process; more wait for nothing: they get a 503.
MAX_CONCURRENT_UPLOADS = 4
UPLOAD_RETRY_AFTER_SECONDS = 5
# Plain form fields beside the file are short (``type``, ``dry_run``).
MAX_FIELD_BYTES = 1024


@dataclass(frozen=True)
class Upload:
    fields: dict[str, str]
    filename: str | None
    content: bytes | None


def _slots(request: Request) -> asyncio.Semaphore:
    slots = getattr(request.app.state, "upload_slots", None)
    if slots is None:
        slots = asyncio.Semaphore(MAX_CONCURRENT_UPLOADS)
        request.app.state.upload_slots = slots
    assert isinstance(slots, asyncio.Semaphore)
    return slots


async def receive_upload(request: Request, *, max_bytes: int, file_field: str = "file") -> Upload:
    """Read a ``multipart/form-data`` body with one file. The file part goes to a temporary
    file as it arrives (in memory up to 1 MiB, then on disk); the body limit for this route
    is enforced by ``BodySizeLimitMiddleware`` as the bytes stream in, so this runs only
    for an authenticated caller."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "multipart/form-data":
        raise UnsupportedMediaType(
            f"content type {media_type or '(none)'!r} is not supported; send multipart/form-data"
        )
    slots = _slots(request)
    if slots.locked():
        raise Unavailable(
            f"{MAX_CONCURRENT_UPLOADS} uploads are being received; try again shortly",
            headers={"Retry-After": str(UPLOAD_RETRY_AFTER_SECONDS)},
        )
    async with slots:
        try:
            async with asyncio.timeout(UPLOAD_SECONDS):
                async with request.form(
                    max_files=1, max_fields=10, max_part_size=MAX_FIELD_BYTES
                ) as form:
                    fields: dict[str, str] = {}
                    filename: str | None = None
                    content: bytes | None = None
                    for name, value in form.multi_items():
                        if isinstance(value, UploadFile):
                            if name != file_field:
                                raise invalid(name, f"unexpected file; send it as {file_field!r}")
                            filename = value.filename
                            content = await value.read(max_bytes + 1)
                        else:
                            fields[name] = value
        except TimeoutError:
            raise ValidationFailed(
                f"the upload did not arrive within {UPLOAD_SECONDS:g} s; send it again"
            ) from None
    if content is not None and len(content) > max_bytes:
        raise PayloadTooLarge(f"file: larger than {max_bytes} bytes")
    return Upload(fields=fields, filename=filename, content=content)
