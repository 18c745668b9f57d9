"""Secrets at rest: AES-GCM sealing bound to a context, a rotating keyring, masking, tokens.

A sealed value is ``base64(version || nonce(12) || ciphertext+tag)``; the *context* (for example
``credential_context("mailer", "SMTP_PASSWORD")``) is authenticated as associated data, so a
ciphertext copied to another server, variable or webhook fails to open. The key never enters the
database: it comes from ``RUNNER_SECRET_KEY`` or from ``<data_dir>/secret.key`` (mode 0600).

Key file format: one key per line (base64 or hex of 32 bytes), the first line is the current key,
the following lines are retired keys still accepted by :meth:`SecretBox.open` until every value has
been resealed; lines starting with ``#`` are comments. With ``RUNNER_SECRET_KEY``, retired keys go
in ``RUNNER_SECRET_OLD_KEYS`` (comma or whitespace separated) and the key file is ignored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from events.webhooks import SealedSecret

__all__ = [
    "KEY_ENV",
    "KEY_FILE_NAME",
    "MIN_HINT_LENGTH",
    "OLD_KEYS_ENV",
    "Keyring",
    "SecretBox",
    "SecretDecryptError",
    "SecretError",
    "SecretKeyError",
    "constant_time_equals",
    "credential_context",
    "encode_key",
    "generate_key",
    "hash_token",
    "key_fingerprint",
    "load_keyring",
    "mask",
    "new_token",
    "parse_key",
    "retire_old_keys",
    "rotate_key_file",
    "webhook_context",
]

KEY_ENV = "RUNNER_SECRET_KEY"
OLD_KEYS_ENV = "RUNNER_SECRET_OLD_KEYS"
KEY_FILE_NAME = "secret.key"
KEY_BYTES = 32
NONCE_BYTES = 12
MIN_HINT_LENGTH = 12
"""Values shorter than this never show any character (neither as a hint nor when masked)."""

_FORMAT_V1 = b"\x01"
_AAD_PREFIX = b"claude-runner/secret/v1\x00"
_MASK = "****"


class SecretError(Exception):
    """Base class of every error this module raises."""


class SecretKeyError(SecretError):
    """The secret key is missing, malformed, or its file is unsafe. The message says what to do."""


class SecretDecryptError(SecretError):
    """A sealed value could not be opened: unknown key, wrong context, or tampered ciphertext."""


# --- keys ----------------------------------------------------------------------------------------


def generate_key() -> bytes:
    """Return a fresh random 256-bit key."""
    return AESGCM.generate_key(bit_length=256)


def encode_key(key: bytes) -> str:
    """The text form of a key (standard base64), as written to the key file or the environment."""
    return base64.b64encode(key).decode("ascii")


def key_fingerprint(key: bytes) -> str:
    """A short, non-secret id of a key: 12 hex characters of a domain-separated SHA-256."""
    return hashlib.sha256(b"claude-runner/key-id\x00" + key).hexdigest()[:12]


def parse_key(text: str, *, source: str = KEY_ENV) -> bytes:
    """Decode a 32-byte key given as 64 hex characters or (url-safe) base64.

    Raises :class:`SecretKeyError` naming *source* (never echoing the value) otherwise.
    """
    value = text.strip()
    candidates: list[bytes] = []
    if len(value) == 2 * KEY_BYTES:
        try:
            candidates.append(bytes.fromhex(value))
        except ValueError:
            pass
    padded = value + "=" * (-len(value) % 4)
    try:
        standard = padded.replace("-", "+").replace("_", "/").encode("ascii")
        candidates.append(base64.b64decode(standard, validate=True))
    except (ValueError, binascii.Error):
        pass
    for key in candidates:
        if len(key) == KEY_BYTES:
            return key
    raise SecretKeyError(
        f"{source} must be a 32-byte key encoded as base64 (44 characters) or hex "
        f"(64 characters); generate one with: "
        f'python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"'
    )


class Keyring:
    """The current key plus retired keys that can still open values sealed under them."""

    def __init__(self, current: bytes, old: Iterable[bytes] = ()) -> None:
        keys = [current, *old]
        for key in keys:
            if len(key) != KEY_BYTES:
                raise SecretKeyError(f"an AES-256 key must be {KEY_BYTES} bytes, got {len(key)}")
        self._current_id = key_fingerprint(current)
        self._keys: dict[str, bytes] = {}
        for key in keys:
            self._keys.setdefault(key_fingerprint(key), key)

    @property
    def current_id(self) -> str:
        """Fingerprint of the key new values are sealed with."""
        return self._current_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Fingerprints of all known keys, the current one first."""
        return tuple(self._keys)

    @property
    def old_ids(self) -> tuple[str, ...]:
        """Fingerprints of the retired keys."""
        return tuple(k for k in self._keys if k != self._current_id)

    def current_key(self) -> bytes:
        """The current key's bytes."""
        return self._keys[self._current_id]

    def get(self, key_id: str) -> bytes | None:
        """The key with fingerprint *key_id*, or None when it is not (or no longer) known."""
        return self._keys.get(key_id)

    def __repr__(self) -> str:  # never show key material
        return f"Keyring(current={self._current_id!r}, old={list(self.old_ids)!r})"


# --- contexts ------------------------------------------------------------------------------------


def credential_context(server: str, variable: str) -> str:
    """The associated-data context of a tool-server credential."""
    return json.dumps(["credential", server, variable], separators=(",", ":"))


def webhook_context(webhook_id: str) -> str:
    """The associated-data context of a webhook's verification secret."""
    return json.dumps(["webhook", webhook_id], separators=(",", ":"))


# --- the box -------------------------------------------------------------------------------------


def _aad(context: str) -> bytes:
    return _AAD_PREFIX + context.encode("utf-8", "surrogatepass")


class SecretBox:
    """Seals and opens secrets with AES-GCM under a :class:`Keyring`."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    @classmethod
    def from_key(cls, key: bytes, old_keys: Iterable[bytes] = ()) -> SecretBox:
        """A box over an explicit key (tests, tools)."""
        return cls(Keyring(key, old_keys))

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    @property
    def key_id(self) -> str:
        """Fingerprint of the current key."""
        return self._keyring.current_id

    def seal(self, plaintext: str, *, context: str, show_hint: bool = False) -> SealedSecret:
        """Encrypt *plaintext* bound to *context* under the current key.

        ``hint`` holds the last 4 characters only when *show_hint* is true and the value has at
        least :data:`MIN_HINT_LENGTH` characters; otherwise it is empty.
        """
        nonce = secrets.token_bytes(NONCE_BYTES)
        data = plaintext.encode("utf-8", "surrogatepass")
        ct = AESGCM(self._keyring.current_key()).encrypt(nonce, data, _aad(context))
        blob = base64.b64encode(_FORMAT_V1 + nonce + ct).decode("ascii")
        hint = plaintext[-4:] if show_hint and len(plaintext) >= MIN_HINT_LENGTH else ""
        return SealedSecret(ciphertext=blob, key_id=self._keyring.current_id, hint=hint)

    def open(self, sealed: SealedSecret, *, context: str) -> str:
        """Decrypt *sealed*; raises :class:`SecretDecryptError` on unknown key, wrong context or
        any tampering (the message never contains secret material)."""
        key = self._keyring.get(sealed.key_id)
        if key is None:
            raise SecretDecryptError(
                f"secret sealed with unknown key {sealed.key_id!r}; known keys: "
                f"{', '.join(self._keyring.key_ids)} (add the old key to the keyring)"
            )
        try:
            raw = base64.b64decode(sealed.ciphertext.encode("ascii"), validate=True)
        except (ValueError, binascii.Error, UnicodeEncodeError):
            raise SecretDecryptError("sealed secret is not valid base64") from None
        if len(raw) < 1 + NONCE_BYTES + 16 or raw[:1] != _FORMAT_V1:
            raise SecretDecryptError("sealed secret has an unknown format")
        nonce, ct = raw[1 : 1 + NONCE_BYTES], raw[1 + NONCE_BYTES :]
        try:
            data = AESGCM(key).decrypt(nonce, ct, _aad(context))
        except InvalidTag:
            raise SecretDecryptError(
                "secret failed authentication (wrong context, wrong key or tampered)"
            ) from None
        return data.decode("utf-8", "surrogatepass")

    def needs_reseal(self, sealed: SealedSecret) -> bool:
        """True when *sealed* is not under the current key."""
        return sealed.key_id != self._keyring.current_id

    def reseal(self, sealed: SealedSecret, context: str) -> SealedSecret:
        """Re-encrypt *sealed* under the current key (fresh nonce), keeping its hint."""
        plaintext = self.open(sealed, context=context)
        fresh = self.seal(plaintext, context=context)
        return SealedSecret(ciphertext=fresh.ciphertext, key_id=fresh.key_id, hint=sealed.hint)


# --- key loading ---------------------------------------------------------------------------------


def _check_file_mode(path: Path) -> None:
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        raise SecretKeyError(f"secret key file {path} is not a regular file")
    loose = stat.S_IMODE(st.st_mode) & 0o077
    if loose:
        raise SecretKeyError(
            f"secret key file {path} has permissions {stat.S_IMODE(st.st_mode):04o}; it must be "
            f"readable by its owner only. Fix it with: chmod 600 {path}"
        )


def _read_key_file(path: Path) -> Keyring:
    _check_file_mode(path)
    lines = [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    if not lines:
        raise SecretKeyError(f"secret key file {path} holds no key")
    keys = [parse_key(line, source=f"secret key file {path}") for line in lines]
    return Keyring(keys[0], keys[1:])


def _write_key_file(path: Path, keys: Iterable[bytes], *, exclusive: bool) -> None:
    """Write a complete key file under a unique temporary name, then put it in place atomically:
    ``link`` when *exclusive* (fails with FileExistsError if another process won the race, so
    nobody ever reads a half-written file), ``replace`` otherwise."""
    body = (
        "# Claude Runner secret keys: first line current, following lines retired.\n"
        + "".join(encode_key(k) + "\n" for k in keys)
    ).encode("ascii")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)  # independent of the umask
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            os.link(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_keyring(data_dir: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Keyring:
    """The keyring for this process: ``RUNNER_SECRET_KEY`` (+ ``RUNNER_SECRET_OLD_KEYS``) when
    set, else ``<data_dir>/secret.key``, created with mode 0600 at first start.

    Raises :class:`SecretKeyError` for a malformed key or a key file others can read.
    """
    environ = os.environ if env is None else env
    if environ.get(KEY_ENV, "").strip():
        current = parse_key(environ[KEY_ENV], source=KEY_ENV)
        old_text = environ.get(OLD_KEYS_ENV, "").replace(",", " ").split()
        return Keyring(current, [parse_key(t, source=OLD_KEYS_ENV) for t in old_text])
    path = Path(data_dir) / KEY_FILE_NAME
    if not path.exists():
        try:
            _write_key_file(path, [generate_key()], exclusive=True)
        except FileExistsError:
            pass  # another process created it first: use theirs
    return _read_key_file(path)


def rotate_key_file(data_dir: str | os.PathLike[str]) -> Keyring:
    """Put a new current key at the head of ``<data_dir>/secret.key``, keeping every previous key
    as retired, and return the new keyring. Reseal every value, then :func:`retire_old_keys`."""
    path = Path(data_dir) / KEY_FILE_NAME
    old = _read_key_file(path)
    new_key = generate_key()
    keys = [new_key, *(old.get(k) or b"" for k in old.key_ids)]
    _write_key_file(path, keys, exclusive=False)
    return _read_key_file(path)


def retire_old_keys(data_dir: str | os.PathLike[str], *, keep: Iterable[str] = ()) -> Keyring:
    """Drop retired keys from the key file except those whose fingerprint is in *keep*."""
    path = Path(data_dir) / KEY_FILE_NAME
    ring = _read_key_file(path)
    wanted = set(keep)
    keys = [ring.current_key()] + [ring.get(k) or b"" for k in ring.old_ids if k in wanted]
    _write_key_file(path, keys, exclusive=False)
    return _read_key_file(path)


# --- masking and tokens --------------------------------------------------------------------------


def mask(value: str, sensitive: bool = True) -> str:
    """Display form of a value: non-sensitive values unchanged; sensitive ones as ``****`` plus at
    most the last 4 characters, and no character at all below :data:`MIN_HINT_LENGTH`."""
    if not sensitive:
        return value
    if not value:
        return ""
    if len(value) < MIN_HINT_LENGTH:
        return _MASK
    return _MASK + value[-4:]


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    """Compare two secrets in constant time (``hmac.compare_digest`` over UTF-8 bytes)."""
    ab = a.encode("utf-8", "surrogatepass") if isinstance(a, str) else a
    bb = b.encode("utf-8", "surrogatepass") if isinstance(b, str) else b
    return hmac.compare_digest(ab, bb)


def hash_token(token: str) -> str:
    """SHA-256 hex of a high-entropy token, for storage and lookup (not for passwords)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random token of *nbytes* bytes of entropy (at least 16)."""
    if nbytes < 16:
        raise ValueError("a token needs at least 16 bytes (128 bits) of entropy")
    return secrets.token_urlsafe(nbytes)
