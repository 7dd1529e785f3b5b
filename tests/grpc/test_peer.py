"""The client address of a gRPC call, from the peer string grpc gives."""

from __future__ import annotations

import pytest

from amss.grpc.interceptors import peer_address


@pytest.mark.parametrize(
    ("peer", "address"),
    [
        ("ipv4:127.0.0.1:52100", "127.0.0.1"),
        ("ipv4:10.0.0.7:1", "10.0.0.7"),
        ("ipv6:[::1]:52100", "::1"),
        ("ipv6:[2001:db8::7]:443", "2001:db8::7"),
        ("ipv6:[fe80::1%25eth0]:9090", "fe80::1"),
        ("unix:/tmp/amss.sock", None),
        ("ipv4:not-an-ip:1", None),
        ("", None),
        (None, None),
    ],
)
def test_peer_address(peer: str | None, address: str | None) -> None:
    assert peer_address(peer) == address
