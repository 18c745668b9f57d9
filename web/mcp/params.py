"""Parameter types shared by the tools, each with its description and bounds.

A description on ``Annotated[T, Field(...)] | None`` lands inside ``anyOf`` where clients do not
show it; these aliases put ``| None`` inside the annotation so every parameter's description is
at the top of its schema (``tests/mcp`` checks that none is missing).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Limit = Annotated[int, Field(ge=1, le=200, description="page size (max 200)")]
Offset = Annotated[
    int, Field(ge=0, description="how many items to skip: pass page.next_offset for the next page")
]
ModelName = Annotated[
    str | None, Field(description="model id, e.g. 'claude-sonnet-4-5'; default: the settings'")
]
TimeoutSeconds = Annotated[
    float | None,
    Field(gt=0, le=86400, description="stop the run after this many seconds (max 86400)"),
]
MaxTurns = Annotated[
    int | None, Field(ge=1, le=1000, description="stop the run after this many agent turns")
]
BudgetUsd = Annotated[
    float | None, Field(gt=0, description="stop a run that would cost more than this (USD)")
]
ToolNames = Annotated[
    list[str] | None,
    Field(
        description="tools the run may use: built-ins (Read, Write, Edit, Glob, Grep, Bash, "
        "WebFetch, WebSearch, ...) and MCP tools as 'mcp__<server>__<tool>' ('server:tool' is "
        "normalised, with a warning)"
    ),
]
ServerNames = Annotated[
    list[str] | None,
    Field(description="MCP servers (by name) the run may use; each must be enabled"),
]
NodeLabel = Annotated[
    str | None,
    Field(
        max_length=63,
        description="run only on runner nodes carrying this label (their RUNNER_NODE_LABELS), "
        "e.g. 'gpu'; letters, digits, '.', '_', '-'; default: any node ('' removes the pin)",
    ),
]
Description = Annotated[str, Field(description="free text shown in lists (max 2000 characters)")]
NewDescription = Annotated[
    str | None, Field(description="new free text shown in lists; left out: unchanged")
]
NewName = Annotated[str | None, Field(description="new unique name; left out: unchanged")]
RatePerMinute = Annotated[
    float | None,
    Field(gt=0, description="deliveries accepted per minute (token bucket); default 60"),
]
Burst = Annotated[
    int | None, Field(ge=1, description="deliveries accepted at once before the rate applies")
]
