"""Schemathesis hooks for the AMSS contract run (loaded through tests/fuzz/schemathesis.toml)."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    # The fuzzer may set any quota but the one that would throttle the rest of its own run.
    if case.method == "PATCH" and case.path.endswith("/policy") and isinstance(case.body, dict):
        case.body.pop("api_rate_limit_per_min", None)
