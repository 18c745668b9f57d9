"""Helpers to look for a secret, in any usual encoding, in process environments and files."""

from __future__ import annotations

import base64
import binascii
import codecs
import os
from pathlib import Path


def encodings(secret: str) -> dict[str, bytes]:
    """The secret as a run could print it: plain, reversed, hex, base64 (at every alignment),
    base32, rot13. For base64 only the part that does not depend on neighbours is used."""
    raw = secret.encode()
    out = {
        "plain": raw,
        "reversed": raw[::-1],
        "hex": binascii.hexlify(raw),
        "HEX": binascii.hexlify(raw).upper(),
        "rot13": codecs.encode(secret, "rot13").encode(),
        "base32": base64.b32encode(raw)[:-8],
    }
    for pad in range(3):
        for name, enc in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            blob = enc(b"\0" * pad + raw)
            skip = 4 if pad else 0  # the first group mixes in the neighbour bytes
            out[f"{name}+{pad}"] = blob[skip : len(blob) - 4]
    return out


def descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def environ_of(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def files_under(root: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if not root.exists():
        return out
    for p in root.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                out[str(p)] = p.read_bytes()
        except OSError:
            continue
    return out


def find(secret: str, corpus: dict[str, bytes]) -> list[tuple[str, str]]:
    """``(where, encoding)`` of every hit."""
    needles = encodings(secret)
    return [
        (where, name)
        for where, data in corpus.items()
        for name, needle in needles.items()
        if needle and needle in data
    ]
