"""Parsing of the Go-style durations, byte sizes and listen addresses used in configuration."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$", re.IGNORECASE)
_SIZE_FACTOR = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration such as ``15m``, ``168h`` or ``1h30m`` (the original system's format)."""
    value = text.strip()
    if not value:
        raise ValueError("empty duration")
    if value == "0":
        return timedelta(0)
    position = 0
    seconds = 0.0
    for match in _DURATION_PART.finditer(value):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _DURATION_SECONDS[match.group(2)]
        position = match.end()
    if position != len(value):
        raise ValueError(f"{text!r} is not a duration like 15m, 168h or 1h30m")
    return timedelta(seconds=seconds)


def parse_byte_size(text: str) -> int:
    """Parse a size such as ``50MiB``, ``10MB`` or a plain number of bytes."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size like 50MiB, 10MB or 1048576")
    unit = (match.group(2) or "B").lower()
    return int(match.group(1)) * _SIZE_FACTOR[unit]


def parse_listen_address(text: str) -> tuple[str, int]:
    """Split ``host:port`` (``:8080`` means every interface, as in Go) into host and port."""
    value = text.strip()
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"{text!r} is not an address like :8080 or 127.0.0.1:8080")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is outside 1-65535")
    host = host.strip("[]") or "0.0.0.0"
    return host, port
