"""The permission gate of a run: ``can_use_tool`` plus a ``PreToolUse`` hook, same rules.

* MCP tools of the job's own servers are allowed.
* File tools (Read, Write, Edit, MultiEdit, NotebookEdit, Glob, Grep, LS) are allowed only when
  the realpath of every path they name (``file_path``, ``path``, ``notebook_path``, the root of
  an absolute ``pattern``) is inside the workspace.
* Bash is allowed only when it runs in a bubblewrap sandbox (the run's, around the whole CLI,
  or with sandbox mode ``off`` Claude Code's own); otherwise it is refused with a reason the
  model and the user see.
* Other built-ins are allowed only if the job named them.
* A call these rules allow that the run's ask-first policy names waits for a person
  (``actors.approvals``): ``pre_tool_use`` answers "ask" (so no mode or sandbox auto-allows
  it) and ``can_use_tool`` waits for the approval.

Every denial is reported once (per tool-use id) through ``on_denied``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from claude_agent_sdk import (
    HookContext,
    PermissionResultAllow,
    PermissionResultDeny,
    ToolPermissionContext,
)
from claude_agent_sdk.types import HookInput, HookJSONOutput, PermissionResult

from actors.approvals import Approvals
from actors.executor_options import FILE_TOOLS

PATH_KEYS = ("file_path", "path", "notebook_path")
GLOB_CHARS = frozenset("*?[{")
NO_SANDBOX = (
    "Bash is disabled: it only runs inside the bubblewrap sandbox, "
    "which is not available on this host (install bwrap and socat)"
)

OnDenied = Callable[[str, str, str, str | None], Awaitable[None]]
"""``(tool, reason, target, tool_use_id)``."""


def _inside(path: str, root: Path, cwd: Path) -> bool:
    p = Path(os.path.expanduser(path))
    if not p.is_absolute():
        p = cwd / p
    real = Path(os.path.realpath(p))
    return real == root or root in real.parents


def _pattern_root(pattern: str) -> str | None:
    """The non-glob leading part of an absolute (or ``~``) pattern, else None."""
    parts: list[str] = []
    for part in pattern.split("/"):
        if any(c in GLOB_CHARS for c in part):
            break
        parts.append(part)
    root = "/".join(parts)
    if pattern.startswith(("/", "~")):
        return root or "/"
    return None


def climbing_glob(tool: str, tool_input: dict[str, Any]) -> str | None:
    """A glob pattern with a ``..`` segment (it could leave the workspace), if any."""
    key = "pattern" if tool == "Glob" else "glob" if tool == "Grep" else None
    v = tool_input.get(key) if key else None
    if isinstance(v, str) and ".." in v.replace("\\", "/").split("/"):
        return v
    return None


def targets(tool: str, tool_input: dict[str, Any]) -> Iterable[str]:
    """The paths a file tool would touch."""
    for key in PATH_KEYS:
        v = tool_input.get(key)
        if isinstance(v, str) and v:
            yield v
    pattern = tool_input.get("pattern")
    if tool == "Glob" and isinstance(pattern, str):
        root = _pattern_root(pattern)
        if root is not None:
            yield root


class Gate:
    """Decides tool calls of one run; ``can_use_tool`` and ``pre_tool_use`` go into options."""

    def __init__(
        self,
        *,
        workspace: Path,
        tools: Iterable[str],
        servers: Iterable[str],
        sandbox: bool,
        on_denied: OnDenied,
        contained: bool = False,
        approvals: Approvals | None = None,
    ) -> None:
        self.root = Path(os.path.realpath(workspace))
        self.tools = frozenset(tools)
        self.server_prefixes = tuple(f"mcp__{s}__" for s in servers)
        self.sandbox = sandbox
        self.contained = contained
        """The whole CLI runs in the run's sandbox: Bash needs no sandbox of its own."""
        self._on_denied = on_denied
        self._reported: set[str] = set()
        self.approvals = approvals

    def decide(self, tool: str, tool_input: dict[str, Any]) -> tuple[str, str] | None:
        """``None`` to allow, else ``(reason, target)``."""
        if tool.startswith("mcp__"):
            if tool.startswith(self.server_prefixes):
                return None
            return f"{tool} is not a tool of this job's servers", ""
        if tool in FILE_TOOLS:
            if tool not in self.tools:
                return f"{tool} is not enabled for this job", ""
            if (g := climbing_glob(tool, tool_input)) is not None:
                return "glob patterns may not contain '..'", g
            for t in targets(tool, tool_input):
                if not _inside(t, self.root, self.root):
                    return f"{t} is outside the job's workspace", t
            return None
        if tool == "Bash":
            cmd = str(tool_input.get("command", ""))[:200]
            if "Bash" not in self.tools:
                return "Bash is not enabled for this job", cmd
            if not self.sandbox:
                return NO_SANDBOX, cmd
            if tool_input.get("dangerouslyDisableSandbox") and not self.contained:
                return "Bash may only run inside the sandbox", cmd
            return None
        if tool in self.tools:
            return None
        return f"{tool} is not enabled for this job", ""

    async def _deny(self, tool: str, reason: str, target: str, tool_use_id: str | None) -> None:
        key = tool_use_id or f"{tool}:{target}:{reason}"
        if key in self._reported:
            return
        self._reported.add(key)
        await self._on_denied(tool, reason, target, tool_use_id)

    def mark_reported(self, tool_use_id: str) -> bool:
        """Whether a denial of this tool use was already reported (and mark it so)."""
        seen = tool_use_id in self._reported
        self._reported.add(tool_use_id)
        return seen

    async def can_use_tool(
        self, tool: str, tool_input: dict[str, Any], ctx: ToolPermissionContext
    ) -> PermissionResult:
        verdict = self.decide(tool, tool_input)
        if verdict is None:
            why = self.approvals.asks(tool) if self.approvals else None
            if self.approvals is None or why is None:
                return PermissionResultAllow(updated_input=tool_input)
            result = await self.approvals.request(tool, tool_input, ctx.tool_use_id, why)
            if isinstance(result, PermissionResultDeny):
                await self._deny(tool, result.message, "", ctx.tool_use_id)
            return result
        reason, target = verdict
        await self._deny(tool, reason, target, ctx.tool_use_id)
        return PermissionResultDeny(message=reason)

    async def pre_tool_use(
        self, data: HookInput, tool_use_id: str | None, ctx: HookContext
    ) -> HookJSONOutput:
        if data.get("hook_event_name") != "PreToolUse":
            return {}
        tool = str(data.get("tool_name", ""))
        raw = data.get("tool_input")
        tool_input: dict[str, Any] = raw if isinstance(raw, dict) else {}
        verdict = self.decide(tool, tool_input)
        if verdict is None:
            why = self.approvals.asks(tool) if self.approvals else None
            if why is None:
                return {}
            return {
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "ask",
                    "permissionDecisionReason": f"needs a person's approval ({why})",
                }
            }
        reason, target = verdict
        tid = tool_use_id or data.get("tool_use_id")
        await self._deny(tool, reason, target, tid if isinstance(tid, str) else None)
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        }
