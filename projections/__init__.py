"""Views of the log: pure folds from events to rows, applied inside the journal's transaction."""

from __future__ import annotations

from projections.access import (
    AdminView,
    ApiTokenView,
    OAuthClientView,
    OAuthCodeView,
    OAuthTokenView,
)
from projections.base import Change, Projection, Table, View
from projections.costs import CostRow
from projections.folder import Folder
from projections.jobs import JobView
from projections.output import OutputRow
from projections.projector import ViewProjector
from projections.rebuild import AuditIssue, AuditReport, audit
from projections.registry import ALL_PROJECTIONS, make_projector
from projections.runs import ACTIVE_STATES, TERMINAL_STATES, RunView
from projections.servers import CredentialView, InvocationView, ServerView
from projections.settings import CrashView, InstanceView, SettingsView
from projections.webhooks import DeliveryView, RejectionView, WebhookView

__all__ = [
    "ACTIVE_STATES",
    "ALL_PROJECTIONS",
    "TERMINAL_STATES",
    "AdminView",
    "ApiTokenView",
    "AuditIssue",
    "AuditReport",
    "Change",
    "CostRow",
    "CrashView",
    "CredentialView",
    "DeliveryView",
    "Folder",
    "InstanceView",
    "InvocationView",
    "JobView",
    "OAuthClientView",
    "OAuthCodeView",
    "OAuthTokenView",
    "OutputRow",
    "Projection",
    "RejectionView",
    "RunView",
    "ServerView",
    "SettingsView",
    "Table",
    "View",
    "ViewProjector",
    "WebhookView",
    "audit",
    "make_projector",
]
