"""Run every benchmark: each ``tests/perf/bench_*.py`` module's ``main()``, one after another.

``python -m tests.perf`` runs them all; ``python -m tests.perf store`` only the modules whose
name contains ``store``. A bench prints its own table and returns (or not) a list of ``Row``s;
the rows of every bench are summed up at the end. A failing bench is reported, not fatal.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import time
import traceback
from pathlib import Path

from tests.perf import Row, print_table


def _bench_modules(filters: list[str]) -> list[str]:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    return [n for n in names if not filters or any(f in n for f in filters)]


def main(argv: list[str]) -> int:
    rows: list[Row] = []
    failed: list[str] = []
    for name in _bench_modules(argv):
        module = importlib.import_module(f"tests.perf.{name}")
        entry = getattr(module, "main", None)
        if entry is None or not inspect.isfunction(entry):
            continue
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        try:
            result = entry()
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        if isinstance(result, list):
            rows.extend(r for r in result if isinstance(r, Row))
        print(f"({name}: {time.perf_counter() - started:.1f} s)", flush=True)
    if rows:
        print("\n=== summary ===")
        print_table(rows)
    if failed:
        print(f"\nbenchmarks that crashed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
