"""Every SQL read of the view tables (and of the log for the history pages), in one place.

Named ``events.views.Query`` objects in a portable subset (``?`` placeholders, standard
functions); a query with no portable form carries each dialect's own text. Callers run them
through ``events.Backend.fetch``; nothing above ``projections`` writes SQL.
"""

from __future__ import annotations

from projections.queries.common import by_key, count, decode, decode_all, in_marks

__all__ = ["by_key", "count", "decode", "decode_all", "in_marks"]
