"""A verified access token is remembered by its text, and its expiry still checked on
every use: remembering saves the RS256 check, never a rule."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest

from amss.auth.tokens import TokenSigner
from amss.kit.errors import Unauthenticated
from amss.kit.keys import generate_key_pair


def test_a_remembered_token_still_expires() -> None:
    signer = TokenSigner(generate_key_pair(), timedelta(seconds=1))
    token, _ = signer.issue_access(user_id=uuid.uuid4(), org_id=uuid.uuid4(), role="mechanic")
    first = signer.verify_access(token)
    assert signer.verify_access(token) is first  # remembered
    time.sleep(1.1)
    with pytest.raises(Unauthenticated, match="expired"):
        signer.verify_access(token)


def test_a_token_altered_after_a_good_one_was_remembered_is_refused() -> None:
    signer = TokenSigner(generate_key_pair(), timedelta(minutes=5))
    token, _ = signer.issue_access(user_id=uuid.uuid4(), org_id=uuid.uuid4(), role="viewer")
    signer.verify_access(token)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(Unauthenticated):
        signer.verify_access(forged)
    other = TokenSigner(generate_key_pair(), timedelta(minutes=5))
    with pytest.raises(Unauthenticated):
        other.verify_access(token)  # remembered by one signer, never by another key
