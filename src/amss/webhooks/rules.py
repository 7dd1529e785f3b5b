"""Pure webhook rules: secrets, both signature schemes, retry schedule, address checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import random
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_BACKOFF_SECONDS = 3600


@dataclass(frozen=True)
class Secret:
    """32 random bytes, in the two spellings receivers use."""

    raw: bytes

    @classmethod
    def new(cls) -> Secret:
        return cls(secrets.token_bytes(32))

    @classmethod
    def from_hex(cls, value: str) -> Secret:
        return cls(bytes.fromhex(value))

    @property
    def hex(self) -> str:
        return self.raw.hex()

    @property
    def standard(self) -> str:
        return "whsec_" + base64.b64encode(self.raw).decode()


def signature_headers(
    secret: Secret, *, webhook_id: str, delivery_id: str, event_type: str, body: bytes, now: float
) -> dict[str, str]:
    """Both schemes over the exact bytes sent.

    Original: ``v1=hex(HMAC-SHA256(utf8(hex secret), "<unix ms>." + body))``.
    Standard Webhooks: ``v1,base64(HMAC-SHA256(raw secret, "<id>.<unix s>." + body))``.
    """
    millis = str(int(now * 1000))
    seconds = str(int(now))
    original = hmac.new(
        secret.hex.encode(), millis.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    standard = base64.b64encode(
        hmac.new(secret.raw, f"{delivery_id}.{seconds}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    return {
        "Content-Type": "application/json",
        "User-Agent": "AMSS-Webhooks/1",
        "X-Webhook-Id": webhook_id,
        "X-Webhook-Delivery-Id": delivery_id,
        "X-Webhook-Event": event_type,
        "X-Webhook-Timestamp": millis,
        "X-Webhook-Signature": f"v1={original}",
        "webhook-id": delivery_id,
        "webhook-timestamp": seconds,
        "webhook-signature": f"v1,{standard}",
    }


def backoff_seconds(attempt: int, *, jitter: float | None = None) -> float:
    """About 2^attempt seconds (attempt 1 → ~2 s), capped at an hour, with ±20 % jitter."""
    base = float(min(2**attempt, MAX_BACKOFF_SECONDS))
    spread = random.uniform(-0.2, 0.2) if jitter is None else jitter  # noqa: S311 (not crypto)
    return float(min(MAX_BACKOFF_SECONDS, max(1.0, base * (1 + spread))))


def retry_after_seconds(header: str | None) -> float | None:
    """``Retry-After`` in seconds (delta form); dates and nonsense are ignored."""
    if header is None:
        return None
    try:
        value = float(header.strip())
    except ValueError:
        return None
    return min(max(value, 0.0), MAX_BACKOFF_SECONDS) if value == value else None


def forbidden_address(address: str) -> bool:
    """Loopback, private, link-local (cloud metadata), multicast, reserved, unspecified."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def url_problem(url: str, *, production: bool) -> str | None:
    """What is wrong with a webhook URL before resolving it (None: nothing)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL with a host"
    if parts.username or parts.password:
        return "must not carry credentials"
    if production and parts.scheme != "https":
        return "must use https in production"
    return None
