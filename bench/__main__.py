"""Run every benchmark, or the ones named: ``python -m bench api_baseline``."""

from __future__ import annotations

import sys

from bench import api_baseline, generation, webhooks

BENCHMARKS = {
    "api_baseline": api_baseline.run,
    "generation": generation.run,
    "webhooks": webhooks.run,
}


def main(names: list[str]) -> None:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}"
        )
    for name in names or list(BENCHMARKS):
        BENCHMARKS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
