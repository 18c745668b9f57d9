from __future__ import annotations

import pytest

from events.servers import EnvVarSpec
from runner.servers.code import (
    MAX_CODE_BYTES,
    analyse_code,
    check_code,
    detect_env_vars,
    is_sensitive,
    merge_env_specs,
)
from runner.servers.errors import InvalidServerCode


def test_syntax_error_reports_line() -> None:
    code = "import os\n\ndef f(:\n    pass\n"
    with pytest.raises(InvalidServerCode, match=r"line 3") as info:
        check_code(code)
    assert info.value.line == 3


def test_indentation_error_reports_line() -> None:
    with pytest.raises(InvalidServerCode, match="IndentationError at line 2") as info:
        check_code("def f():\nreturn 1\n")
    assert info.value.line == 2


def test_size_limit() -> None:
    ok = "x = 1\n" + "#" * (MAX_CODE_BYTES - 7) + "\n"
    assert len(ok.encode()) == MAX_CODE_BYTES
    check_code(ok)
    with pytest.raises(InvalidServerCode, match="1 MiB"):
        check_code(ok + "#")


@pytest.mark.parametrize("code", ["", "   \n", b"\xff\xfe", "x = '\0'"])
def test_empty_binary_or_nul_code_refused(code: str | bytes) -> None:
    with pytest.raises(InvalidServerCode):
        check_code(code)


def test_env_detection_forms() -> None:
    code = """
import os
from os import environ as env, getenv
A = os.environ.get("API_KEY")
B = os.getenv("BASE_URL", "https://x")
C = os.environ["BOT_TOKEN"]
D = env.get("ACCOUNT_ID")
E = getenv("REGION", default="eu")
F = os.environ.setdefault("MODE", "fast")
G = os.environ.get(name_from_variable)
H = os.environ.get("DATA_DIR")
os.environ["WRITTEN"] = "not a read"
def later():
    return os.getenv("BASE_URL")
"""
    found = {v.name: v.required for v in detect_env_vars(code)}
    assert found == {
        "ACCOUNT_ID": True,
        "API_KEY": True,
        "BASE_URL": True,  # read once without a default -> required
        "BOT_TOKEN": True,
        "MODE": False,
        "REGION": False,
    }


def test_env_detection_of_unparsable_code_is_empty() -> None:
    assert detect_env_vars("def (") == ()


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("API_KEY", True),
        ("OPENAI_APIKEY", True),
        ("CLIENT_SECRET", True),
        ("GITHUB_TOKEN", True),
        ("SMTP_PASSWORD", True),
        ("DB_PASS", True),
        ("PRIVATE_PEM", True),
        ("GOOGLE_CREDENTIALS", True),
        ("SMTP_HOST", False),
        ("BASE_URL", False),
        ("ACCOUNT_ID", False),
        ("SMTP_USERNAME", False),
    ],
)
def test_sensitivity_by_name(name: str, sensitive: bool) -> None:
    assert is_sensitive(name) is sensitive


def test_declared_specs_and_overrides_win() -> None:
    code = 'import os\nK = os.environ["R2_ACCESS_KEY_ID"]\nU = os.getenv("USER_NAME")\n'
    declared = [EnvVarSpec(name="EXTRA", description="declared", required=False)]
    text, specs = analyse_code(code, declared, {"R2_ACCESS_KEY_ID": False, "USER_NAME": True})
    assert text == code
    by_name = {s.name: s for s in specs}
    assert list(by_name) == ["EXTRA", "R2_ACCESS_KEY_ID", "USER_NAME"]
    assert by_name["EXTRA"].description == "declared" and not by_name["EXTRA"].required
    assert by_name["R2_ACCESS_KEY_ID"].sensitive is False
    assert by_name["USER_NAME"].sensitive is True


def test_overriding_unknown_or_injected_vars_is_an_error() -> None:
    with pytest.raises(InvalidServerCode, match="unknown"):
        merge_env_specs((), (), {"NOPE": True})
    for reserved in ("DATA_DIR", "LD_PRELOAD", "PYTHONPATH"):
        with pytest.raises(InvalidServerCode, match="reserved"):
            merge_env_specs((), [EnvVarSpec(name=reserved)])
    with pytest.raises(InvalidServerCode, match="invalid environment variable"):
        merge_env_specs((), [EnvVarSpec(name="BAD-NAME")])
