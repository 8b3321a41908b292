"""People's accounts for the web portal: invitations, argon2 passwords, login limits, session ends.

People log in, not organisations: a `User` belongs to one organisation and acts for it. The operator
creates an account with a one-time invitation (`create_user`); the invitee sets a password
(`accept_invite`). Nothing here knows about HTTP or cookies; the portal keeps the web session.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.orm import Session

from tiertrace.db import advisory_xact_lock, utcnow
from tiertrace.errors import AuthenticationError, ConflictError, NotFoundError, RuleViolationError
from tiertrace.organizations.models import ApiToken, LoginFailure, Organization, SigningKey, User

#: How long a failed login counts toward the limits below (and is kept). A wrong current password on a
#: password change is a failed login of the account too (`change_password`).
FAILURE_WINDOW = timedelta(minutes=15)
#: Consecutive failed logins at one account from one client address within `FAILURE_WINDOW` after which
#: that address may not log in to that account: a stranger guessing is held up, the owner elsewhere is not.
MAX_FAILED_LOGINS = 5
#: Failed logins at one account from all addresses within `FAILURE_WINDOW` after which nobody may log in
#: to it (guessing spread over many addresses). NIST SP 800-63B 5.2.2 allows at most 100.
MAX_FAILED_LOGINS_PER_ACCOUNT = 100
#: Failed logins from one client address within `FAILURE_WINDOW` after which that address must wait
#: (one address trying one password against many accounts). Enough for an office behind one address.
MAX_FAILED_LOGINS_PER_ADDRESS = 20
#: How long an invitation link stays valid.
INVITE_TTL = timedelta(days=7)
MIN_PASSWORD_LENGTH = 12
#: argon2 hashes whatever it is given; an upper bound keeps a login from being a denial of service.
MAX_PASSWORD_LENGTH = 1024

# argon2id with OWASP's recommended minimum (m=19 MiB, t=2, p=1): about 0.1 s on one core of a small
# server, so a login costs little and a burst of guesses cannot tie up the portal's memory. Stronger
# settings can come later: hashes made with older ones are upgraded at the next successful login.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the email is unknown, so a login takes as long whether the account exists or not.
_DUMMY_HASH = _HASHER.hash("tiertrace: no such account")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_INVITE = re.compile(r"^i([0-9a-z]{1,12})_[A-Za-z0-9_-]{32,}$")


@dataclass(frozen=True)
class Invitation:
    """A new one-time invitation: the user and the token to put in the link (only its hash is stored)."""

    user: User
    token: str
    expires_at: datetime


def normalize_email(email: str) -> str:
    """The stored form of an email address: trimmed and lower-cased (addresses are matched that way)."""
    return email.strip().lower()


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _HASHER.hash(password)


def password_problem(password: str) -> str | None:
    """Why `password` is not acceptable as a new password, or None when it is."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        return f"at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"at most {MAX_PASSWORD_LENGTH} characters"
    if not password.strip():
        return "not only spaces"
    return None


def _new_invitation(user: User, now: datetime) -> Invitation:
    # The issue time is part of the token, and the stored hash covers the whole token, so the time
    # cannot be altered: an invitation expires without a column of its own.
    token = f"i{_base36(int(now.timestamp()))}_{secrets.token_urlsafe(32)}"
    user.invite_hash = hashlib.sha256(token.encode("ascii")).hexdigest()
    return Invitation(user=user, token=token, expires_at=now + INVITE_TTL)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if number == 0:
            return text


def create_user(
    session: Session, organization: Organization, email: str, *, now: datetime | None = None
) -> Invitation:
    """Create an account of `organization` for `email`, with a one-time invitation to set its password.

    Flushes the user. Raises RuleViolationError for an address that is not one ("email" in details),
    ConflictError when an account with that address exists.
    """
    now = now or utcnow()
    address = normalize_email(email) if isinstance(email, str) else ""
    if not _EMAIL.match(address) or len(address) > 254:
        raise RuleViolationError("the email address is not valid", details={"email": "e.g. name@example.org"})
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise ConflictError("an account with this email address exists already", details={"email": address})
    user = User(organization_id=organization.id, email=address, created_at=now)
    invitation = _new_invitation(user, now)
    session.add(user)
    session.flush()
    return invitation


def reissue_invite(session: Session, email: str, *, now: datetime | None = None) -> Invitation:
    """A new one-time invitation for an existing account; the previous link stops working.

    Also the operator's password reset: the current password keeps working until the link is used.
    Flushes. Raises NotFoundError for an unknown address.
    """
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise NotFoundError("no account with this email address")
    invitation = _new_invitation(user, now or utcnow())
    session.flush()
    return invitation


def require_invited_user(session: Session, token: str, *, now: datetime | None = None) -> User:
    """The account a still valid invitation token belongs to. Raises NotFoundError otherwise."""
    now = now or utcnow()
    match = _INVITE.match(token or "")
    user = None
    if match is not None:
        user = session.scalar(
            select(User).where(User.invite_hash == hashlib.sha256(token.encode("ascii")).hexdigest())
        )
    if user is None or match is None:
        raise NotFoundError("this invitation link is unknown or was used already")
    issued_at = datetime.fromtimestamp(int(match.group(1), 36), UTC)
    if now - issued_at > INVITE_TTL:
        raise NotFoundError("this invitation link has expired; ask the operator for a new one")
    return user


def accept_invite(session: Session, token: str, password: str, *, now: datetime | None = None) -> User:
    """Set the account's password from an invitation, which is then used up; returns the user.

    Also stops counting the account's failed logins, which ends any lock-out. Flushes. Raises
    NotFoundError for an unknown, used or expired token, RuleViolationError for an unacceptable password
    ("password" in details).
    """
    user = require_invited_user(session, token, now=now)
    problem = password_problem(password)
    if problem is not None:
        raise RuleViolationError("choose another password", details={"password": problem})
    user.password_hash = hash_password(password)
    user.invite_hash = None
    _clear_failures(session, user)
    session.flush()
    return user


def authenticate_user(
    session: Session, email: str, password: str, *, address: str, now: datetime | None = None
) -> User:
    """The account whose email and password these are, for a login from the client at `address`.

    Refused even with the right password from an address with `MAX_FAILED_LOGINS` failed logins at the
    account within `FAILURE_WINDOW`, and from every address once the account has
    `MAX_FAILED_LOGINS_PER_ACCOUNT`, until so many have left the window that fewer remain: a stranger
    guessing from one address does not keep the owner out. A failure counts toward its address and, when
    it tried the account's password, toward the account; a refused attempt tried none, so it takes
    MAX_FAILED_LOGINS_PER_ACCOUNT / MAX_FAILED_LOGINS (20) addresses to lock everyone out. A success stops
    counting the account's failures from `address`.

    Commits the session, with the attempt counted, before checking the password (`_try_password`); a
    success is flushed, and the caller commits it. Raises AuthenticationError with one message for every
    failure (an unknown email, a wrong password, a refused login, an account without a password yet), so
    the answer tells neither which emails have accounts nor which limit was hit; with code "address_wait"
    and details["retry_after"] (seconds), the password unchecked, when the address must wait.
    """
    now = now or utcnow()
    user = (
        session.scalar(select(User).where(User.email == normalize_email(email)))
        if isinstance(email, str)
        else None
    )
    if not _try_password(session, user, password, address=address, now=now).right:
        raise AuthenticationError(
            "the email address or the password is wrong, or the account is locked after too many "
            f"failed attempts (wait {int(FAILURE_WINDOW.total_seconds() // 60)} minutes)",
            code="login_failed",
        )
    assert user is not None and user.password_hash is not None  # a right password is an account's
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.flush()
    return user


def change_password(
    session: Session, user: User, current: str, new: str, *, address: str, now: datetime | None = None
) -> None:
    """Replace the user's password after checking the current one, for the client at `address`.

    A wrong current password is a failed login of the account from `address` (`authenticate_user`), so
    someone holding a signed-in session cannot guess it without bound; past a limit even the right one is
    refused. A right one is a successful login: it stops counting the address's failures at the account.
    Commits the session, with the attempt counted, before checking the password (`_try_password`), then
    flushes the new one; the caller commits it. Raises RuleViolationError with "new_password" (checked
    first, which counts no attempt) or "current_password" in details; AuthenticationError with
    details["retry_after"] (seconds) when the address must wait (code "address_wait") or is locked out
    of the account (code "account_locked").
    """
    problem = password_problem(new)
    if problem is not None:
        raise RuleViolationError("the password was not changed", details={"new_password": problem})
    attempt = _try_password(session, user, current, address=address, now=now or utcnow())
    if attempt.locked_for:
        raise _wait_error(
            "account_locked", "Too many wrong passwords were tried for this account.", attempt.locked_for
        )
    if not attempt.right:
        raise RuleViolationError(
            "the password was not changed", details={"current_password": "wrong password"}
        )
    user.password_hash = hash_password(new)
    session.flush()


@dataclass(frozen=True)
class _Attempt:
    """What came of one password attempt (`_try_password`)."""

    #: The password is the account's, and the limits let it be tried.
    right: bool
    #: Seconds until the limits let the address try the account's password again; 0 when they do now.
    locked_for: int


def _try_password(
    session: Session, user: User | None, password: object, *, address: str, now: datetime
) -> _Attempt:
    """Check `password` against `user`'s account (None: the email named none) as an attempt from the
    client at `address`, counted toward the limits whatever its outcome.

    Concurrent attempts must not all pass a count one short of a limit, and the password check (argon2,
    about 50 ms) must not hold a lock that makes logins go one at a time, from one office's address or,
    on SQLite, from everywhere. So the limits are counted and the attempt recorded as a failure under a
    lock of the account and of the address, and committed; then the password is checked, with no lock
    and no transaction held; a right one deletes its failure again (flushed: the caller commits; rolled
    back, the attempt stays a failure). Meanwhile a concurrent attempt counts it, as it would once it
    failed. A refused attempt counts toward its address only, and its password is checked all the same
    (against a dummy hash when there is no account's), so that the time taken tells neither which
    emails have accounts nor which attempts are refused. Raises AuthenticationError (code
    "address_wait", details["retry_after"]) when the address must wait, recording nothing and checking
    no password.
    """
    address = address[:64]  # as login_failures keeps it (an IP address has at most 45 characters)
    _lock_limits(session, user, address)
    wait = _wait(session, LoginFailure.address == address, MAX_FAILED_LOGINS_PER_ADDRESS, now)
    if wait:
        session.commit()  # ends the locks
        raise _wait_error("address_wait", "There were too many failed sign-ins from your network.", wait)
    locked_for = 0
    if user is not None:
        at_account = LoginFailure.user_id == user.id
        locked_for = max(
            _wait(session, and_(at_account, LoginFailure.address == address), MAX_FAILED_LOGINS, now),
            _wait(session, at_account, MAX_FAILED_LOGINS_PER_ACCOUNT, now),
        )
    failure = _record_failure(session, address, None if locked_for else user, now)
    password_hash = user.password_hash if user is not None else None
    session.commit()
    right = _verify(password_hash or _DUMMY_HASH, password)
    if user is None or password_hash is None or not right or locked_for:
        return _Attempt(right=False, locked_for=locked_for)
    session.delete(failure)
    _clear_failures(session, user, address=address)
    session.flush()
    return _Attempt(right=True, locked_for=0)


def _lock_limits(session: Session, user: User | None, address: str) -> None:
    """Hold the limits of `user`'s account and of `address` until the transaction ends, so that attempts
    at either count and record one after the other. The locks are taken in ascending order of their
    keys, so two attempts never wait for each other in a cycle. SQLite needs none: its transactions
    begin IMMEDIATE, one writer at a time (tiertrace/db.py)."""
    names = [f"login limits of address {address}"]
    if user is not None:
        names.append(f"login limits of account {user.id}")
    advisory_xact_lock(session, *(_lock_key(name) for name in names))


def _lock_key(name: str) -> int:
    """A PostgreSQL advisory lock key (a signed 64-bit integer) for `name`; a collision only makes two
    names wait for each other."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


def _wait(session: Session, failures: ColumnElement[bool], limit: int, now: datetime) -> int:
    """Seconds until fewer than `limit` of the `failures` are within `FAILURE_WINDOW`; 0 when already."""
    nth_newest = session.scalar(
        select(LoginFailure.failed_at)
        .where(failures, LoginFailure.failed_at > now - FAILURE_WINDOW)
        .order_by(LoginFailure.failed_at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    if nth_newest is None:
        return 0
    return max(1, math.ceil((nth_newest + FAILURE_WINDOW - now).total_seconds()))


def _wait_error(code: str, cause: str, seconds: int) -> AuthenticationError:
    minutes = math.ceil(seconds / 60)
    return AuthenticationError(
        f"{cause} Wait {minutes} minute{'' if minutes == 1 else 's'} and try again.",
        code=code,
        details={"retry_after": seconds},
    )


def _verify(password_hash: str, password: object) -> bool:
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        return False  # no password is that long, and argon2 would hash all of it
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _record_failure(session: Session, address: str, user: User | None, now: datetime) -> LoginFailure:
    """Count a failed login from `address` (at `user`'s account, if given), and forget every failure
    older than the window."""
    session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - FAILURE_WINDOW))
    failure = LoginFailure(address=address, user_id=user.id if user is not None else None, failed_at=now)
    session.add(failure)
    session.flush()
    return failure


def _clear_failures(session: Session, user: User, *, address: str | None = None) -> None:
    """Stop counting the account's failures (those from `address`, or all) toward its limits; they still
    count toward their address's."""
    statement = update(LoginFailure).where(LoginFailure.user_id == user.id).values(user_id=None)
    if address is not None:
        statement = statement.where(LoginFailure.address == address)
    session.execute(statement)


def end_sessions(session: Session, user: User) -> None:
    """End every web session of `user`, on every device (logging out). Flushes."""
    user.session_epoch += 1
    session.flush()


def credential_version(user: User) -> str:
    """A short fingerprint of the user's password hash and session epoch: a web session bound to it ends
    when the password changes or the person logs out."""
    credentials = f"{user.password_hash or ''}\n{user.session_epoch}"
    return hashlib.sha256(credentials.encode("utf-8")).hexdigest()[:16]


def get_user(session: Session, user_id: int) -> User | None:
    """The account with `user_id`, or None."""
    return session.get(User, user_id)


def list_users(session: Session, organization: Organization) -> list[User]:
    """The organisation's accounts, by email."""
    return list(
        session.scalars(select(User).where(User.organization_id == organization.id).order_by(User.email))
    )


def list_tokens(session: Session, organization: Organization) -> list[ApiToken]:
    """The organisation's API tokens (hashes only), newest first, revoked ones included."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.organization_id == organization.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def list_keys(session: Session, organization: Organization) -> list[SigningKey]:
    """The organisation's signing keys, newest first, revoked ones included."""
    return list(
        session.scalars(
            select(SigningKey)
            .where(SigningKey.organization_id == organization.id)
            .order_by(SigningKey.created_at.desc(), SigningKey.keyid)
        )
    )


def list_companies(session: Session) -> list[Organization]:
    """Every registered company (the supplier picker of the declaration editor), by name."""
    return list(
        session.scalars(
            select(Organization).where(Organization.kind == "company").order_by(func.lower(Organization.name))
        )
    )
