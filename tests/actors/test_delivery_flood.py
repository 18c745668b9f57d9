"""Chaos: a delivery flood. 1,000 stored deliveries on one webhook, one run slot, a cap of 20
queued runs per webhook: every delivery is decided (a run or RunSkipped(queue_full)), at most
the cap waits at any time, and one bulk cancel empties the queue. Figures are printed."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from actors.webhook import WebhookActor
from runner.commands.bulk_cancel import CancelFilter
from tests.actors.test_claimer import system
from tests.actors.test_webhook_actor import hook_id, store_delivery
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio
DELIVERIES = 1000
CAP = 20


async def test_a_delivery_flood_is_capped_and_bulk_cancelled(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        await runner.settings.change(
            {"max_concurrent_runs": 1, "max_queued_per_webhook": CAP}, actor="test"
        )
        wid = await hook_id(runner, "n={{payload.n}}")
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            for i in range(DELIVERIES):
                tg.start_soon(store_delivery, runner, wid, i, f'{{"n": {i}}}')
        stored = time.monotonic() - started
        peak = 0
        async with system(runner) as fake, anyio.create_task_group() as tg:
            tg.start_soon(WebhookActor(runner.store).run)
            with anyio.fail_after(120):
                while True:
                    rows = await runner.store.query(
                        "SELECT state, count(*) FROM v_runs WHERE webhook_id = ? GROUP BY state",
                        (wid,),
                    )
                    by = {r[0]: r[1] for r in rows}
                    peak = max(peak, by.get("requested", 0))
                    if sum(by.values()) == DELIVERIES and by.get("requested", 0) <= CAP:
                        break
                    await anyio.sleep(0.05)
            decided = time.monotonic() - started
            result = await runner.bulk_cancel.cancel(
                CancelFilter(webhook_id=wid, include_running=True), actor="test", reason="flood"
            )
            for run_id in list(fake.release):
                fake.finish(run_id)
            tg.cancel_scope.cancel()
        rows = await runner.store.query(
            "SELECT state, count(*) FROM v_runs WHERE webhook_id = ? GROUP BY state", (wid,)
        )
        by = {r[0]: r[1] for r in rows}
        skipped = await runner.store.query(
            "SELECT count(*) FROM events WHERE type = 'RunSkipped' "
            "AND CAST(data AS TEXT) LIKE '%queue_full%'"
        )
        print(
            f"\ndelivery flood: {DELIVERIES} deliveries stored in {stored:.1f} s, all decided in "
            f"{decided:.1f} s; queued at most {peak} (cap {CAP}); queue_full skips "
            f"{skipped[0][0]}; bulk cancel matched {result.matched} "
            f"(cancelled {result.cancelled}, stop requested {result.cancel_requested})"
        )
        assert sum(by.values()) == DELIVERIES  # every delivery has its run, none lost
        assert by.get("requested", 0) == 0 and by.get("running", 0) == 0, by
        assert skipped[0][0] >= DELIVERIES - CAP - 2
        assert result.matched <= CAP + 1
