"""Provider delivery ids (never a body hash) and header masking."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.webhooks import VerificationScheme
from runner.webhooks.dedupe import (
    MAX_ID_LENGTH,
    DeliveryId,
    DeliveryIdRefused,
    dedupe_key,
    is_sensitive_header,
    mask_headers,
    provider_delivery_id,
)

STRIPE_BODY = json.dumps({"id": "evt_1Nabc", "object": "event", "type": "charge.succeeded"})


def test_standard_webhook_id() -> None:
    got = provider_delivery_id({"Webhook-Id": "msg_1"}, b"{}", "standard_webhooks")
    assert got == DeliveryId(source="webhook-id", value="msg_1")


def test_github_delivery() -> None:
    headers = {"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-GitHub-Event": "x"}
    got = provider_delivery_id(headers, b"{}", "github")
    assert got == DeliveryId("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")


def test_stripe_event_id() -> None:
    got = provider_delivery_id({"Stripe-Signature": "t=1,v1=x"}, STRIPE_BODY.encode(), "stripe")
    assert got == DeliveryId("stripe-event", "evt_1Nabc")
    # Detected by the header even when the endpoint uses another scheme.
    got = provider_delivery_id({"Stripe-Signature": "t=1"}, STRIPE_BODY.encode(), "url_token")
    assert got == DeliveryId("stripe-event", "evt_1Nabc")


def test_stripe_body_must_parse() -> None:
    for body in (b"not json", b'["evt_1"]', b'{"id": 5}', b'{"id": ""}', b"", b'{"id": "evt'):
        assert provider_delivery_id({}, body, "stripe") is None, body
    headers = {"Idempotency-Key": "k-1"}
    assert provider_delivery_id(headers, b"not json", "stripe") == DeliveryId(
        "idempotency-key", "k-1"
    )


def test_body_id_ignored_outside_stripe() -> None:
    body = b'{"id": "order-17"}'  # an entity id, not a delivery id
    for scheme in ("url_token", "github", "standard_webhooks", None):
        assert provider_delivery_id({}, body, scheme) is None


def test_idempotency_key_and_fallbacks() -> None:
    assert provider_delivery_id({"idempotency-key": " abc "}, b"", "url_token") == DeliveryId(
        "idempotency-key", "abc"
    )
    # A url-token endpoint fed by a Standard Webhooks sender still dedupes on webhook-id.
    both = {"webhook-id": "msg_9", "Idempotency-Key": "k"}
    assert provider_delivery_id(both, b"", "url_token") == DeliveryId("webhook-id", "msg_9")
    assert provider_delivery_id({"X-GitHub-Delivery": "g"}, b"", None) == DeliveryId(
        "x-github-delivery", "g"
    )


def test_scheme_id_wins() -> None:
    headers = {"webhook-id": "w", "X-GitHub-Delivery": "g"}
    assert provider_delivery_id(headers, b"", "github") == DeliveryId("x-github-delivery", "g")
    assert provider_delivery_id(headers, b"", "standard_webhooks") == DeliveryId("webhook-id", "w")


def test_absent_or_unusable() -> None:
    assert provider_delivery_id({}, b'{"a": 1}', "url_token") is None
    assert provider_delivery_id({"webhook-id": "   "}, b"", "standard_webhooks") is None


def test_long_and_odd_ids_are_hashed_and_absurd_ones_refused() -> None:
    """Regression: an id over the old 512-character limit silently disabled deduplication."""
    long_id = provider_delivery_id({"webhook-id": "x" * 600}, b"", "standard_webhooks")
    assert long_id == DeliveryId("webhook-id", "x" * 600)
    assert len(dedupe_key("wh1", long_id)) == len("wh1:") + 32
    odd = provider_delivery_id({"webhook-id": "a\x01b"}, b"", "standard_webhooks")
    assert odd is not None and dedupe_key("wh1", odd) == dedupe_key("wh1", odd)
    edge = "y" * MAX_ID_LENGTH
    assert provider_delivery_id({"X-GitHub-Delivery": edge}, b"", "github") is not None
    cases: list[tuple[dict[str, str], bytes, VerificationScheme]] = [
        ({"webhook-id": "x" * (MAX_ID_LENGTH + 1)}, b"", "standard_webhooks"),
        ({"X-GitHub-Delivery": "g" * 5000}, b"", "github"),
        ({"Idempotency-Key": "k" * 2000}, b"", "url_token"),
        ({}, json.dumps({"id": "evt_" + "e" * 2000}).encode(), "stripe"),
    ]
    for headers, body, scheme in cases:
        with pytest.raises(DeliveryIdRefused) as err:
            provider_delivery_id(headers, body, scheme)
        assert str(MAX_ID_LENGTH) in str(err.value)


def test_same_body_different_ids_are_different_deliveries() -> None:
    body = b'{"same": true}'
    a = provider_delivery_id({"webhook-id": "a"}, body, "standard_webhooks")
    b = provider_delivery_id({"webhook-id": "b"}, body, "standard_webhooks")
    assert a is not None and b is not None
    assert dedupe_key("wh1", a) != dedupe_key("wh1", b)


def test_dedupe_key() -> None:
    d = DeliveryId("webhook-id", "msg_1")
    key = dedupe_key("wh1", d)
    assert key == dedupe_key("wh1", DeliveryId("webhook-id", "msg_1"))
    assert key.startswith("wh1:") and len(key) == len("wh1:") + 32
    assert key != dedupe_key("wh2", d)
    assert key != dedupe_key("wh1", DeliveryId("idempotency-key", "msg_1"))
    # No provider id: a fresh key every time (never a duplicate).
    assert dedupe_key("wh1", None) != dedupe_key("wh1", None)


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=40)), st.binary(max_size=100))
def test_delivery_id_never_raises(headers: dict[str, str], body: bytes) -> None:
    for scheme in ("url_token", "standard_webhooks", "github", "stripe", None):
        try:
            got = provider_delivery_id(headers, body, scheme)
        except DeliveryIdRefused:
            continue
        assert got is None or (got.value and len(got.value) <= MAX_ID_LENGTH)


def test_mask_headers() -> None:
    headers = {
        "Authorization": "Bearer sk-live-0123456789abcdef",
        "Cookie": "session=abcdefghijklmnop",
        "X-Hub-Signature-256": "sha256=" + "ab" * 32,
        "Stripe-Signature": "t=1,v1=" + "cd" * 32,
        "webhook-signature": "v1,c2lnbmF0dXJlc2lnbmF0dXJl",
        "X-Api-Key": "key-0123456789abcdef",
        "X-Gitlab-Token": "glpat-0123456789",
        "X-Custom-Secret": "s3cr3t-s3cr3t",
        "Content-Type": "application/json",
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": "72d3162e",
        "Idempotency-Key": "idem-1",
        "User-Agent": "GitHub-Hookshot/abc",
    }
    masked = mask_headers(headers)
    for name in (
        "authorization",
        "cookie",
        "x-hub-signature-256",
        "stripe-signature",
        "webhook-signature",
        "x-api-key",
        "x-gitlab-token",
        "x-custom-secret",
    ):
        assert masked[name].startswith("****"), name
        assert len(masked[name]) <= 8
    for original, value in headers.items():
        lowered = original.lower()
        if is_sensitive_header(lowered):
            assert value not in masked[lowered]
            assert value[:-4] not in masked[lowered] or len(value) <= 4
    assert masked["content-type"] == "application/json"
    assert masked["x-github-event"] == "issues"
    assert masked["idempotency-key"] == "idem-1"
    assert masked["user-agent"] == "GitHub-Hookshot/abc"


def test_mask_headers_repeated_and_pairs() -> None:
    masked = mask_headers([("Accept", "a"), ("accept", "b"), ("Set-Cookie", "x=1234567890123")])
    assert masked == {"accept": "a, b", "set-cookie": "****0123"}
