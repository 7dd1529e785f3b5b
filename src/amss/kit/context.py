"""The request id carried through logs, audit rows and error bodies."""

from __future__ import annotations

import re
import uuid

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def accept_or_generate_request_id(supplied: str | None) -> str:
    """Keep a client's request id when it is a sane token, otherwise make one."""
    if supplied and _SANE_REQUEST_ID.match(supplied):
        return supplied
    return uuid.uuid4().hex
