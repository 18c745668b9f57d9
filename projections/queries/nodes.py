"""Reads of the live nodes view (``v_nodes``: nodes holding a lease, with their labels)."""

from __future__ import annotations

from events.views import Query

ALL = Query("nodes.all", "SELECT doc FROM v_nodes ORDER BY k")
