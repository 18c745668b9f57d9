"""Access commands: the admin account (argon2 hash) and API tokens (stored as SHA-256 hashes).

Clear-text passwords and tokens never enter an event: the admin password is hashed with argon2id
and a token is shown once, at creation, then only its hash is kept.
"""

from __future__ import annotations

import secrets
import time

import anyio
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from events.backend import Backend
from events.envelope import Meta
from events.errors import ConcurrencyError
from events.ids import new_id
from events.sessions import SessionEnded, SessionStarted
from events.system import AdminCreated, AdminPasswordChanged, ApiTokenCreated, ApiTokenRevoked
from projections.access import AdminView, ApiTokenView
from projections.queries import access as access_queries
from projections.queries import by_key
from projections.read import decode_row
from projections.sessions import SessionView
from runner.errors import Conflict, InvalidInput, NotFound
from runner.jobs_input import check_display_name
from runner.secrets import hash_token, new_token

ADMIN_USER = "admin"
ADMIN_STREAM = "access-admin"
TOKEN_PREFIX = "crt_"
MAX_TOKEN_NAME = 100
_hasher = PasswordHasher()


class NewToken(msgspec.Struct, frozen=True, kw_only=True):
    """A freshly created API token: ``token`` is the only time the secret is available."""

    token_id: str
    name: str
    token: str


class Access:
    """Admin account and API tokens over the event log."""

    def __init__(self, store: Backend) -> None:
        self.store = store

    async def admin(self, username: str = ADMIN_USER) -> AdminView | None:
        rows = await self.store.fetch(by_key("v_admins"), (username,))
        return decode_row(AdminView, rows[0][0]) if rows else None

    async def ensure_admin(self, password: str | None) -> str | None:
        """Create the admin at first start; returns the generated password (None otherwise).

        With ``password`` given (``RUNNER_ADMIN_PASSWORD``), an existing admin whose password
        differs gets it set, so the environment stays the source of truth.
        """
        current = await self.admin()
        if current is not None:
            if password and not await verify(current.password_hash, password):
                await self.change_password(password)
            return None
        generated = None if password else secrets.token_urlsafe(15)
        clear = password or generated
        assert clear is not None
        digest = await anyio.to_thread.run_sync(_hasher.hash, clear)
        try:
            await self.store.append(
                ADMIN_STREAM,
                [AdminCreated(username=ADMIN_USER, password_hash=digest)],
                expected="no_stream",
                meta=Meta(actor="system"),
            )
        except ConcurrencyError:
            return None  # another process created it first
        return generated

    async def change_password(self, password: str) -> None:
        """Set a new admin password (every other session ends: see ``web.auth``)."""
        if not password:
            raise InvalidInput("the password must not be empty", field="password")
        digest = await anyio.to_thread.run_sync(_hasher.hash, password)
        await self.store.append(
            ADMIN_STREAM,
            [AdminPasswordChanged(username=ADMIN_USER, password_hash=digest)],
            meta=Meta(actor="admin"),
        )

    async def start_session(self, user: str, lifetime_s: float) -> str:
        """A new server-side session for ``user``; returns its id (for the signed cookie only)."""
        sid = new_token(32)
        digest = hash_token(sid)
        expires = int((time.time() + lifetime_s) * 1_000_000)
        await self.store.append(
            f"session-{digest[:32]}",
            [SessionStarted(session_hash=digest, user=user, expires_at_us=expires)],
            expected="no_stream",
            meta=Meta(actor=user),
        )
        return sid

    async def session_user(self, sid: str) -> str | None:
        """The user of a live, unexpired session, else None."""
        if not sid or len(sid) > 200:
            return None
        rows = await self.store.fetch(by_key("v_sessions"), (hash_token(sid),))
        if not rows:
            return None
        row = decode_row(SessionView, rows[0][0])
        if row.ended_at_us is not None or row.expires_at_us < time.time() * 1_000_000:
            return None
        return row.user

    async def end_session(self, sid: str, *, reason: str = "logout") -> None:
        """End one session (logout); unknown or ended sessions are left alone."""
        if await self.session_user(sid) is None:
            return
        digest = hash_token(sid)
        await self.store.append(
            f"session-{digest[:32]}",
            [SessionEnded(session_hash=digest, reason=reason)],
            meta=Meta(actor="admin"),
        )

    async def end_all_sessions(self, *, reason: str = "revoked") -> int:
        """Sign out everywhere: end every live session; returns how many ended."""
        rows = await self.store.fetch(access_queries.LIVE_SESSIONS)
        for (digest,) in rows:
            await self.store.append(
                f"session-{str(digest)[:32]}",
                [SessionEnded(session_hash=str(digest), reason=reason)],
                meta=Meta(actor="admin"),
            )
        return len(rows)

    async def check_login(self, username: str, password: str) -> bool:
        """True when the credentials match (argon2 verify off the event loop)."""
        admin = await self.admin(username) if username else None
        if admin is None:
            # Same cost whether or not the user exists.
            await verify(_DUMMY_HASH, password)
            return False
        return await verify(admin.password_hash, password)

    async def create_token(self, name: str, *, actor: str = "admin") -> NewToken:
        name = name.strip()
        if not name:
            raise InvalidInput("give the token a name (what script uses it)", field="name")
        if len(name) > MAX_TOKEN_NAME:
            raise InvalidInput(f"name is longer than {MAX_TOKEN_NAME} characters", field="name")
        check_display_name(name)
        token_id = new_id("tok")
        token = TOKEN_PREFIX + new_token(32)
        await self.store.append(
            f"token-{token_id}",
            [ApiTokenCreated(token_id=token_id, name=name, token_hash=hash_token(token))],
            expected="no_stream",
            meta=Meta(actor=actor),
        )
        return NewToken(token_id=token_id, name=name, token=token)

    async def tokens(self) -> list[ApiTokenView]:
        rows = await self.store.fetch(access_queries.TOKENS)
        items = [decode_row(ApiTokenView, r[0]) for r in rows]
        return sorted(items, key=lambda t: t.created_at_us, reverse=True)

    async def token(self, token_id: str) -> ApiTokenView:
        rows = await self.store.fetch(by_key("v_api_tokens"), (token_id,))
        if not rows:
            raise NotFound(f"no API token with id {token_id!r}")
        return decode_row(ApiTokenView, rows[0][0])

    async def revoke_token(self, token_id: str, *, actor: str = "admin") -> ApiTokenView:
        tok = await self.token(token_id)
        if tok.revoked_at_us is not None:
            raise Conflict(f"API token {token_id} is already revoked")
        await self.store.append(
            f"token-{token_id}", [ApiTokenRevoked(token_id=token_id)], meta=Meta(actor=actor)
        )
        return await self.token(token_id)

    async def token_user(self, token: str) -> ApiTokenView | None:
        """The live token matching ``token`` (looked up by hash), or None."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        rows = await self.store.fetch(access_queries.TOKEN_BY_HASH, (hash_token(token),))
        if not rows:
            return None
        tok = decode_row(ApiTokenView, rows[0][0])
        return tok if tok.revoked_at_us is None else None


async def verify(digest: str, password: str) -> bool:
    def check() -> bool:
        try:
            return bool(_hasher.verify(digest, password))
        except (VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(check)


_DUMMY_HASH = _hasher.hash("not-a-password-" + secrets.token_hex(8))
