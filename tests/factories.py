"""Old home of the factories, kept so modules written before the kit moved still import:
new code imports ``tests.support.factories`` (see docs/development.md, Tests)."""

from tests.support.factories import (  # noqa: F401
    PASSWORD,
    TestUser,
    bearer,
    make_org,
    make_record,
    make_user,
    password_hash,
)
