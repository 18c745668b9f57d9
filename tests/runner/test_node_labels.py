"""Node names and labels: what is accepted at every door, and what is refused with
``field: what to fix`` (control characters, terminal escapes, too long, bad shapes)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from runner.config import load_config
from runner.errors import InvalidInput
from runner.jobs_input import build_spec
from runner.node_labels import check_label, node_name, parse_labels


@pytest.mark.parametrize("bad", ["\x1b[31mgpu", "gpu\n", "g\x00", "gpu\u202e", "-gpu", "g pu",
                                 "g/u", "ĝpu", "g" * 64, ""])  # fmt: skip
def test_a_bad_label_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as err:
        build_spec({"name": "j", "prompt": "p", "node_label": bad} if bad else
                   {"name": "j", "prompt": "p", "node_label": 5})  # fmt: skip
    assert err.value.field == "node_label"
    assert err.value.message.startswith("node_label ")
    assert "\x1b" not in err.value.message and "\n" not in err.value.message


def test_messages_say_what_to_fix() -> None:
    with pytest.raises(InvalidInput, match=r"control character U\+001B"):
        check_label("a\x1b")
    with pytest.raises(InvalidInput, match="64 characters; the limit is 63"):
        check_label("a" * 64)


def test_a_good_label_is_kept_and_empty_means_any_node() -> None:
    assert build_spec({"name": "j", "prompt": "p", "node_label": " gpu-2.eu_x "}).node_label == (
        "gpu-2.eu_x"
    )
    assert build_spec({"name": "j", "prompt": "p", "node_label": ""}).node_label is None
    assert build_spec({"name": "j", "prompt": "p"}).node_label is None
    pinned = build_spec({"name": "j", "prompt": "p", "node_label": "gpu"})
    assert build_spec({"node_label": ""}, base=pinned).node_label is None  # unpin


def test_node_labels_from_the_environment(tmp_path: Path) -> None:
    base = {"RUNNER_DATA_DIR": str(tmp_path)}
    c = load_config({**base, "RUNNER_NODE_NAME": "box-1", "RUNNER_NODE_LABELS": "gpu, eu,gpu"})
    assert c.node_name == "box-1" and c.node_labels == ("gpu", "eu")
    default = load_config(base)
    assert default.node_name == socket.gethostname() and default.node_labels == ()
    with pytest.raises(InvalidInput, match="RUNNER_NODE_LABELS"):
        load_config({**base, "RUNNER_NODE_LABELS": "gpu,\x1b[2J"})
    with pytest.raises(InvalidInput, match="RUNNER_NODE_NAME"):
        load_config({**base, "RUNNER_NODE_NAME": "box\nforged"})
    with pytest.raises(InvalidInput, match="limit is 32"):
        parse_labels(",".join(f"l{i}" for i in range(33)))
    assert node_name("") == socket.gethostname()
