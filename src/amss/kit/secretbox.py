"""Secrets at rest: Fernet encryption with rotation (MultiFernet), keyed by SECRETS_KEY."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from amss.config import ConfigurationError, Settings, secrets_keys

DEVELOPMENT_KEY_FILE = "secrets.key"


class SecretUnreadable(Exception):
    """A stored secret was encrypted with a key that is not in SECRETS_KEY any more."""


class SecretBox:
    """Encrypts with the first key; decrypts with any (old keys stay until re-encrypted)."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one key")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "stored secret cannot be decrypted with any key in SECRETS_KEY"
            ) from None

    def rotate(self, token: str) -> str:
        """The same secret under the first key (a no-op re-encryption when already so)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "stored secret cannot be decrypted with any key in SECRETS_KEY"
            ) from None


def new_key() -> str:
    return Fernet.generate_key().decode()


def secret_box(settings: Settings) -> SecretBox:
    """SECRETS_KEY; in development and tests, a key generated once into the data directory."""
    if settings.secrets_key:
        return SecretBox(secrets_keys(settings.secrets_key))
    if settings.is_production:
        raise ConfigurationError(
            "SECRETS_KEY: required in production (generate one with 'amss keys --secrets')"
        )
    return SecretBox([_development_key(settings.data_dir)])


def _development_key(data_dir: Path) -> str:
    path = data_dir / DEVELOPMENT_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = new_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of this installation made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
