"""Secrets at rest: AES-GCM round trips, context binding, tampering, key loading and rotation."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.webhooks import SealedSecret
from runner.secrets import (
    KEY_ENV,
    KEY_FILE_NAME,
    OLD_KEYS_ENV,
    Keyring,
    SecretBox,
    SecretDecryptError,
    SecretKeyError,
    constant_time_equals,
    credential_context,
    encode_key,
    generate_key,
    hash_token,
    key_fingerprint,
    load_keyring,
    mask,
    new_token,
    parse_key,
    retire_old_keys,
    rotate_key_file,
    webhook_context,
)

CTX = credential_context("mailer", "SMTP_PASSWORD")
VALUE = "hunter2-correct-horse-battery"


@pytest.fixture
def box() -> SecretBox:
    return SecretBox.from_key(generate_key())


def test_round_trip(box: SecretBox) -> None:
    sealed = box.seal(VALUE, context=CTX)
    assert box.open(sealed, context=CTX) == VALUE
    assert sealed.key_id == box.key_id == key_fingerprint(box.keyring.current_key())
    assert len(sealed.key_id) == 12


def test_ciphertext_hides_value_and_nonce_is_fresh(box: SecretBox) -> None:
    a = box.seal(VALUE, context=CTX)
    b = box.seal(VALUE, context=CTX)
    assert a.ciphertext != b.ciphertext
    raw = base64.b64decode(a.ciphertext)
    assert VALUE.encode() not in raw
    assert VALUE not in repr(a) and VALUE not in a.ciphertext
    assert len(raw) == 1 + 12 + len(VALUE.encode()) + 16


@settings(max_examples=50, deadline=None)
@given(st.text())
def test_round_trip_any_text(value: str) -> None:
    box = SecretBox.from_key(b"k" * 32)
    assert box.open(box.seal(value, context="c"), context="c") == value


def test_hint_only_when_asked_and_long_enough(box: SecretBox) -> None:
    assert box.seal(VALUE, context=CTX).hint == ""
    assert box.seal(VALUE, context=CTX, show_hint=True).hint == "tery"
    assert box.seal("short", context=CTX, show_hint=True).hint == ""


@pytest.mark.parametrize(
    "other",
    [
        credential_context("mailer", "SMTP_USER"),
        credential_context("poster", "SMTP_PASSWORD"),
        webhook_context("mailer"),
        "",
    ],
)
def test_wrong_context_fails(box: SecretBox, other: str) -> None:
    sealed = box.seal(VALUE, context=CTX)
    with pytest.raises(SecretDecryptError) as info:
        box.open(sealed, context=other)
    assert VALUE not in str(info.value)


def test_contexts_are_unambiguous() -> None:
    assert credential_context("a:b", "c") != credential_context("a", "b:c")
    assert credential_context("a", "b") != webhook_context('a","b')


def test_wrong_key_fails(box: SecretBox) -> None:
    sealed = box.seal(VALUE, context=CTX)
    other = SecretBox.from_key(generate_key())
    with pytest.raises(SecretDecryptError, match="unknown key"):
        other.open(sealed, context=CTX)
    # A forged key_id label pointing at another known key fails authentication too.
    forged = SealedSecret(ciphertext=sealed.ciphertext, key_id=other.key_id)
    with pytest.raises(SecretDecryptError, match="authentication"):
        other.open(forged, context=CTX)


def test_tampering_is_detected(box: SecretBox) -> None:
    sealed = box.seal(VALUE, context=CTX)
    raw = bytearray(base64.b64decode(sealed.ciphertext))
    for index in (1, 13, len(raw) - 1):  # nonce, ciphertext, tag
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        bad = SealedSecret(ciphertext=base64.b64encode(flipped).decode(), key_id=sealed.key_id)
        with pytest.raises(SecretDecryptError):
            box.open(bad, context=CTX)
    for junk in ("", "!!!not base64", base64.b64encode(b"\x02" + bytes(40)).decode()):
        with pytest.raises(SecretDecryptError):
            box.open(SealedSecret(ciphertext=junk, key_id=sealed.key_id), context=CTX)
    truncated = base64.b64encode(bytes(raw[:-1])).decode()
    with pytest.raises(SecretDecryptError):
        box.open(SealedSecret(ciphertext=truncated, key_id=sealed.key_id), context=CTX)


def test_rotation_keyring_and_reseal() -> None:
    old_key, new_key = generate_key(), generate_key()
    old_box = SecretBox.from_key(old_key)
    sealed = old_box.seal(VALUE, context=CTX, show_hint=True)
    box = SecretBox(Keyring(new_key, [old_key]))
    assert box.keyring.key_ids == (key_fingerprint(new_key), key_fingerprint(old_key))
    assert box.keyring.old_ids == (key_fingerprint(old_key),)
    assert box.needs_reseal(sealed)
    assert box.open(sealed, context=CTX) == VALUE
    fresh = box.reseal(sealed, CTX)
    assert fresh.key_id == box.key_id and not box.needs_reseal(fresh)
    assert fresh.hint == sealed.hint == "tery"
    assert SecretBox.from_key(new_key).open(fresh, context=CTX) == VALUE
    with pytest.raises(SecretDecryptError):
        box.reseal(sealed, webhook_context("x"))
    assert encode_key(old_key) not in repr(box.keyring)


def test_keyring_rejects_bad_lengths() -> None:
    with pytest.raises(SecretKeyError):
        Keyring(b"short")
    with pytest.raises(SecretKeyError):
        Keyring(generate_key(), [b"x" * 16])


# --- key loading ---------------------------------------------------------------------------------


def test_key_file_created_0600(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ring = load_keyring(data, env={})
    path = data / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(data, env={}).current_id == ring.current_id  # stable across starts
    sealed = SecretBox(ring).seal(VALUE, context=CTX)
    assert SecretBox(load_keyring(data, env={})).open(sealed, context=CTX) == VALUE


def test_key_file_0600_even_with_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_keyring(tmp_path, env={})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / KEY_FILE_NAME).stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_loose_key_file_refused(tmp_path: Path, mode: int) -> None:
    load_keyring(tmp_path, env={})
    path = tmp_path / KEY_FILE_NAME
    path.chmod(mode)
    with pytest.raises(SecretKeyError, match="chmod 600") as info:
        load_keyring(tmp_path, env={})
    assert f"{mode:04o}" in str(info.value)


def test_stricter_key_file_accepted(tmp_path: Path) -> None:
    load_keyring(tmp_path, env={})
    (tmp_path / KEY_FILE_NAME).chmod(0o400)
    load_keyring(tmp_path, env={})


def test_garbage_key_file_refused(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    path.write_text("# only a comment\n")
    path.chmod(0o600)
    with pytest.raises(SecretKeyError, match="holds no key"):
        load_keyring(tmp_path, env={})
    path.write_text("not-a-key\n")
    with pytest.raises(SecretKeyError, match="32-byte"):
        load_keyring(tmp_path, env={})


def test_env_key_formats(tmp_path: Path) -> None:
    key = bytes(range(32))
    forms = [
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
        key.hex(),
        key.hex().upper(),
        f"  {key.hex()}\n",
    ]
    for form in forms:
        ring = load_keyring(tmp_path, env={KEY_ENV: form})
        assert ring.current_key() == key, form
    assert not (tmp_path / KEY_FILE_NAME).exists()  # the env key wins; no file is created


@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        base64.b64encode(b"x" * 16).decode(),  # 128-bit key
        base64.b64encode(b"x" * 33).decode(),
        "z" * 64,  # 64 chars, not hex, decodes to 48 bytes
        "é" * 44,
    ],
)
def test_env_key_malformed(tmp_path: Path, bad: str) -> None:
    with pytest.raises(SecretKeyError, match=KEY_ENV) as info:
        load_keyring(tmp_path, env={KEY_ENV: bad})
    assert bad not in str(info.value)


def test_env_old_keys(tmp_path: Path) -> None:
    current, old1, old2 = generate_key(), generate_key(), generate_key()
    env = {KEY_ENV: encode_key(current), OLD_KEYS_ENV: f"{encode_key(old1)}, {old2.hex()}"}
    ring = load_keyring(tmp_path, env=env)
    assert ring.current_id == key_fingerprint(current)
    assert set(ring.old_ids) == {key_fingerprint(old1), key_fingerprint(old2)}
    with pytest.raises(SecretKeyError, match=OLD_KEYS_ENV):
        load_keyring(tmp_path, env={KEY_ENV: encode_key(current), OLD_KEYS_ENV: "nope"})


def test_parse_key_direct() -> None:
    assert parse_key(bytes(32).hex()) == bytes(32)


def test_rotate_key_file_then_retire(tmp_path: Path) -> None:
    first = load_keyring(tmp_path, env={})
    sealed = SecretBox(first).seal(VALUE, context=CTX)
    rotated = rotate_key_file(tmp_path)
    path = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert rotated.current_id != first.current_id
    assert rotated.old_ids == (first.current_id,)
    assert load_keyring(tmp_path, env={}).current_id == rotated.current_id
    box = SecretBox(rotated)
    fresh = box.reseal(sealed, CTX)
    assert fresh.key_id == rotated.current_id
    retired = retire_old_keys(tmp_path)
    assert retired.key_ids == (rotated.current_id,)
    box = SecretBox(load_keyring(tmp_path, env={}))
    assert box.open(fresh, context=CTX) == VALUE
    with pytest.raises(SecretDecryptError, match="unknown key"):
        box.open(sealed, context=CTX)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_retire_keeps_requested(tmp_path: Path) -> None:
    first = load_keyring(tmp_path, env={})
    rotate_key_file(tmp_path)
    rotate_key_file(tmp_path)
    kept = retire_old_keys(tmp_path, keep=[first.current_id])
    assert kept.old_ids == (first.current_id,)


# --- masking and tokens --------------------------------------------------------------------------


def test_mask() -> None:
    assert mask("sk-live-abcdefghijkl1234") == "****1234"
    assert mask("short") == "****"
    assert mask("elevenchars") == "****"
    assert mask("") == ""
    assert mask("visible", sensitive=False) == "visible"


@given(st.text(min_size=1))
def test_mask_reveals_at_most_four(value: str) -> None:
    shown = mask(value)
    assert shown.startswith("****")
    assert len(shown) - 4 <= 4
    if len(value) < 12:
        assert shown == "****"


def test_constant_time_equals() -> None:
    assert constant_time_equals("abc", "abc")
    assert constant_time_equals(b"abc", "abc")
    assert not constant_time_equals("abc", "abd")
    assert not constant_time_equals("abc", "ab")
    assert constant_time_equals("é", "é")


def test_tokens() -> None:
    token = new_token()
    assert len(token) >= 43 and set(token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert new_token() != token
    assert hash_token(token) == hash_token(token)
    assert len(hash_token(token)) == 64 and token not in hash_token(token)
    with pytest.raises(ValueError):
        new_token(8)


def test_concurrent_first_start_agrees(tmp_path: Path) -> None:
    """Two processes starting at once end up with the same key (atomic creation)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: load_keyring(tmp_path, env={}).current_id, range(16)))
    assert len(ids) == 1
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE_NAME]
