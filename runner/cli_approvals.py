"""``runner approvals list`` and ``runner approvals answer ID --approve|--deny [--message]``."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import msgspec

from runner.app import Runner


async def _list(r: Runner, a: argparse.Namespace) -> int:
    rows = await r.approvals.pending(run_id=a.run, limit=a.limit)
    for row in rows:
        left = max(0, int(row.deadline - time.time()))
        args = json.dumps(row.input, ensure_ascii=False)[:120]
        print(f"{row.approval_id}  {row.run_id}  {row.tool}  {args}  ({left}s left)")
    if not rows:
        print("no approvals are waiting")
    return 0


async def _answer(r: Runner, a: argparse.Namespace) -> int:
    decision = "approved" if a.approve else "denied"
    row = await r.approvals.answer(a.approval_id, decision, by="cli", message=a.message or "")
    print(json.dumps(msgspec.to_builtins(row), indent=2, ensure_ascii=False))
    return 0


async def _key(r: Runner, a: argparse.Namespace) -> int:
    from runner.approval_notify import signing_key

    print(signing_key(r.config.data_dir).decode())
    return 0


def add_approval_commands(sub: Any) -> None:
    ap = sub.add_parser("approvals", help="list or answer tool calls waiting for approval")
    asub = ap.add_subparsers(dest="approvals_command", required=True, metavar="ACTION")
    p = asub.add_parser("list", help="tool calls waiting for approval, oldest first")
    p.add_argument("--run")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(handler=_list)
    p = asub.add_parser("answer", help="approve or deny one waiting tool call")
    p.add_argument("approval_id")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--approve", action="store_true")
    g.add_argument("--deny", action="store_true")
    p.add_argument("--message", help="with --deny: what the model is told")
    p.set_defaults(handler=_answer)
    p = asub.add_parser("signing-key", help="the HMAC key of approval notification webhooks")
    p.set_defaults(handler=_key)
