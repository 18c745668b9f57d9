"""The event catalogue: one tagged union of every event type, and their schema versions.

Add an event by defining a tagged, frozen ``msgspec.Struct`` in its module and listing it here.
Changing an event's shape means bumping its version in ``SCHEMA_VERSIONS`` and registering an
upcaster in ``events.codec`` for the old shape: stored rows are never rewritten.
"""

from __future__ import annotations

import typing

from events.approvals import (
    ApprovalAnswered,
    ApprovalTimedOut,
    ApprovalWithdrawn,
    RunAwaitingApproval,
)
from events.assistant import (
    AssistantCallRefused,
    ConversationDeleted,
    ConversationMessagePosted,
    ConversationStarted,
    ConversationTurnEnded,
)
from events.integrity import ChainBreakAccepted, ContentErased
from events.jobs import JobCreated, JobDeleted, JobPaused, JobResumed, JobScheduleBroken, JobUpdated
from events.leases import LeaseAcquired, LeaseExpired, LeaseReleased
from events.nodes import RunAwaitingNode
from events.oauth_consent import OAuthClientPruned, OAuthConsentDecided, OAuthConsentRequested
from events.relay import ModelCallMetered, ModelCallRefused
from events.runs import (
    ConcurrencySlotTaken,
    RunCancelled,
    RunCancelRequested,
    RunClaimed,
    RunCrashed,
    RunFailed,
    RunOutput,
    RunOutputTruncated,
    RunRequested,
    RunSkipped,
    RunStarted,
    RunSucceeded,
    RunTimedOut,
    RunToolDenied,
    RunUsage,
)
from events.servers import (
    CredentialDeleted,
    CredentialSet,
    SecretKeyRotated,
    ServerCreated,
    ServerDeleted,
    ServerDisabled,
    ServerEnabled,
    ServerStartFailed,
    ServerToolsDiscovered,
    ServerUpdated,
    ToolInvoked,
)
from events.sessions import SessionEnded, SessionStarted
from events.system import (
    ActorCrashed,
    AdminCreated,
    AdminPasswordChanged,
    ApiTokenCreated,
    ApiTokenRevoked,
    OAuthClientRegistered,
    OAuthCodeIssued,
    OAuthCodeRedeemed,
    OAuthTokenRevoked,
    OAuthTokensIssued,
    ServiceStarted,
    ServiceStopped,
    SettingsChanged,
)
from events.webhooks import (
    WebhookCreated,
    WebhookDeleted,
    WebhookDisabled,
    WebhookEnabled,
    WebhookReceived,
    WebhookRejected,
    WebhookSecretRotated,
    WebhookUpdated,
)

Event = (
    JobCreated
    | JobUpdated
    | JobPaused
    | JobResumed
    | JobDeleted
    | RunRequested
    | RunSkipped
    | RunClaimed
    | ConcurrencySlotTaken
    | RunStarted
    | RunOutput
    | RunOutputTruncated
    | RunUsage
    | RunToolDenied
    | RunCancelRequested
    | RunSucceeded
    | RunFailed
    | RunTimedOut
    | RunCancelled
    | RunCrashed
    | WebhookCreated
    | WebhookUpdated
    | WebhookEnabled
    | WebhookDisabled
    | WebhookSecretRotated
    | WebhookDeleted
    | WebhookReceived
    | WebhookRejected
    | ServerCreated
    | ServerUpdated
    | ServerEnabled
    | ServerDisabled
    | ServerDeleted
    | ServerToolsDiscovered
    | ServerStartFailed
    | ToolInvoked
    | CredentialSet
    | CredentialDeleted
    | SecretKeyRotated
    | SettingsChanged
    | ServiceStarted
    | ServiceStopped
    | ActorCrashed
    | AdminCreated
    | AdminPasswordChanged
    | ApiTokenCreated
    | ApiTokenRevoked
    | OAuthClientRegistered
    | OAuthCodeIssued
    | OAuthCodeRedeemed
    | OAuthTokensIssued
    | OAuthTokenRevoked
    | ModelCallMetered
    | ModelCallRefused
    | ChainBreakAccepted
    | ContentErased
    | JobScheduleBroken
    | LeaseAcquired
    | LeaseReleased
    | LeaseExpired
    | SessionStarted
    | SessionEnded
    | RunAwaitingApproval
    | ApprovalAnswered
    | ApprovalTimedOut
    | ApprovalWithdrawn
    | OAuthConsentRequested
    | OAuthConsentDecided
    | OAuthClientPruned
    | ConversationStarted
    | ConversationMessagePosted
    | ConversationTurnEnded
    | AssistantCallRefused
    | ConversationDeleted
    | RunAwaitingNode
)

EVENT_TYPES: dict[str, type[Event]] = {t.__name__: t for t in typing.get_args(Event)}

#: Current schema version per event type (1 unless listed). See ``events.codec.UPCASTERS``.
SCHEMA_VERSIONS: dict[str, int] = {"JobCreated": 2}


def type_name(event: Event) -> str:
    """The stored ``type`` of an event (its class name, which is also its msgspec tag)."""
    return type(event).__name__


def schema_version(type_: str) -> int:
    return SCHEMA_VERSIONS.get(type_, 1)
