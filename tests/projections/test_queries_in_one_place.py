"""View SQL lives in ``projections.queries`` and callers hold interfaces: no module above
``events/`` imports the SQLite store or sends raw SQL to the store (a new backend is then only
new files under ``events/``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("actors", "projections", "runner", "web")
#: Tools that work on the SQLite file itself (backup, export, migrate, the log viewer, the
#: memory server's own database) and the audit's rebuild of an SQLite log.
SQLITE_FILE_TOOLS = {
    "runner/backup.py",
    "runner/migrate.py",
    "runner/cli_log.py",
    "runner/builtin_servers/memory.py",
    "projections/rebuild.py",
}
#: Maps an SQLite read fault met on a page (I/O error, vanished file) to 503.
FAULT_MAPPING = {"web/app.py"}


def modules() -> list[Path]:
    return [p for layer in LAYERS for p in sorted((ROOT / layer).rglob("*.py"))]


def test_no_caller_names_the_sqlite_store() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in modules()
        if "SQLiteEventStore" in p.read_text() or "sqlite_store" in p.read_text()
    ]
    assert offenders == []


def test_no_raw_sql_reaches_the_store_from_above_events() -> None:
    raw = re.compile(r"store\.query\(|\.query\(\s*f?\"(SELECT|INSERT|UPDATE|DELETE)", re.I)
    offenders = [str(p.relative_to(ROOT)) for p in modules() if raw.search(p.read_text())]
    assert offenders == []


def test_view_sql_is_only_in_the_queries_package() -> None:
    """``SELECT … FROM v_…`` (a view table) appears only under ``projections/queries``."""
    view_select = re.compile(r"SELECT\b[^\"']*\bFROM\s+v_\w+", re.I)
    offenders = []
    for p in modules():
        rel = str(p.relative_to(ROOT))
        if rel.startswith("projections/queries/") or rel in SQLITE_FILE_TOOLS:
            continue
        if view_select.search(p.read_text()):
            offenders.append(rel)
    assert offenders == []


def test_sqlite_is_imported_only_by_file_tools() -> None:
    offenders = []
    for p in modules():
        rel = str(p.relative_to(ROOT))
        if rel in SQLITE_FILE_TOOLS | FAULT_MAPPING:
            continue
        if re.search(r"^import sqlite3|^from events\.sqlite", p.read_text(), re.M):
            offenders.append(rel)
    assert offenders == []
