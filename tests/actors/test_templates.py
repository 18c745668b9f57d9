"""The prompt template renderer: paths, headers, defaults, markers, and no expansion in values."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.templates import RenderContext, render, validate_template

ISSUE = {
    "action": "opened",
    "issue": {"number": 7, "title": "Crash on start", "labels": [{"name": "bug"}], "closed": False},
    "items": [{"title": "first"}, {"title": "second"}],
    "empty": None,
    "word": "null",
    "ratio": 0.5,
}
BODY = json.dumps(ISSUE).encode()
HEADERS = {"X-GitHub-Event": "issues", "Content-Type": "application/json"}


def r(template: str, body: bytes | str = BODY, headers: dict[str, str] | None = None) -> str:
    return render(template, body, HEADERS if headers is None else headers)


def test_paths() -> None:
    assert r("{{payload.action}}") == "opened"
    assert r("#{{payload.issue.number}}: {{payload.issue.title}}") == "#7: Crash on start"
    assert r("{{ payload.issue.title }}") == "Crash on start"
    assert r("{{payload.items.0.title}} / {{payload.items.1.title}}") == "first / second"
    assert r("{{payload.issue.labels.0.name}}") == "bug"
    assert r("{{payload.issue.closed}} {{payload.ratio}} {{payload.empty}}") == "false 0.5 null"


def test_structured_values_render_as_json() -> None:
    assert json.loads(r("{{payload}}")) == ISSUE
    assert json.loads(r("{{payload.items}}")) == ISSUE["items"]
    assert json.loads(r("{{payload.issue.labels.0}}")) == {"name": "bug"}
    assert render("{{payload}}", b'"just a string"') == "just a string"
    assert render("{{payload}}", b"42") == "42"
    assert render("{{payload.k}}", '{"k": "ünïcode ✓"}') == "ünïcode ✓"


def test_headers_case_insensitive() -> None:
    assert r("{{headers.x-github-event}}") == "issues"
    assert r("{{headers.X-GitHub-Event}}") == "issues"
    assert r("{{headers.content-type}}") == "application/json"
    assert json.loads(r("{{headers}}"))["x-github-event"] == "issues"
    assert r("{{headers.x-missing}}") == "[missing: headers.x-missing]"


def test_missing_and_defaults() -> None:
    assert r("{{payload.nope}}") == "[missing: payload.nope]"
    assert r("{{payload.issue.nope.deeper}}") == "[missing: payload.issue.nope.deeper]"
    assert r("{{payload.items.5.title}}") == "[missing: payload.items.5.title]"
    assert r("{{payload.items.x}}") == "[missing: payload.items.x]"
    assert r("{{payload.action.length}}") == "[missing: payload.action.length]"
    assert r('{{payload.nope | default: "none"}}') == "none"
    assert r("{{payload.nope|default:'single'}}") == "single"
    assert r('{{payload.nope | default: ""}}') == ""
    assert r('{{payload.nope | default: "say \\"hi\\""}}') == 'say "hi"'
    assert r('{{payload.empty | default: "was null"}}') == "was null"
    assert r('{{payload.word | default: "x"}}') == "null"  # the string "null" is a value
    assert r('{{payload.action | default: "x"}}') == "opened"


def test_non_json_body() -> None:
    body = b"plain text {{headers.x-github-event}} \xff"
    out = render("[{{payload}}] [{{body}}] {{payload.a}}", body, HEADERS)
    assert out == (
        "[plain text {{headers.x-github-event}} \ufffd] "
        "[plain text {{headers.x-github-event}} \ufffd] [missing: payload.a]"
    )
    assert not RenderContext(body).body_is_json
    assert RenderContext(BODY).body_is_json


def test_body_is_raw_text_for_json_too() -> None:
    assert r("{{body}}") == BODY.decode()


def test_no_expansion_inside_values() -> None:
    body = json.dumps(
        {"title": "{{headers.x-github-event}}", "x": "{{payload.secret}}", "secret": "S"}
    )
    assert render("{{payload.title}}", body, HEADERS) == "{{headers.x-github-event}}"
    assert render("{{payload.x}}", body, HEADERS) == "{{payload.secret}}"
    assert render("{{payload.x}}{{payload.secret}}", body, HEADERS) == "{{payload.secret}}S"
    # A value ending in "{{" does not join with the template text after it.
    body2 = json.dumps({"a": "{{", "b": "}}"})
    assert render("{{payload.a}}payload.a{{payload.b}}", body2) == "{{payload.a}}"


def test_literals_and_invalid_tags_verbatim() -> None:
    assert r('{{"{{"}}payload}}') == "{{payload}}"
    assert r('{{"}}"}}') == '{{"}}"}}'  # "}}" cannot be a literal: a stray "}}" is text anyway
    assert r('{{"{{"}} x }}') == "{{ x }}"
    assert r("{{foo}} {{payload.a | upper}} {{}}") == "{{foo}} {{payload.a | upper}} {{}}"
    assert r("unclosed {{payload.action") == "unclosed {{payload.action"
    assert r("{{payload.x {{payload.action}}") == "{{payload.x opened"
    assert r('{"json": {"in": "prompt"}}') == '{"json": {"in": "prompt"}}'


def test_no_code_execution() -> None:
    assert r("{{payload.__class__}}") == "[missing: payload.__class__]"
    assert r("{{payload.__class__.__mro__}}") == "[missing: payload.__class__.__mro__]"
    assert r("{{payload.items.__len__}}") == "[missing: payload.items.__len__]"
    assert r("{{ __import__('os') }}") == "{{ __import__('os') }}"
    assert r("{{payload.action.upper}}") == "[missing: payload.action.upper]"


def test_triple_braces() -> None:
    assert r("{{{payload.action}}}") == "{opened}"


def test_size_bound() -> None:
    big = json.dumps({"blob": "x" * 50_000})
    out = render("{{payload.blob}}" * 100, big, max_chars=10_000)
    assert len(out) < 10_100
    assert out.endswith("[truncated: output exceeded 10000 characters]")
    assert render("short", big, max_chars=10) == "short"


def test_deep_nesting_never_raises() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert render("{{payload}}", deep) == deep  # too deep to parse: raw text
    deep_ok = json.dumps(json.loads("[" * 500 + "]" * 500))
    assert render("{{payload.0.0.0}}", deep_ok).startswith("[")


def test_validate_template() -> None:
    assert validate_template("Triage {{payload.issue.title}} ({{headers.x-github-event}})") == []
    assert validate_template('{{payload.x | default: "none"}} {{body}} {{payload}}') == []
    assert validate_template('{"json": {"nested": 1}}') == []  # stray }} is fine
    assert validate_template('{{"{{"}}') == []
    errors = validate_template("{{foo}}")
    assert len(errors) == 1 and "unknown name 'foo'" in errors[0]
    assert "unclosed" in validate_template("hello {{payload.a")[0]
    assert "unclosed" in validate_template("{{payload.a {{payload.b}}")[0]
    assert "unknown filter" in validate_template("{{payload.a | upper}}")[0]
    assert "not a valid placeholder" in validate_template("{{ }}")[0]
    assert "not a valid placeholder" in validate_template("{{payload..a}}")[0]
    assert validate_template("{{body.x}}")
    assert validate_template("{{headers.a.b}}")
    assert validate_template("   ")
    assert validate_template("x" * 100_001)
    assert len(validate_template("{{a}} {{b}} {{c")) == 3


# --- properties ----------------------------------------------------------------------------------

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
template_text = st.lists(
    st.sampled_from([*"{}|.\"' :ab0x-_\\", "payload", "headers", "body", "default", "{{", "}}"]),
    max_size=30,
).map("".join) | st.text(max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    template=template_text,
    body=json_values.map(json.dumps) | st.text(max_size=50) | st.binary(max_size=50),
    headers=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3),
)
def test_render_never_raises(template: str, body: Any, headers: dict[str, str]) -> None:
    out = render(template, body, headers, max_chars=5_000)
    assert isinstance(out, str)
    assert len(out) <= 5_000 + 60
    assert isinstance(validate_template(template), list)


marker = "{{payload.secret}}"
# The secret and the header hold a character no generated value or glue can contain, so any
# trace of them in the output is a leak (a value may well spell "SECRET" by itself).
SENTINELS = "\u00a7\u00b6"
SECRET = "\u00a7secret\u00a7"
HEADER = "\u00b6header\u00b6"
names = st.text(alphabet="abcdefgh", min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(
    keys=st.lists(names, min_size=1, max_size=4, unique=True),
    values=st.lists(
        st.sampled_from([marker, "{{", "}}", "{{headers.h}}", "{{body}}", '{{"x"}}'])
        | st.text(st.characters(exclude_characters=SENTINELS), max_size=10),
        min_size=4,
        max_size=4,
    ),
    glue=st.lists(
        st.sampled_from(["", " ", "payload.secret", "}}", "{", "{ "]), min_size=5, max_size=5
    ),
)
def test_never_expands_inside_values(keys: list[str], values: list[str], glue: list[str]) -> None:
    payload = {k: values[i] for i, k in enumerate(keys)}
    payload["secret"] = SECRET
    # Glue chosen so it cannot form a placeholder with its neighbours in the template itself.
    template = "".join(f"{g}{{{{payload.{k}}}}}" for g, k in zip(glue, keys, strict=False))
    out = render(template, json.dumps(payload), {"h": HEADER})
    expected = "".join(f"{g}{payload[k]}" for g, k in zip(glue, keys, strict=False))
    assert out == expected
    # A placeholder inside a value stays text: neither the secret nor the header ever shows.
    assert not any(ch in out for ch in SENTINELS), out


@settings(max_examples=100, deadline=None)
@given(value=st.text(max_size=40))
def test_string_values_render_raw(value: str) -> None:
    assert render("<{{payload.v}}>", json.dumps({"v": value})) == f"<{value}>"
    assert not re.search(r"\[missing", render("{{payload.v}}", json.dumps({"v": value})))
