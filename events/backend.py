"""What callers above ``events/`` hold: an event store with its views, whatever the backend.

``Backend`` joins the ``EventStore`` interface (the log) and ``ViewReader`` (named queries over
the view tables), plus the few operational hooks the service needs: the bus, the chain state,
maintenance that a backend may refuse with ``NotOnThisBackend``, and a side connection for
operational tables (leases). ``events.open_store`` picks the implementation from a URL or path.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from events.bus import Bus
from events.chain import ChainState
from events.envelope import Recorded
from events.errors import NotOnThisBackend
from events.store import EventStore
from events.views import Projector, Query, Row, ViewReader


class SideConnection(abc.ABC):
    """A synchronous connection for operational (non-event) tables; one worker thread."""

    @abc.abstractmethod
    def has_table(self, name: str) -> bool:
        """Whether table ``name`` exists."""

    @abc.abstractmethod
    def execute(self, query: Query, params: Sequence[Any] = ()) -> tuple[list[Row], int]:
        """Run one statement (autocommit); its rows (if any) and the number of rows changed."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection."""


class Backend(EventStore, ViewReader):
    """An event store with its view tables: SQLite (embedded) or PostgreSQL (several nodes)."""

    #: Live committed events of every process/node, for subscribers.
    bus: Bus
    #: Who this store is in this process (for logs).
    instance: str
    #: The chain as verified at open; ``ok`` False means appends are refused.
    chain: ChainState
    #: Where the log lives, for messages (a path, or a URL without its password).
    location: str
    #: Keeps the view tables in step with the log (in the append's transaction).
    projector: Projector

    @abc.abstractmethod
    async def query(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any]:
        """Raw read-only SQL in this backend's own dialect, for tests and diagnostics.

        Application code reads through ``fetch`` and the named queries of
        ``projections.queries`` (``tests/projections/test_queries_in_one_place.py`` keeps it so).
        """

    @abc.abstractmethod
    def side_connection(self) -> SideConnection:
        """A new synchronous connection to the log's database for operational tables."""

    async def erase_run(
        self, run_id: str, *, by: str, reason: str, policy: str | None = None
    ) -> list[Recorded]:
        """Erase a run's output and its webhook body, keeping the chain verifiable."""
        raise NotOnThisBackend(
            f"erasing a run's output works on the SQLite log only (this log is on {self.dialect}); "
            "the run's events are unchanged"
        )

    async def accept_chain_break(self, by: str, reason: str) -> list[Recorded]:
        """Record that ``by`` accepts a broken chain (appends resume)."""
        raise NotOnThisBackend(f"accepting a chain break is not available on {self.dialect}")

    async def verify_chain(self) -> ChainState:
        """Check the chain since the last checkpoint (a backend without one returns its state)."""
        return self.chain
