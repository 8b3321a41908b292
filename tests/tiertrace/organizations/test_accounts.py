"""People's accounts: invitations, argon2 passwords, throttling (tiertrace.organizations.accounts)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tiertrace.db import utcnow
from tiertrace.errors import AuthenticationError, ConflictError, NotFoundError, RuleViolationError
from tiertrace.organizations.accounts import (
    INVITE_TTL,
    LOCK_DURATION,
    MAX_FAILED_LOGINS,
    accept_invite,
    authenticate_user,
    change_password,
    create_user,
    credential_version,
    reissue_invite,
)
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
        authenticate_user(session, "anna@lumen.example", PASSWORD)


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
    assert authenticate_user(session, "ANNA@lumen.example", PASSWORD).id == user.id
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


def test_the_account_locks_after_too_many_failures_and_unlocks_after_the_lock(session, organization):
    accept_invite(session, create_user(session, organization, "anna@lumen.example").token, PASSWORD)
    now = utcnow()
    for attempt in range(MAX_FAILED_LOGINS):
        with pytest.raises(AuthenticationError):
            authenticate_user(session, "anna@lumen.example", f"guess {attempt}", now=now)
    with pytest.raises(AuthenticationError):
        authenticate_user(
            session, "anna@lumen.example", PASSWORD, now=now + LOCK_DURATION - timedelta(seconds=1)
        )
    user = authenticate_user(
        session, "anna@lumen.example", PASSWORD, now=now + LOCK_DURATION + timedelta(seconds=1)
    )
    assert (user.failed_logins, user.locked_until) == (0, None)


def test_every_login_failure_says_the_same(session, organization):
    accept_invite(session, create_user(session, organization, "anna@lumen.example").token, PASSWORD)
    create_user(session, organization, "invited@lumen.example")
    messages = set()
    for email, password in (
        ("anna@lumen.example", "wrong"),
        ("nobody@lumen.example", PASSWORD),
        ("invited@lumen.example", PASSWORD),
        ("anna@lumen.example", "x" * 5000),
    ):
        with pytest.raises(AuthenticationError) as error:
            authenticate_user(session, email, password)
        messages.add(error.value.message)
    assert len(messages) == 1


def test_a_new_password_changes_the_credential_version(session, organization):
    user = accept_invite(session, create_user(session, organization, "anna@lumen.example").token, PASSWORD)
    before = credential_version(user)
    with pytest.raises(RuleViolationError) as error:
        change_password(session, user, "wrong", "another long passphrase")
    assert "current_password" in error.value.details
    change_password(session, user, PASSWORD, "another long passphrase")
    assert credential_version(user) != before
    assert authenticate_user(session, "anna@lumen.example", "another long passphrase").id == user.id
