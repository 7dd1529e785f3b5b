"""Access tokens (JWT, RS256 only, with ``kid``) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from amss.auth.rules import ROLES, Role
from amss.config import ConfigurationError, Settings
from amss.kit.errors import Unauthenticated
from amss.kit.keys import KeyPair, generate_key_pair

ALGORITHM = "RS256"
# Verified access tokens remembered (a few MB at most): the live sessions of a busy server.
VERIFIED_TOKENS_KEPT = 10_000


@dataclass(frozen=True)
class AccessClaims:
    user_id: UUID
    org_id: UUID
    role: Role
    jti: str
    expires_at: datetime


class TokenSigner:
    """Issues and verifies access tokens with one RSA key pair."""

    def __init__(self, keys: KeyPair, access_ttl: timedelta) -> None:
        private_key = serialization.load_pem_private_key(keys.private_pem.encode(), password=None)
        public_key = serialization.load_pem_public_key(keys.public_pem.encode())
        if not isinstance(private_key, RSAPrivateKey) or not isinstance(public_key, RSAPublicKey):
            raise ConfigurationError(
                "JWT_PRIVATE_KEY_PEM/JWT_PUBLIC_KEY_PEM: must be an RSA key pair"
            )
        self._private_key = private_key
        self._public_key = public_key
        der = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = hashlib.sha256(der).hexdigest()[:16]
        self.access_ttl = access_ttl
        # Tokens whose signature checked out, by their exact text: a client sends the same
        # token for its whole life, and checking an RS256 signature on every request costs
        # more than the rest of the authentication. Expiry is checked on every use.
        self._verified: OrderedDict[str, AccessClaims] = OrderedDict()

    def issue_access(self, *, user_id: UUID, org_id: UUID, role: Role) -> tuple[str, int]:
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "org_id": str(org_id),
            "role": role,
            "typ": "access",
            "jti": uuid.uuid4().hex,
            "iat": int(now.timestamp()),
            "exp": int((now + self.access_ttl).timestamp()),
        }
        token = jwt.encode(
            claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.kid}
        )
        return token, int(self.access_ttl.total_seconds())

    def verify_access(self, token: str) -> AccessClaims:
        """Reject anything but an unexpired RS256 access token signed by our key."""
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at.timestamp() <= time.time():
                del self._verified[token]
                raise Unauthenticated("access token expired")
            return known
        claims = self._verify_signed(token)
        self._verified[token] = claims
        if len(self._verified) > VERIFIED_TOKENS_KEPT:
            self._verified.popitem(last=False)
        return claims

    def _verify_signed(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed access token") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated(
                f"token algorithm {header.get('alg')!r} is not accepted; RS256 only"
            )
        if header.get("kid") != self.kid:
            raise Unauthenticated("token signed with an unknown key")
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "exp", "iat", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("access token expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("invalid access token") from None
        if claims.get("typ") != "access":
            raise Unauthenticated("not an access token")
        role = claims.get("role")
        if role not in ROLES:
            raise Unauthenticated("invalid access token")
        try:
            return AccessClaims(
                user_id=UUID(str(claims["sub"])),
                org_id=UUID(str(claims["org_id"])),
                role=role,
                jti=str(claims["jti"]),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            )
        except (KeyError, ValueError):
            raise Unauthenticated("invalid access token") from None


def new_refresh_token() -> tuple[str, bytes]:
    """An opaque refresh token and the hash under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def signing_keys(settings: Settings) -> KeyPair:
    """Keys from the environment; in development, a pair generated once into the data dir."""
    if settings.jwt_private_key_pem and settings.jwt_public_key_pem:
        return KeyPair(settings.jwt_private_key_pem, settings.jwt_public_key_pem)
    if settings.jwt_private_key_pem or settings.jwt_public_key_pem:
        raise ConfigurationError("JWT_PRIVATE_KEY_PEM and JWT_PUBLIC_KEY_PEM must be set together")
    if settings.is_production:
        raise ConfigurationError(
            "JWT_PRIVATE_KEY_PEM: required in production (generate a pair with 'amss keys')"
        )
    return _development_keys(settings.data_dir)


def _development_keys(data_dir: Path) -> KeyPair:
    private_path, public_path = data_dir / "jwt_private.pem", data_dir / "jwt_public.pem"
    if private_path.exists() and public_path.exists():
        return KeyPair(private_path.read_text(), public_path.read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    pair = generate_key_pair()
    import os

    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(pair.private_pem)
    public_path.write_text(pair.public_pem)
    return pair
