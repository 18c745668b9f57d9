"""Checks on user-written server code: size, syntax, environment variables and their sensitivity.

Everything here reads the code as text (``compile``/``ast``); nothing executes it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping

import msgspec

from events.servers import EnvVarSpec
from runner.servers.errors import InvalidServerCode

MAX_CODE_BYTES = 1024 * 1024
# Variables the runner sets itself for every server; never asked of the user.
INJECTED_VARS: frozenset[str] = frozenset(
    {"DATA_DIR", "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TMPDIR", "LANG", "PYTHONPATH"}
)
SENSITIVE_WORDS: tuple[str, ...] = (
    "KEY",
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASS",
    "PRIVATE",
    "CREDENTIAL",
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


def is_reserved_env(name: str) -> bool:
    """Variables a credential may never set: the runner's own and loader/interpreter hooks."""
    return name in INJECTED_VARS or name.startswith(("LD_", "DYLD_", "PYTHON"))


class DetectedVar(msgspec.Struct, frozen=True, kw_only=True):
    """An environment variable read by the code; ``required`` is false when a default is given."""

    name: str
    required: bool = True
    line: int = 0


def check_code(code: str | bytes) -> str:
    """Return the code as text if it is at most 1 MiB of UTF-8 and compiles.

    Raises :class:`InvalidServerCode` with the line number of a syntax error.
    """
    raw = code.encode("utf-8", "surrogatepass") if isinstance(code, str) else code
    if len(raw) > MAX_CODE_BYTES:
        raise InvalidServerCode(
            f"server code is {len(raw)} bytes; the limit is {MAX_CODE_BYTES} bytes (1 MiB)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidServerCode(f"server code is not valid UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise InvalidServerCode("server code is empty")
    try:
        compile(text, "server.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = exc.lineno
        where = f"line {line}" + (f", column {exc.offset}" if exc.offset else "")
        source = (exc.text or "").strip()
        shown = f": {source[:120]}" if source else ""
        kind = type(exc).__name__
        raise InvalidServerCode(f"{kind} at {where}: {exc.msg}{shown}", line=line) from None
    except ValueError as exc:  # e.g. NUL bytes
        raise InvalidServerCode(f"server code cannot be compiled: {exc}") from None
    return text


def is_sensitive(name: str, overrides: Mapping[str, bool] | None = None) -> bool:
    """Whether a variable's value is a secret, judged by its name unless ``overrides`` says.

    A name is sensitive when it contains SECRET, TOKEN, PASSWORD, PASSWD, CREDENTIAL or
    PRIVATE, or one of its ``_``/``-`` separated words ends with KEY (``API_KEY``, ``APIKEY``),
    starts with PASS (``DB_PASS``, ``PASSPHRASE``) or is PWD/PIN. Errs on the side of secrecy.
    """
    if overrides and name in overrides:
        return overrides[name]
    upper = name.upper()
    if any(w in upper for w in ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE")):
        return True
    for word in re.split(r"[^A-Z0-9]+", upper):
        if word.endswith("KEY") or word.startswith("PASS") or word in {"PWD", "PIN"}:
            return True
    return False


def _is_os_environ(node: ast.expr, environ_names: set[str]) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "environ":
        return isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id in environ_names


def _literal_name(args: list[ast.expr]) -> str | None:
    if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
        name = args[0].value
        return name if _ENV_NAME.match(name) else None
    return None


def detect_env_vars(code: str) -> tuple[DetectedVar, ...]:
    """Environment variables the code reads with a literal name, sorted by name.

    Recognised: ``os.environ.get("X"[, d])``, ``os.getenv("X"[, d])``, ``os.environ["X"]``,
    ``os.environ.setdefault("X", d)``, and the same through ``from os import environ, getenv``
    (aliases included). A default makes the variable optional; a read without one anywhere
    makes it required. Variables the runner injects (``DATA_DIR``, ``PATH``...) are left out.
    Code that does not parse yields nothing (call :func:`check_code` first).
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return ()
    environ_names: set[str] = set()
    getenv_names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            for alias in node.names:
                if alias.name == "environ":
                    environ_names.add(alias.asname or "environ")
                elif alias.name == "getenv":
                    getenv_names.add(alias.asname or "getenv")
    found: dict[str, DetectedVar] = {}

    def note(name: str | None, required: bool, line: int) -> None:
        if name is None or is_reserved_env(name):
            return
        old = found.get(name)
        if old is None:
            found[name] = DetectedVar(name=name, required=required, line=line)
        elif required and not old.required:
            found[name] = DetectedVar(name=name, required=True, line=old.line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            has_default = len(node.args) > 1 or any(k.arg == "default" for k in node.keywords)
            if isinstance(func, ast.Attribute) and func.attr in ("get", "setdefault"):
                if _is_os_environ(func.value, environ_names):
                    note(_literal_name(node.args), not has_default, node.lineno)
            elif isinstance(func, ast.Attribute) and func.attr == "getenv":
                if isinstance(func.value, ast.Name) and func.value.id == "os":
                    note(_literal_name(node.args), not has_default, node.lineno)
            elif isinstance(func, ast.Name) and func.id in getenv_names:
                note(_literal_name(node.args), not has_default, node.lineno)
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and _is_os_environ(node.value, environ_names)
        ):
            note(_literal_name([node.slice]), True, node.lineno)
    return tuple(found[k] for k in sorted(found))


def merge_env_specs(
    detected: Iterable[DetectedVar],
    declared: Iterable[EnvVarSpec] = (),
    sensitivity: Mapping[str, bool] | None = None,
) -> tuple[EnvVarSpec, ...]:
    """One spec per variable, sorted by name: declared specs win over detected ones.

    Detected variables get a generated description and a name-based sensitivity;
    ``sensitivity`` overrides the sensitive flag of any variable, declared or detected.
    """
    merged: dict[str, EnvVarSpec] = {}
    for var in detected:
        merged[var.name] = EnvVarSpec(
            name=var.name,
            description=f"Environment variable {var.name} (read by the server code)",
            required=var.required,
            sensitive=is_sensitive(var.name),
        )
    for spec in declared:
        if not _ENV_NAME.match(spec.name):
            raise InvalidServerCode(f"invalid environment variable name {spec.name[:80]!r}")
        if is_reserved_env(spec.name):
            raise InvalidServerCode(f"environment variable {spec.name!r} is reserved")
        merged[spec.name] = spec
    if sensitivity:
        unknown = sorted(set(sensitivity) - set(merged))
        if unknown:
            raise InvalidServerCode(f"unknown environment variable(s): {', '.join(unknown)}")
        for name, flag in sensitivity.items():
            merged[name] = msgspec.structs.replace(merged[name], sensitive=flag)
    return tuple(merged[k] for k in sorted(merged))


def analyse_code(
    code: str | bytes,
    declared: Iterable[EnvVarSpec] = (),
    sensitivity: Mapping[str, bool] | None = None,
) -> tuple[str, tuple[EnvVarSpec, ...]]:
    """Check the code and return it with its merged environment specs (for ServerCreated)."""
    text = check_code(code)
    return text, merge_env_specs(detect_env_vars(text), declared, sensitivity)
