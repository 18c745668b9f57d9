"""HTML fragments shared by the pages and the live stream: sanitized Markdown, trace blocks.

Text from the model is untrusted: Markdown is rendered with raw HTML disabled, then cleaned by
nh3 (an allow-list sanitizer); everything else goes through ``markupsafe.escape``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

from projections import OutputRow

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
_TAGS = {
    "a", "p", "br", "hr", "em", "strong", "del", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "img",
}  # fmt: skip
_ATTRS = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"align"}, "td": {"align"}}
MAX_RENDER = 200_000


def markdown(text: str) -> Markup:
    """CommonMark to sanitized HTML (no raw HTML, no scripts, safe URL schemes only)."""
    html = _md.render(text[:MAX_RENDER])
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRS,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)


def pretty(data: Any) -> str:
    try:
        return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(data)


def clock(us: int | None) -> Markup:
    """A ``<time>`` the browser shows as a local clock time (UTC without script)."""
    if not us:
        return Markup("")
    t = dt.datetime.fromtimestamp(us / 1_000_000, tz=dt.UTC)
    return Markup('<time class="clock" datetime="{}" title="{} UTC">{}</time>').format(
        t.isoformat(timespec="milliseconds"), f"{t:%Y-%m-%d %H:%M:%S}", f"{t:%H:%M:%S}"
    )


def reltime(us: int | None) -> Markup:
    """A ``<time>`` the browser shows relative to now, the absolute local time on hover."""
    if not us:
        return Markup("—")
    t = dt.datetime.fromtimestamp(us / 1_000_000, tz=dt.UTC)
    return Markup('<time class="rel" datetime="{}" title="{} UTC">{} UTC</time>').format(
        t.isoformat(timespec="seconds"), f"{t:%Y-%m-%d %H:%M:%S}", f"{t:%Y-%m-%d %H:%M}"
    )


def tool_input(row: OutputRow) -> Any:
    """The call's input itself (events keep it as ``{"input": …}``; large ones as text)."""
    data = row.data
    if isinstance(data, dict) and set(data) == {"input"}:
        return data["input"]
    if data is not None:
        return data
    try:
        return json.loads(row.text)
    except ValueError:
        return row.text


def raw_json(row: OutputRow) -> str:
    """The block as recorded, for the raw view."""
    doc = {k: v for k, v in msgspec.to_builtins(row).items() if v not in (None, "", False)}
    return pretty(doc)[:MAX_RENDER]


_BAR = Markup(
    '<div class="bar"><button type="button" class="mini" data-act="copy">Copy</button>'
    '<button type="button" class="mini" data-act="raw" aria-pressed="false">Raw JSON</button></div>'
)


def _step(cls: str, row: OutputRow, head: Markup, body: Markup, *, open_: bool = True) -> Markup:
    return Markup(
        '<details class="{}" data-pos="{}" data-use="{}" data-tool="{}"{}>'
        "<summary>{} {}</summary>{}<div class=\"view\">{}</div>"
        '<pre class="raw" hidden>{}</pre></details>'
    ).format(
        cls, row.position, row.tool_use_id or "", row.tool_name or "",
        Markup(" open") if open_ else Markup(""), head, clock(row.recorded_at_us), _BAR, body,
        raw_json(row),
    )  # fmt: skip


def block_html(row: OutputRow) -> Markup:
    """One trace block as HTML (escaped or sanitized), the same on the run page and over SSE.

    A tool call is a step (``<details>``) its result and any denial join in the browser (by
    ``data-use``), which then shows the step's duration.
    """
    kind = row.kind
    pos = row.position
    if kind == "text":
        body = markdown(row.text)
        return Markup('<div class="blk blk-text" data-pos="{}">{}{}</div>').format(
            pos, clock(row.recorded_at_us), body
        )
    if kind == "thinking":
        return Markup(
            '<details class="blk blk-thinking" data-pos="{}"><summary>Thinking {}</summary>'
            "<pre>{}</pre></details>"
        ).format(pos, clock(row.recorded_at_us), row.text)
    if kind == "tool_use":
        head = Markup('Tool call <code>{}</code> <span class="dur muted"></span>').format(
            row.tool_name or "?"
        )
        body = Markup('<pre class="in">{}</pre><div class="res"></div>').format(
            pretty(tool_input(row))
        )
        return _step("blk blk-tool step", row, head, body)
    if kind == "tool_result":
        cls = "blk blk-result blk-err" if row.is_error else "blk blk-result"
        result: str = row.text if row.text else pretty(row.data)
        label = Markup("Tool error" if row.is_error else "Tool result")
        body = Markup("<pre>{}</pre>").format(result[:MAX_RENDER])
        return _step(cls, row, label, body)
    if kind == "denied":
        target = (row.data or {}).get("target", "")
        return Markup(
            '<div class="blk blk-denied" data-pos="{}" data-use="{}" data-tool="{}" role="note">'
            "<strong>Denied</strong> <code>{}</code> {} <span class=\"muted\">{}</span> {}</div>"
        ).format(
            pos, row.tool_use_id or "", row.tool_name or "", row.tool_name or "?", row.text,
            target, clock(row.recorded_at_us),
        )  # fmt: skip
    cls = "blk blk-err" if kind == "error" or row.is_error else "blk blk-sys"
    return Markup('<div class="{}" data-pos="{}"><pre>{}</pre></div>').format(
        cls, pos, f"[{kind}] {row.text}" if row.text else f"[{kind}] {pretty(row.data)}"
    )


def when(us: int | None, tz: str = "UTC") -> str:
    if not us:
        return "—"
    t = dt.datetime.fromtimestamp(us / 1_000_000, tz=ZoneInfo(tz))
    return t.strftime("%Y-%m-%d %H:%M:%S")


def duration(start_us: int | None, end_us: int | None) -> str:
    if not start_us or not end_us:
        return "—"
    s = (end_us - start_us) / 1_000_000
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def money(x: float | None) -> str:
    return f"${(x or 0.0):,.4f}"


def number(x: int | None) -> str:
    return f"{(x or 0):,}"


PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f")


def cost_chart(labels: list[str], series: dict[str, list[float]], names: dict[str, str]) -> Markup:
    """A small stacked bar chart as inline SVG markup (no script, no external asset)."""
    width, height, pad = 600, 180, 24
    n = max(1, len(labels))
    totals = [sum(s[i] for s in series.values()) for i in range(n)] if series else [0.0] * n
    top = max(totals) or 1.0
    bar = (width - pad) / n
    parts: list[str] = []
    ordered = sorted(((k, v) for k, v in series.items() if sum(v) > 0), key=lambda kv: -sum(kv[1]))
    keys = [k for k, _ in ordered[: len(PALETTE) - 1]]
    rest = [v for k, v in ordered[len(PALETTE) - 1 :]]
    shown: list[tuple[str, list[float]]] = [(k, series[k]) for k in keys]
    if rest:
        shown.append(("other", [sum(v[i] for v in rest) for i in range(n)]))
    for i in range(n):
        y = float(height - pad)
        for c, (key, vals) in enumerate(shown):
            h = (vals[i] / top) * (height - 2 * pad)
            if h <= 0:
                continue
            y -= h
            title = f"{labels[i]} {names.get(key, key)}: ${vals[i]:.4f}"
            parts.append(
                str(
                    Markup(
                        '<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}">'
                        "<title>{}</title></rect>"
                    ).format(pad + i * bar + 1, y, max(bar - 2, 1), h, PALETTE[c], title)
                )
            )
    for i, anchor in ((0, "start"), (n // 2, "middle"), (n - 1, "end")):
        x = pad + i * bar + (bar / 2 if anchor == "middle" else bar if anchor == "end" else 0)
        parts.append(
            str(
                Markup('<text x="{:.1f}" y="{}" class="ax" text-anchor="{}">{}</text>').format(
                    x, height - 6, anchor, labels[i][5:] if labels else ""
                )
            )
        )
    parts.append(str(Markup('<text x="0" y="16" class="ax">{}</text>').format(money(top))))
    legend = "".join(
        str(Markup('<span class="lg"><i class="c{}"></i>{}</span>').format(c, names.get(k, k)))
        for c, (k, _) in enumerate(shown)
    )
    svg = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="cost per day">{"".join(parts)}</svg>'
    )
    return Markup(svg + f'<div class="legend">{legend}</div>')
