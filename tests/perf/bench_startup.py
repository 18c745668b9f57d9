"""Start-up of ``runner serve`` to a healthy ``/healthz``: empty log vs 2.5 M events (issue 16).

    .venv/bin/python -m tests.perf startup
    BENCH_STARTUP_DIR=/tmp/big .venv/bin/python -m tests.perf startup   # keep the big log

Builds the big log with ``bench_memory.build_log`` (``BENCH_STARTUP_RUNS`` runs of 20 events,
default 125,000 = 2.5 M events; reused when ``BENCH_STARTUP_DIR`` already holds one), then
starts the real ``runner serve`` ``BENCH_STARTUP_REPEAT`` times (default 3) on each, alternating,
and prints the median and the spread. Also prints the import time of the modules ``serve``
loads, measured in a fresh interpreter, since that is the floor of any start-up.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.perf import Row, print_table
from tests.perf.bench_memory import build_log, serve_and_measure

RUNS = int(os.environ.get("BENCH_STARTUP_RUNS", "125000"))
REPEAT = int(os.environ.get("BENCH_STARTUP_REPEAT", "3"))
TARGET_S = 2.0


def import_seconds() -> float:
    """Seconds a fresh interpreter takes to import what ``runner serve`` needs."""
    code = "import runner.cli, runner.serve, runner.service, web.server"
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t


def _big(root: Path) -> tuple[Path, int]:
    big = root / "big"
    marker = root / "events.txt"
    if (big / "runner.db").exists() and marker.exists():
        return big, int(marker.read_text())
    t = time.perf_counter()
    if big.exists():
        shutil.rmtree(big)
    n = build_log(big, RUNS)
    first = serve_and_measure(big)[0]
    print(f"first start (upgrade + full chain verification, writes the checkpoint): {first:.1f} s")
    marker.write_text(str(n))
    size = (big / "runner.db").stat().st_size / 1e9
    print(f"built a log of {n:,} events ({size:.2f} GB) in {time.perf_counter() - t:.0f} s")
    return big, n


def measure(root: Path) -> list[Row]:
    big, n = _big(root)
    empty = Path(tempfile.mkdtemp(prefix="empty-", dir=root))
    import_seconds()  # warm the bytecode cache
    imports = [import_seconds() for _ in range(REPEAT)]
    e: list[float] = []
    b: list[float] = []
    for _ in range(REPEAT):
        e.append(serve_and_measure(empty)[0])
        b.append(serve_and_measure(big)[0])
    print(f"imports {sorted(imports)}; empty {sorted(e)}; {n:,} events {sorted(b)}", flush=True)
    mi, me, mb = (statistics.median(x) for x in (imports, e, b))
    return [
        Row("startup", "import of serve's modules (fresh interpreter)", f"{mi:.2f} s"),
        Row("startup", "serve → healthy, empty log (median)", f"{me:.2f} s"),
        Row("startup", f"serve → healthy, {n:,} events (median)",
            f"{mb:.2f} s ({mb / me:.2f}× empty)", f"≤ {TARGET_S:g} s", mb <= TARGET_S),
    ]  # fmt: skip


def main() -> list[Row]:
    # As installed: Python caches bytecode. With PYTHONDONTWRITEBYTECODE=1 (set in some dev
    # shells) every start compiles ~500 modules from source again (~0.7 s here); the cache goes
    # to a prefix directory so the source tree stays clean.
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
        print("PYTHONDONTWRITEBYTECODE was set: measuring with the bytecode cache, as installed")
    os.environ.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "runner-pyc"))
    keep = os.environ.get("BENCH_STARTUP_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        rows = measure(Path(keep))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
            rows = measure(Path(tmp))
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
