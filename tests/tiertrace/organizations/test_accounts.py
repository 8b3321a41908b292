"""People's accounts: invitations, argon2 passwords, throttling (tiertrace.organizations.accounts)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tiertrace.db import utcnow
from tiertrace.errors import AuthenticationError, ConflictError, NotFoundError, RuleViolationError
from tiertrace.organizations import accounts
from tiertrace.organizations.accounts import (
    FAILURE_WINDOW,
    INVITE_TTL,
    MAX_FAILED_LOGINS,
    accept_invite,
    authenticate_user,
    change_password,
    create_user,
    credential_version,
    reissue_invite,
)
from tiertrace.organizations.models import LoginFailure
from tiertrace.organizations.services import create_organization

PASSWORD = "correct horse battery staple"


@pytest.fixture
def organization(session):
    organization, _token = create_organization(
        session, slug="lumen", name="Lumen", country="DE", kind="company"
    )
    return organization


def test_an_account_is_created_with_a_one_time_invitation_and_no_password(session, organization):
    invitation = create_user(session, organization, "  Anna@Lumen.Example ")
    assert invitation.user.email == "anna@lumen.example"
    assert invitation.user.password_hash is None
    assert invitation.token not in (invitation.user.invite_hash or "")  # only a hash is stored
    with pytest.raises(AuthenticationError):
        authenticate_user(session, "anna@lumen.example", PASSWORD, address=A)


def test_an_address_is_taken_once_and_must_be_an_address(session, organization):
    create_user(session, organization, "anna@lumen.example")
    with pytest.raises(ConflictError):
        create_user(session, organization, "ANNA@lumen.example")
    with pytest.raises(RuleViolationError) as error:
        create_user(session, organization, "not an address")
    assert "email" in error.value.details


def test_accepting_the_invitation_sets_an_argon2id_hash_and_uses_the_link_up(session, organization):
    invitation = create_user(session, organization, "anna@lumen.example")
    user = accept_invite(session, invitation.token, PASSWORD)
    assert user.password_hash.startswith("$argon2id$")
    assert authenticate_user(session, "ANNA@lumen.example", PASSWORD, address=A).id == user.id
    with pytest.raises(NotFoundError):
        accept_invite(session, invitation.token, PASSWORD)


def test_a_short_password_is_refused_and_the_link_still_works(session, organization):
    invitation = create_user(session, organization, "anna@lumen.example")
    with pytest.raises(RuleViolationError) as error:
        accept_invite(session, invitation.token, "short")
    assert error.value.details == {"password": "at least 12 characters"}
    accept_invite(session, invitation.token, PASSWORD)


def test_an_invitation_expires(session, organization):
    issued = utcnow() - INVITE_TTL - timedelta(minutes=1)
    invitation = create_user(session, organization, "anna@lumen.example", now=issued)
    with pytest.raises(NotFoundError, match="expired"):
        accept_invite(session, invitation.token, PASSWORD)
    assert accept_invite(session, invitation.token, PASSWORD, now=issued + timedelta(days=1))


def test_a_tampered_invitation_time_does_not_match(session, organization):
    invitation = create_user(session, organization, "anna@lumen.example")
    stamp, rest = invitation.token[1:].split("_", 1)
    with pytest.raises(NotFoundError):
        accept_invite(session, f"i{int(stamp, 36) + 1:x}_{rest}", PASSWORD)


def test_a_reissued_invitation_replaces_the_old_link(session, organization):
    first = create_user(session, organization, "anna@lumen.example")
    second = reissue_invite(session, "anna@lumen.example")
    with pytest.raises(NotFoundError):
        accept_invite(session, first.token, PASSWORD)
    accept_invite(session, second.token, PASSWORD)
    with pytest.raises(NotFoundError):
        reissue_invite(session, "nobody@lumen.example")


A, B = "203.0.113.7", "198.51.100.2"


@pytest.fixture
def anna(session, organization):
    return accept_invite(session, create_user(session, organization, "anna@lumen.example").token, PASSWORD)


def fail(session, address, times, *, now=None, email="anna@lumen.example"):
    for attempt in range(times):
        with pytest.raises(AuthenticationError):
            authenticate_user(session, email, f"guess {attempt}", address=address, now=now)


def logs_in(session, address, *, now=None) -> bool:
    try:
        authenticate_user(session, "anna@lumen.example", PASSWORD, address=address, now=now)
    except AuthenticationError:
        return False
    return True


def counted(session, user, address=None) -> int:
    """The failures that count toward `user`'s account (from `address`, or from all)."""
    query = select(func.count()).where(LoginFailure.user_id == user.id)
    if address is not None:
        query = query.where(LoginFailure.address == address)
    return session.scalar(query)


def test_failures_from_one_address_lock_it_out_of_the_account_while_the_owner_elsewhere_logs_in(
    session, anna
):
    """Before: they locked the account itself, so a stranger could keep its owner out."""
    fail(session, A, MAX_FAILED_LOGINS)

    assert not logs_in(session, A)  # even the right password
    assert logs_in(session, B)
    assert counted(session, anna, A) == MAX_FAILED_LOGINS and counted(session, anna, B) == 0


def test_failures_spread_over_many_addresses_lock_the_account_for_every_address(session, anna, monkeypatch):
    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS_PER_ACCOUNT", 8)  # 100 in the portal: kept fast here
    for number in range(4):
        fail(session, f"192.0.2.{number}", 2)

    assert not logs_in(session, B)
    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS_PER_ACCOUNT", 9)
    assert logs_in(session, B)


def test_a_refused_attempt_does_not_count_toward_the_account(session, anna, monkeypatch):
    """So one address adds at most MAX_FAILED_LOGINS to the account's count: locking everyone out takes
    MAX_FAILED_LOGINS_PER_ACCOUNT / MAX_FAILED_LOGINS addresses."""
    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS_PER_ACCOUNT", MAX_FAILED_LOGINS + 1)
    fail(session, A, MAX_FAILED_LOGINS + 3)

    assert counted(session, anna) == MAX_FAILED_LOGINS
    assert session.scalar(select(func.count()).where(LoginFailure.address == A)) == MAX_FAILED_LOGINS + 3
    assert logs_in(session, B)


def test_a_success_from_an_address_clears_its_failures_at_the_account_and_no_other(session, anna):
    fail(session, A, MAX_FAILED_LOGINS - 1)
    fail(session, B, MAX_FAILED_LOGINS - 1)

    assert logs_in(session, A)
    fail(session, A, MAX_FAILED_LOGINS - 1)
    assert logs_in(session, A)
    fail(session, B, 1)
    assert not logs_in(session, B)
    # Cleared failures still count toward their address's own limit.
    assert session.scalar(select(func.count()).where(LoginFailure.address == A)) == 2 * (
        MAX_FAILED_LOGINS - 1
    )


def test_the_lock_out_ends_as_the_failures_leave_the_window(session, anna):
    start = utcnow()
    for minute in range(MAX_FAILED_LOGINS):
        fail(session, A, 1, now=start + timedelta(minutes=minute))

    assert not logs_in(session, A, now=start + FAILURE_WINDOW - timedelta(seconds=1))
    # The first failure has left the window: one more guess, then the address waits for the second.
    fail(session, A, 1, now=start + FAILURE_WINDOW + timedelta(seconds=1))
    assert not logs_in(session, A, now=start + FAILURE_WINDOW + timedelta(minutes=1, seconds=-1))
    assert logs_in(session, A, now=start + FAILURE_WINDOW + timedelta(minutes=1))


def test_failures_older_than_the_window_are_forgotten(session, anna):
    start = utcnow()
    fail(session, A, MAX_FAILED_LOGINS, now=start)

    fail(session, B, 1, now=start + FAILURE_WINDOW)

    assert session.scalars(select(LoginFailure.address)).all() == [B]


def test_a_new_password_from_an_invitation_clears_the_accounts_failures(session, anna, monkeypatch):
    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS_PER_ACCOUNT", MAX_FAILED_LOGINS + 1)
    fail(session, A, MAX_FAILED_LOGINS)
    fail(session, B, 1)
    assert not logs_in(session, B)

    invitation = reissue_invite(session, "anna@lumen.example")
    assert not logs_in(session, B)  # the current password works, but the lock stays until the link is used
    accept_invite(session, invitation.token, PASSWORD)

    assert logs_in(session, A) and logs_in(session, B)
    assert counted(session, anna) == 0


def test_a_refused_login_takes_the_argon2_work_of_any_other(session, anna, monkeypatch):
    """Or its speed would tell that the email has an account (only an account can be locked)."""
    fail(session, A, MAX_FAILED_LOGINS)
    verified = []
    monkeypatch.setattr(accounts, "_HASHER", Spy(accounts._HASHER, verified))

    for email in ("anna@lumen.example", "nobody@lumen.example"):
        fail(session, A, 1, email=email)

    assert len(verified) == 2


class Spy:
    """`hasher`, noting each hash it verifies against."""

    def __init__(self, hasher, verified):
        self.hasher, self.verified = hasher, verified

    def verify(self, password_hash, password):
        self.verified.append(password_hash)
        return self.hasher.verify(password_hash, password)


def test_every_login_failure_says_the_same(session, organization, anna, monkeypatch):
    create_user(session, organization, "invited@lumen.example")
    messages = set()

    def refused(email, password, address=A):
        with pytest.raises(AuthenticationError) as error:
            authenticate_user(session, email, password, address=address)
        messages.add(error.value.message)

    refused("anna@lumen.example", "wrong")
    refused("nobody@lumen.example", PASSWORD)
    refused("invited@lumen.example", PASSWORD)
    refused("anna@lumen.example", "x" * 5000)
    fail(session, A, MAX_FAILED_LOGINS)
    refused("anna@lumen.example", PASSWORD)  # this address is locked out of the account
    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS_PER_ACCOUNT", MAX_FAILED_LOGINS)
    refused("anna@lumen.example", PASSWORD, address=B)  # the account is locked
    assert messages == {
        "the email address or the password is wrong, or the account is locked after too many failed "
        "attempts (wait 15 minutes)"
    }


def test_a_new_password_changes_the_credential_version(session, organization):
    user = accept_invite(session, create_user(session, organization, "anna@lumen.example").token, PASSWORD)
    before = credential_version(user)
    with pytest.raises(RuleViolationError) as error:
        change_password(session, user, "wrong", "another long passphrase", address=A)
    assert "current_password" in error.value.details
    change_password(session, user, PASSWORD, "another long passphrase", address=A)
    assert credential_version(user) != before
    assert (
        authenticate_user(session, "anna@lumen.example", "another long passphrase", address=A).id == user.id
    )


NEW = "another long passphrase"


def test_wrong_current_passwords_count_toward_the_login_limits(session, anna):
    """Before: they counted toward none, so a signed-in session could guess the password without bound."""
    for attempt in range(MAX_FAILED_LOGINS):
        with pytest.raises(RuleViolationError) as error:
            change_password(session, anna, f"guess {attempt}", NEW, address=A)
        assert error.value.details == {"current_password": "wrong password"}

    with pytest.raises(AuthenticationError) as error:
        change_password(session, anna, PASSWORD, NEW, address=A)  # even the right one
    assert error.value.code == "account_locked"
    assert 0 < error.value.details["retry_after"] <= FAILURE_WINDOW.total_seconds()
    assert error.value.message == (
        "Too many wrong passwords were tried for this account. Wait 15 minutes and try again."
    )
    assert counted(session, anna, A) == MAX_FAILED_LOGINS
    assert not logs_in(session, A)  # the login's own limit: the password is unchanged
    assert logs_in(session, B)


def test_wrong_current_passwords_make_the_address_wait(session, anna, monkeypatch):
    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS_PER_ADDRESS", 2)
    for attempt in range(2):
        with pytest.raises(RuleViolationError):
            change_password(session, anna, f"guess {attempt}", NEW, address=A)

    with pytest.raises(AuthenticationError) as error:
        change_password(session, anna, PASSWORD, NEW, address=A)
    assert error.value.code == "address_wait"
    assert 0 < error.value.details["retry_after"] <= FAILURE_WINDOW.total_seconds()
    with pytest.raises(AuthenticationError) as error:
        authenticate_user(session, "anna@lumen.example", PASSWORD, address=A)
    assert error.value.code == "address_wait" and error.value.message == (
        "There were too many failed sign-ins from your network. Wait 15 minutes and try again."
    )


def test_the_right_current_password_clears_the_failures_from_its_address(session, anna):
    fail(session, A, MAX_FAILED_LOGINS - 1)

    change_password(session, anna, PASSWORD, NEW, address=A)

    assert counted(session, anna) == 0
    assert session.scalar(select(func.count()).where(LoginFailure.address == A)) == MAX_FAILED_LOGINS - 1


def test_a_refused_new_password_counts_no_attempt(session, anna):
    with pytest.raises(RuleViolationError) as error:
        change_password(session, anna, "a guess", "short", address=A)
    assert error.value.details == {"new_password": "at least 12 characters"}
    assert session.scalar(select(func.count()).select_from(LoginFailure)) == 0


def test_a_waiting_address_is_told_how_long(session, anna, monkeypatch):
    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS_PER_ADDRESS", 2)
    start = utcnow()
    fail(session, A, 1, now=start)
    fail(session, A, 1, now=start + timedelta(minutes=1))

    with pytest.raises(AuthenticationError) as error:
        authenticate_user(
            session,
            "anna@lumen.example",
            PASSWORD,
            address=A,
            now=start + FAILURE_WINDOW - timedelta(seconds=30),
        )
    assert error.value.details == {"retry_after": 30}  # until the older failure is out of the window
    assert error.value.message.endswith("Wait 1 minute and try again.")
