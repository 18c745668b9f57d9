"""Hostile arguments for every tool (hypothesis): wrong types, deep nesting, huge numbers, control
characters, unknown keys. Every call ends in a result or a tool error that names a field or says
what to fix — never an internal error, never pydantic's raw text."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from tests.helpers import open_runner
from tests.mcp.scenario import text
from web.mcp.server import build_mcp

# Tools that would start processes or wait: their argument validation is the same code path, but
# a fuzzed valid call would start a run or a tool server (slow, and not what is tested here).
SLOW = {"invoke_internal_mcp_tool", "wait_for_run", "create_mcp_server", "update_mcp_server"}

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["\x1b[2J", "\x00", "job_", "wh_", "9" * 40, "mcp__x__y", "Read", ""])
)
NESTED = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
DEEP: Any = 1
for _ in range(60):
    DEEP = [DEEP]


def _tool_names() -> list[str]:
    async def names() -> list[str]:
        with tempfile.TemporaryDirectory() as tmp:
            async with open_runner(Path(tmp)) as runner:
                mcp = build_mcp(runner, None)
                return sorted(t.name for t in await mcp.list_tools() if t.name not in SLOW)

    return anyio.run(names)


TOOLS = _tool_names()


def _check(result_text: str, is_error: bool) -> None:
    assert "internal error" not in result_text, result_text
    assert "Traceback" not in result_text
    if is_error:
        for raw in ("validation error", "type=", "pydantic", "For further information"):
            assert raw not in result_text, result_text


@pytest.mark.parametrize("tool", TOOLS)
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzzed_arguments_get_a_domain_answer(tool: str, data: st.DataObject) -> None:
    async def run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            async with open_runner(Path(tmp)) as runner:
                mcp = build_mcp(runner, None)
                schema = next(t for t in await mcp.list_tools() if t.name == tool).input_schema
                props = sorted(schema.get("properties", {}))
                keys = st.sampled_from(props) if props else st.just("x")
                args = data.draw(
                    st.dictionaries(keys | st.text(max_size=6), NESTED, max_size=4), label="args"
                )
                if data.draw(st.booleans(), label="deep") and props:
                    args[props[0]] = DEEP
                async with Client(mcp, mode="legacy") as c:
                    res = await c.call_tool(tool, args)
                    _check(text(res), bool(res.is_error))

    anyio.run(run)
