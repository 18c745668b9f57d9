"""Benchmarks: ``python -m tests.perf`` runs every ``bench_*.py`` module's ``main()``.

A bench prints its own figures and may return a list of ``Row``s for the final summary table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One measured figure against its target; ``ok`` is None when there is no target."""

    bench: str
    metric: str
    value: str
    target: str = ""
    ok: bool | None = None

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "MISS")


def print_table(rows: list[Row]) -> None:
    """Print ``rows`` as an aligned plain-text table."""
    header = ("bench", "metric", "value", "target", "")
    cells = [header, *[(r.bench, r.metric, r.value, r.target, r.verdict) for r in rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for n, line in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
