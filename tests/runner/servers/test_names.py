from __future__ import annotations

import pytest

from runner.servers.errors import InvalidServerName
from runner.servers.names import (
    BUILTIN_NAMES,
    parse_tool_id,
    suggest_name,
    tool_id,
    validate_name,
)


@pytest.mark.parametrize("name", ["a", "facebook-poster", "r2_images", "x" * 64, "a1-b2_c3"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "1abc", "Upper", "has space", "dot.name", "x" * 65, "a__b", "-a", "ä", "a/b", "..", None],
)
def test_invalid_names(name: object) -> None:
    with pytest.raises(InvalidServerName):
        validate_name(name)


@pytest.mark.parametrize("name", sorted(BUILTIN_NAMES | {"runner"}))
def test_reserved_names_refused_unless_allowed(name: str) -> None:
    with pytest.raises(InvalidServerName, match="reserved"):
        validate_name(name)
    assert validate_name(name, allow_reserved=True) == name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("My.Server", "my-server"), ("github", "github"), ("9lives", "s-9lives"), ("a__b", "a_b")],
)
def test_suggest_name(raw: str, expected: str) -> None:
    assert suggest_name(raw) == expected
    validate_name(expected)


def test_tool_ids() -> None:
    assert tool_id("fb-poster", "post_now") == "mcp__fb-poster__post_now"
    assert parse_tool_id("mcp__fb-poster__post_now") == ("fb-poster", "post_now")
    assert parse_tool_id("mcp__a__b__c") == ("a", "b__c")
    for bad in ("post", "mcp__only", "mcp____x", "mcp__a__"):
        with pytest.raises(ValueError):
            parse_tool_id(bad)
