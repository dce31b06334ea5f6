"""Console users: argon2 passwords, sign-in with back-off after repeated failures, server-side sessions."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection

from fapiaohub.console import repository

ROLES = ("admin", "viewer")
FREE_ATTEMPTS = 5  # failed sign-ins before the account is locked
LOCK_BASE = timedelta(minutes=1)  # first lock; doubles with every further failure, up to LOCK_MAX
LOCK_MAX = timedelta(hours=1)
SESSION_SECONDS = 8 * 60 * 60  # a working day; signing in again is cheap
MIN_PASSWORD = 10

# argon2id with the library's defaults (RFC 9106 low-memory profile: 64 MiB, 3 passes)
_hasher = PasswordHasher()
# verified against when the user does not exist, so that timing does not reveal which names exist
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def new_password() -> str:
    """A one-time password to print: 16 URL-safe characters (about 96 bits)."""
    return secrets.token_urlsafe(12)


def check_password_rules(password: str) -> str | None:
    """Why a chosen password is refused, or None."""
    if len(password) < MIN_PASSWORD:
        return f"密码至少{MIN_PASSWORD}个字符 (password must be at least {MIN_PASSWORD} characters)"
    return None


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """The signed-in user; ``corp_id`` scopes everything the console shows."""

    id: int
    corp_id: str
    name: str
    role: str
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True, slots=True)
class SignIn:
    user_id: int | None = None
    error: str = ""



def lock_for(attempts: int) -> timedelta | None:
    """How long the account is locked after ``attempts`` consecutive failures."""
    if attempts < FREE_ATTEMPTS:
        return None
    return min(LOCK_BASE * (2 ** (attempts - FREE_ATTEMPTS)), LOCK_MAX)


def authenticate(conn: Connection, corp_id: str, name: str, password: str,
                 now: datetime | None = None) -> SignIn:
    """Check a sign-in; counts failures and locks the account after FREE_ATTEMPTS of them.
    The messages do not say whether the name exists."""
    now = now or datetime.now(UTC)
    wrong = SignIn(error="用户名或密码错误")
    user = repository.find_user(conn, corp_id, name) if corp_id else None
    if user is None:
        _burn(password)
        return wrong
    locked_until = user.locked_until
    if locked_until is not None and locked_until > now:
        minutes = max(1, int((locked_until - now).total_seconds() // 60) + 1)
        return SignIn(error=f"登录失败次数过多，账户已锁定，请{minutes}分钟后再试")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        attempts = user.failed_attempts + 1
        lock = lock_for(attempts)
        repository.record_failure(conn, user.id, attempts, now + lock if lock else None)
        if lock:
            return SignIn(error=f"登录失败次数过多，账户已锁定，请{int(lock.total_seconds() // 60)}分钟后再试")
        return wrong
    if user.disabled:
        return SignIn(error="该用户已停用")
    rehashed = hash_password(password) if _hasher.check_needs_rehash(user.password_hash) else None
    repository.record_success(conn, user.id, rehashed)
    return SignIn(user_id=user.id)


def _burn(password: str) -> None:
    try:
        _hasher.verify(_DUMMY_HASH, password)
    except VerificationError:
        pass


def ensure_user(conn: Connection, corp_id: str, name: str, password: str, role: str) -> bool:
    """Create the user unless one of that name exists (the demo's fixed user); True when created."""
    if repository.find_user(conn, corp_id, name) is not None:
        return False
    repository.add_user(conn, corp_id, name, hash_password(password), role)
    return True


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(conn: Connection, user_id: int) -> str:
    """A new session; returns the cookie value (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = int(time.time())
    repository.delete_expired_sessions(conn, now)
    repository.create_session(conn, token_hash(token), user_id, secrets.token_urlsafe(32), now + SESSION_SECONDS)
    return token


def session_user(conn: Connection, token: str) -> ConsoleUser | None:
    row = repository.session_user(conn, token_hash(token), int(time.time()))
    if row is None:
        return None
    return ConsoleUser(row.id, row.corp_id, row.name, row.role, row.csrf_token)


def end_session(conn: Connection, token: str) -> None:
    repository.delete_session(conn, token_hash(token))
