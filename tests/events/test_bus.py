"""The in-process bus: a subscriber that falls behind is cut off (never slowing the publisher),
and that is said in the log, not silent."""

from __future__ import annotations

import anyio
import pytest

from events.bus import Bus
from events.envelope import Meta, Recorded
from events.system import SettingsChanged


def rec(pos: int) -> Recorded:
    return Recorded(position=pos, stream="settings", version=pos, type="SettingsChanged",
                    event=SettingsChanged(changes={}), meta=Meta(), recorded_at_us=0,
                    hash="")  # fmt: skip


def test_a_lagging_subscriber_is_cut_off_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    bus = Bus()
    slow, fast = bus.attach(max_buffer=2), bus.attach(max_buffer=10)
    bus.publish([rec(1), rec(2), rec(3)])  # never waits, even for the full buffer
    assert slow.lagged and not fast.lagged and bus.subscriber_count == 1
    assert [slow.receive.receive_nowait().position for _ in range(2)] == [1, 2]
    with pytest.raises(anyio.EndOfStream):
        slow.receive.receive_nowait()  # its stream ends: it catches up from storage
    warned = [r.getMessage() for r in caplog.records if r.name == "events.bus"]
    assert warned == ["a subscriber fell behind by 2 events and was cut off"]
    bus.close()
