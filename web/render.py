"""HTML fragments shared by the pages and the live stream: sanitized Markdown, trace blocks.

Text from the model is untrusted: Markdown is rendered with raw HTML disabled, then cleaned by
nh3 (an allow-list sanitizer); everything else goes through ``markupsafe.escape``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

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


def block_html(row: OutputRow) -> Markup:
    """One trace block as HTML (escaped or sanitized), the same on the run page and over SSE."""
    kind = row.kind
    pos = row.position
    if kind == "text":
        body = markdown(row.text)
        return Markup('<div class="blk blk-text" data-pos="{}">{}</div>').format(pos, body)
    if kind == "thinking":
        return Markup(
            '<details class="blk blk-thinking" data-pos="{}"><summary>Thinking</summary>'
            "<pre>{}</pre></details>"
        ).format(pos, row.text)
    if kind == "tool_use":
        return Markup(
            '<div class="blk blk-tool" data-pos="{}"><div class="blk-h">Tool call '
            "<code>{}</code></div><pre>{}</pre></div>"
        ).format(pos, row.tool_name or "?", pretty(row.data if row.data is not None else row.text))
    if kind == "tool_result":
        cls = "blk blk-result blk-err" if row.is_error else "blk blk-result"
        result: str = row.text if row.text else pretty(row.data)
        label = "Tool error" if row.is_error else "Tool result"
        return Markup(
            '<details class="{}" data-pos="{}" open><summary>{}</summary><pre>{}</pre></details>'
        ).format(cls, pos, label, result[:MAX_RENDER])
    if kind == "denied":
        target = (row.data or {}).get("target", "")
        return Markup(
            '<div class="blk blk-denied" data-pos="{}"><strong>Denied</strong> <code>{}</code> '
            '{} <span class="muted">{}</span></div>'
        ).format(pos, row.tool_name or "?", row.text, target)
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
    for i in (0, n // 2, n - 1):
        parts.append(
            str(
                Markup('<text x="{:.1f}" y="{}" class="ax">{}</text>').format(
                    pad + i * bar, height - 6, labels[i][5:] if labels else ""
                )
            )
        )
    parts.append(str(Markup('<text x="0" y="14" class="ax">{}</text>').format(money(top))))
    legend = "".join(
        str(Markup('<span class="lg"><i class="c{}"></i>{}</span>').format(c, names.get(k, k)))
        for c, (k, _) in enumerate(shown)
    )
    svg = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="cost per day">{"".join(parts)}</svg>'
    )
    return Markup(svg + f'<div class="legend">{legend}</div>')
