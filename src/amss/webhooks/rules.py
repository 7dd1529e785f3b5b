"""Pure webhook rules: secrets, both signature schemes, retry schedule, the address policy."""

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


# Never called, whatever WEBHOOK_ALLOW_PRIVATE says: cloud metadata services (the classic
# SSRF prize), "this host", broadcast, multicast and the reserved class E.
_NEVER: tuple[tuple[str, str], ...] = (
    ("169.254.169.254/32", "a cloud metadata address"),
    ("169.254.170.2/32", "a cloud metadata address"),
    ("100.100.100.200/32", "a cloud metadata address"),
    ("192.0.0.192/32", "a cloud metadata address"),
    ("fd00:ec2::254/128", "a cloud metadata address"),
    ("0.0.0.0/8", "an unspecified address"),
    ("::/128", "an unspecified address"),
    ("255.255.255.255/32", "a broadcast address"),
    ("224.0.0.0/4", "a multicast address"),
    ("ff00::/8", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
)

# Not globally routable: allowed only with WEBHOOK_ALLOW_PRIVATE=true (development, tests).
_PRIVATE: tuple[tuple[str, str], ...] = (
    ("127.0.0.0/8", "a loopback address"),
    ("::1/128", "a loopback address"),
    ("10.0.0.0/8", "a private address"),
    ("172.16.0.0/12", "a private address"),
    ("192.168.0.0/16", "a private address"),
    ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
    ("169.254.0.0/16", "a link-local address"),
    ("fe80::/10", "a link-local address"),
    ("192.0.0.0/24", "an IETF protocol address"),
    ("192.0.2.0/24", "a documentation address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("2001:db8::/32", "a documentation address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("fc00::/7", "a unique-local (private) address"),
    ("fec0::/10", "a site-local address"),
    ("2002::/16", "a 6to4 address"),
    ("2001::/32", "a Teredo address"),
    ("64:ff9b::/96", "a NAT64 address"),
    ("64:ff9b:1::/48", "a NAT64 address"),
    ("100::/64", "a discard-only address"),
)


def _networks(
    table: tuple[tuple[str, str], ...],
) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
    return [(ipaddress.ip_network(network), reason) for network, reason in table]


_NEVER_NETWORKS = _networks(_NEVER)
_PRIVATE_NETWORKS = _networks(_PRIVATE)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def address_problem(address: str, *, allow_private: bool) -> str | None:
    """Why AMSS must not connect to ``address`` (None: it may).

    IPv6 forms that carry an IPv4 address (mapped ``::ffff:a.b.c.d`` and the deprecated
    compatible ``::a.b.c.d``) are judged by the IPv4 address they reach. Anything the
    tables miss but Python does not consider global is refused too.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        embedded = ip.ipv4_mapped
        form = "IPv4-mapped"
        if embedded is None and ip in _IPV4_COMPATIBLE and int(ip) > 1:
            embedded, form = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "IPv4-compatible"
        if embedded is not None:
            inner = address_problem(str(embedded), allow_private=allow_private)
            return f"{address} is the {form} form of {embedded}, {inner}" if inner else None
    for network, reason in _NEVER_NETWORKS:
        if ip in network:
            return reason
    if allow_private:
        return None
    for network, reason in _PRIVATE_NETWORKS:
        if ip in network:
            return reason
    if not ip.is_global or ip.is_multicast:
        return "not a globally routable address"
    return None


def url_problem(url: str, *, production: bool) -> str | None:
    """What is wrong with a webhook URL before resolving it (None: nothing)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is not a number in range)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL with a host"
    if parts.username or parts.password:
        return "must not carry credentials"
    if literal_address(parts.hostname) is None and not _is_host_name(parts.hostname):
        return f"host {parts.hostname[:80]} is not a valid host name"
    if production and parts.scheme != "https":
        return "must use https in production"
    return None


def literal_address(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def _is_host_name(host: str) -> bool:
    """A name DNS can carry (RFC 1035: labels of 1-63 octets, 253 in all, IDNA-encodable)."""
    try:
        encoded = host.rstrip(".").encode("idna")
    except UnicodeError:
        return False
    return 0 < len(encoded) <= 253 and all(0 < len(label) <= 63 for label in encoded.split(b"."))
