"""What a sandbox can see: an allow-list of bind mounts, built from the host's own layout.

Nothing is visible unless a :class:`Mount` names it. The system part (``/usr`` and the merged-usr
symlinks, the few ``/etc`` files programs need, CA certificates) is read-only; the rest is added
per use: the CLI binary, the Python environment a tool server needs, the job's workspace, a run's
private config/tmp/home, a server's code (read-only) and state (read-write).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

#: ``/etc`` entries bound read-only when present (never ``/etc/ssl/private``, never shadow).
ETC_FILES: tuple[str, ...] = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/ca-certificates",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/mime.types",
)

#: Top-level names that are symlinks into ``/usr`` on merged-usr systems (else bound read-only).
USR_LINKS: tuple[str, ...] = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")

CLI_PATH_INSIDE = "/opt/claude/claude"
"""Where the Claude Code binary appears inside a sandbox (read-only)."""


class SandboxError(Exception):
    """A sandbox cannot be built or started; ``str()`` is the reason shown to the user."""


class Mount(msgspec.Struct, frozen=True):
    """One bind mount: host ``source`` at ``target`` inside (same path when omitted)."""

    source: str
    target: str = ""
    writable: bool = False

    @property
    def dest(self) -> str:
        return self.target or self.source


def ro(path: str | Path, target: str | Path | None = None) -> Mount:
    return Mount(str(path), str(target) if target else "")


def rw(path: str | Path, target: str | Path | None = None) -> Mount:
    return Mount(str(path), str(target) if target else "", writable=True)


def contained(path: Path, root: Path, what: str) -> Path:
    """``path`` resolved, refused unless it stays inside ``root`` (symlinks followed)."""
    real = Path(os.path.realpath(path))
    base = Path(os.path.realpath(root))
    if real != base and base not in real.parents:
        raise SandboxError(f"{what} {path} maps outside {root}; refused")
    return real


def check_path(path: str) -> str:
    """A path usable as a mount argument: absolute, no newline (the argument separator)."""
    if not path.startswith("/") or "\n" in path or "\0" in path:
        raise SandboxError(f"unusable path for a sandbox mount: {path!r}")
    return path


def system_args() -> list[str]:
    """Read-only ``/usr``, the usr symlinks (or dirs) and the needed ``/etc`` files."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in USR_LINKS:
        host = f"/{name}"
        if os.path.islink(host):
            args += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            args += ["--ro-bind", host, host]
    for path in ETC_FILES:
        if os.path.islink(path) and os.path.realpath(path).startswith("/usr/"):
            # Keep the link: runtimes read the zone name from /etc/localtime's target, and
            # scan all of /usr/share/zoneinfo (~0.5 s) when it is a plain file.
            args += ["--symlink", os.readlink(path), path]
        else:
            args += ["--ro-bind-try", path, path]
    return args


def python_mounts() -> list[Mount]:
    """The running interpreter: its base prefix and venv read-only at the same paths, plus the
    source folders of editable installs of this project (built-in servers import ``runner``)."""
    out: dict[str, Mount] = {}
    for prefix in {sys.base_prefix, sys.prefix}:
        out[prefix] = ro(prefix)
    for pkg in ("actors", "events", "projections", "runner"):
        mod = sys.modules.get(pkg)
        origin = getattr(mod, "__file__", None) if mod else None
        if origin:
            folder = str(Path(origin).parent)
            if not any(folder.startswith(p + "/") for p in (sys.prefix, sys.base_prefix)):
                out[folder] = ro(folder)
    return list(out.values())


def mount_args(mounts: Iterable[Mount]) -> Iterator[str]:
    for m in mounts:
        yield "--bind" if m.writable else "--ro-bind"
        yield check_path(m.source)
        yield check_path(m.dest)
