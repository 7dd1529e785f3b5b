"""Run every benchmark, or the ones named: ``python -m bench api generation``.

``make bench`` runs them all; ``make bench QUICK=1`` a smaller version of each; ``make
bench webhooks`` (or any other names) only those. Each prints its table and writes JSON
under bench/results/; the last table gathers every verdict of the run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from bench import api, generation, imports, reports, webhooks
from bench.harness import RESULTS_DIR, Verdict, print_verdicts

BENCHMARKS: dict[str, Callable[[], None]] = {
    "api": api.run,
    "generation": generation.run,
    "imports": imports.run,
    "reports": reports.run,
    "webhooks": webhooks.run,
}


def main(names: list[str]) -> None:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}"
        )
    chosen = names or list(BENCHMARKS)
    for name in chosen:
        BENCHMARKS[name]()
    verdicts = []
    for name in chosen:
        result = json.loads((RESULTS_DIR / f"{name}.json").read_text())
        verdicts += [Verdict(**row) for row in result["verdicts"]]
    print_verdicts("SPEC §13: every target of this run", verdicts)
    (RESULTS_DIR / "summary.json").write_text(
        json.dumps([row.__dict__ for row in verdicts], indent=2)
    )
    if not all(row.passed for row in verdicts):
        print("some targets were missed: see the FAIL rows above")


if __name__ == "__main__":
    main(sys.argv[1:])
