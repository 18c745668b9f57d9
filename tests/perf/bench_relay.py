"""Model relay benchmark: what the relay adds to a model call, against calling the API directly.

Three processes on 127.0.0.1: the scripted Messages API (``tests/fakes/anthropic_api.py``), the
relay (this process: Hypercorn + httpx2 + the meter, recording each call in a real SQLite log),
and a client that alternates direct and relayed calls in the same run.

(a) Latency: a 47 KB request body (the CLI's usual size), a 6-event SSE reply; time to first
    byte and total, p50/p99 per target, and the difference. Target: p99 TTFB added <= 5 ms.
(b) Throughput, median of 5 per target: a stream paced like a fast model (~200 events/s), one
    paced at ~1,000 events/s, and an unpaced ~10 MB reply (50,000 SSE events). Target: relayed
    >= 95 % of direct. Unpaced, the fake, the relay and the client are three busy processes
    sharing the cores, so that ratio measures CPU share as much as the relay.

Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import httpx2

from actors.relay import Relay, relay_settings
from events import SQLiteEventStore
from projections.registry import make_projector
from tests.perf import Row, print_table

CALLS = 200
BIG_RUNS = 5
BIG_CHARS = 10_000_000
PACED_CHARS = 400_000
MODEL_CHARS = 80_000
KEY = "sk-bench-real-key"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- the fake API, in its own process ------------------------------------------------------
def serve_fake() -> None:
    from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, Turn

    api = FakeAnthropicAPI(default=[Turn([Text("hello from the fake model")])])
    api.script("big", [Turn([Text("x" * BIG_CHARS, chunk=200)], output_tokens=BIG_CHARS // 4)])
    # ~1,000 events/s: far above any model's pace, yet below what one core can copy
    api.script("paced", [Turn([Text("y" * PACED_CHARS, chunk=200)], delay=0.001)])
    # ~200 events/s: a fast model's pace (tens of tokens per event)
    api.script("model", [Turn([Text("z" * MODEL_CHARS, chunk=200)], delay=0.005)])
    api.start()
    print(api.base_url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    api.stop()


# -- the client, in its own process --------------------------------------------------------
def client(direct: str, relay: str, token: str) -> None:
    pad = "lorem ipsum dolor sit amet " * 1750  # ~47 KB, like the CLI's bodies
    targets = {"direct": (direct, KEY), "relay": (relay, token)}
    out: dict[str, Any] = {
        k: {"ttfb": [], "total": [], "mbps": [], "paced": [], "model": []} for k in targets
    }
    with httpx2.Client(timeout=60) as c:

        def one(name: str, prompt: str) -> tuple[float, float, int]:
            base, key = targets[name]
            body = {
                "model": "claude-sonnet-4-5",
                "max_tokens": 32000,
                "stream": True,
                "messages": [{"role": "user", "content": prompt}],
            }
            raw = json.dumps(body).encode()
            headers = {
                "x-api-key": key,
                "content-type": "application/json",
                "anthropic-version": "2023-06-01",
                "x-claude-code-session-id": uuid.uuid4().hex,
            }
            start = time.perf_counter()
            first = 0.0
            size = 0
            with c.stream(
                "POST", f"{base}/v1/messages?beta=true", content=raw, headers=headers
            ) as r:
                for chunk in r.iter_raw():
                    if not first:
                        first = time.perf_counter() - start
                    size += len(chunk)
            return first, time.perf_counter() - start, size

        for name in targets:  # warm-up
            one(name, pad)
        for i in range(CALLS):
            order = ("direct", "relay") if i % 2 == 0 else ("relay", "direct")
            for name in order:
                ttfb, total, _ = one(name, pad)
                out[name]["ttfb"].append(ttfb * 1000)
                out[name]["total"].append(total * 1000)
        for i in range(BIG_RUNS):
            order = ("direct", "relay") if i % 2 == 0 else ("relay", "direct")
            for name in order:
                _, total, size = one(name, "[[script:big]]")
                out[name]["mbps"].append(size / total / 1e6)
                _, total, size = one(name, "[[script:paced]]")
                out[name]["paced"].append(size / total / 1e6)
                _, total, size = one(name, "[[script:model]]")
                out[name]["model"].append(size / total / 1e6)
    print(json.dumps(out), flush=True)


# -- the bench -----------------------------------------------------------------------------
async def measure(base: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        async with SQLiteEventStore.open(
            Path(tmp) / "bench.db", projector=make_projector()
        ) as store:
            auth = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": base}
            relay = Relay(store, relay_settings(auth, None))
            async with anyio.create_task_group() as tg:
                port = await tg.start(relay.run)
                grant = relay.open("bench", "job", None, 3600)
                assert grant is not None
                cmd = [
                    sys.executable,
                    "-m",
                    "tests.perf.bench_relay",
                    "client",
                    base,
                    f"http://127.0.0.1:{port}",
                    grant.token,
                ]
                result = await anyio.run_process(cmd, stderr=None)
                tg.cancel_scope.cancel()
            metered = await store.query(
                "SELECT count(*) FROM events WHERE type = ?", ("ModelCallMetered",)
            )
    data: dict[str, Any] = json.loads(result.stdout.decode().strip().splitlines()[-1])
    data["metered"] = metered[0][0]
    return data


def report(data: dict[str, Any]) -> list[Row]:
    d, r = data["direct"], data["relay"]
    rows: list[Row] = []
    print(f"{CALLS} calls per target, interleaved; 47 KB request, 6-event SSE reply")
    print(
        f"{'ms':<10} {'direct p50':>11} {'relay p50':>10} {'added':>7} {'direct p99':>11} {'relay p99':>10} {'added':>7}"
    )
    for metric in ("ttfb", "total"):
        dp50, rp50 = pct(d[metric], 0.5), pct(r[metric], 0.5)
        dp99, rp99 = pct(d[metric], 0.99), pct(r[metric], 0.99)
        print(
            f"{metric:<10} {dp50:>11.2f} {rp50:>10.2f} {rp50 - dp50:>+7.2f} "
            f"{dp99:>11.2f} {rp99:>10.2f} {rp99 - dp99:>+7.2f}"
        )
        added99 = rp99 - dp99
        rows.append(
            Row(
                "relay",
                f"{metric} added p50/p99",
                f"+{rp50 - dp50:.2f} / +{added99:.2f} ms (direct p99 {dp99:.2f})",
                "p99 TTFB added <= 5 ms" if metric == "ttfb" else "",
                added99 <= 5.0 if metric == "ttfb" else None,
            )
        )
    md, mr = statistics.median(d["model"]), statistics.median(r["model"])
    print(
        f"model-paced stream (~200 events/s, {MODEL_CHARS // 200} events), median of "
        f"{BIG_RUNS}: direct {md * 1000:.1f} kB/s, relay {mr * 1000:.1f} kB/s, "
        f"ratio {mr / md:.1%}"
    )
    rows.append(
        Row(
            "relay",
            "model-paced stream throughput vs direct",
            f"{mr / md:.1%} ({mr * 1000:.1f} / {md * 1000:.1f} kB/s)",
            ">= 95 %",
            mr / md >= 0.95,
        )
    )
    pd, pr = statistics.median(d["paced"]), statistics.median(r["paced"])
    paced = pr / pd
    print(
        f"paced stream (~1,000 events/s, {PACED_CHARS // 200} events), median of {BIG_RUNS}: "
        f"direct {pd * 1000:.0f} kB/s, relay {pr * 1000:.0f} kB/s, ratio {paced:.1%}"
    )
    rows.append(
        Row(
            "relay",
            "paced stream throughput vs direct",
            f"{paced:.1%} ({pr * 1000:.0f} / {pd * 1000:.0f} kB/s)",
            ">= 95 %",
            paced >= 0.95,
        )
    )
    dm, rm = statistics.median(d["mbps"]), statistics.median(r["mbps"])
    ratio = rm / dm
    print(
        f"unpaced {BIG_CHARS / 1e6:.0f} MB stream, median of {BIG_RUNS}: direct {dm:.1f} MB/s, "
        f"relay {rm:.1f} MB/s, ratio {ratio:.1%} (three processes share the cores)"
    )
    print(f"calls metered into the log: {data['metered']}")
    rows.append(
        Row(
            "relay",
            "unpaced stream throughput vs direct",
            f"{ratio:.1%} ({rm:.1f} / {dm:.1f} MB/s)",
        )
    )
    return rows


def main() -> list[Row]:
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.perf.bench_relay", "fake"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert fake.stdout is not None
        base = fake.stdout.readline().strip()
        data = anyio.run(measure, base)
    finally:
        if fake.stdin:
            fake.stdin.close()
        fake.wait(timeout=10)
    rows = report(data)
    print_table(rows)
    return rows


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "fake":
        serve_fake()
    elif len(sys.argv) > 1 and sys.argv[1] == "client":
        client(*sys.argv[2:5])
    else:
        main()
