"""A live cost estimate from token counts while a run is going (the CLI reports the cost only at
the end). List prices in USD per million tokens by model family; unknown models use Sonnet's.
Shown as "≈", replaced by the CLI's figure when the run ends.
"""

from __future__ import annotations

from events.runs import Usage

# (words the model id contains) -> input, output, cache write (5 min), cache read in USD per
# million tokens (published list prices); the most specific entry first.
PRICES: tuple[tuple[tuple[str, ...], tuple[float, float, float, float]], ...] = (
    (("opus", "4-5"), (5.0, 25.0, 6.25, 0.5)),
    (("opus",), (15.0, 75.0, 18.75, 1.5)),
    (("sonnet",), (3.0, 15.0, 3.75, 0.3)),
    (("haiku", "4"), (1.0, 5.0, 1.25, 0.1)),
    (("haiku",), (0.8, 4.0, 1.0, 0.08)),
)
DEFAULT = PRICES[2][1]


def price_of(model: str | None) -> tuple[float, float, float, float]:
    """The price row of the first family ``model`` names; Sonnet's when unknown."""
    name = (model or "").lower()
    for words, row in PRICES:
        if all(w in name for w in words):
            return row
    return DEFAULT


def estimate_usd(model: str | None, usage: Usage) -> float:
    """The cost of ``usage`` at ``model``'s list price."""
    i, o, cw, cr = price_of(model)
    return (
        usage.input_tokens * i
        + usage.output_tokens * o
        + usage.cache_creation_input_tokens * cw
        + usage.cache_read_input_tokens * cr
    ) / 1_000_000
