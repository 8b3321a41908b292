"""Login limits under concurrency: attempts that arrive together are counted as if one after the other,
and their password checks still run at the same time (tiertrace.organizations.accounts)."""

from __future__ import annotations

import pytest
from login_support import at_once
from sqlalchemy import func, select

from tiertrace.errors import AuthenticationError
from tiertrace.organizations import accounts
from tiertrace.organizations.accounts import MAX_FAILED_LOGINS, accept_invite, authenticate_user, create_user
from tiertrace.organizations.models import LoginFailure, User
from tiertrace.organizations.services import create_organization

EMAIL, PASSWORD = "anna@lumen.example", "correct horse battery staple"
A = "203.0.113.7"
GUESSES = 4


@pytest.fixture
def anna(session_factory) -> int:
    """The id of an account with a password (committed)."""
    with session_factory() as session:
        organization, _token = create_organization(
            session, slug="lumen", name="Lumen", country="DE", kind="company"
        )
        user = accept_invite(session, create_user(session, organization, EMAIL).token, PASSWORD)
        session.commit()
        return user.id


def guess(session_factory, address: str, password: str = "a guess"):
    """A login attempt from `address` in a session of its own, committed as the portal does."""

    def attempt() -> User:
        with session_factory() as session:
            try:
                return authenticate_user(session, EMAIL, password, address=address)
            finally:
                session.commit()

    return attempt


def refused(outcomes: list) -> int:
    """How many of the `outcomes` are refused logins."""
    return sum(isinstance(outcome, AuthenticationError) for outcome in outcomes)


def counted(session_factory, user_id: int, address: str | None = None) -> int:
    """The failures that count toward the account (from `address`, or from all)."""
    query = select(func.count()).where(LoginFailure.user_id == user_id)
    if address is not None:
        query = query.where(LoginFailure.address == address)
    with session_factory() as session:
        return session.scalar(query)


def test_guesses_at_once_from_one_address_check_no_more_passwords_than_its_limit(
    session_factory, anna, monkeypatch
):
    """Before: each counted the 4 earlier failures before any recorded its own, so all 4 were checked
    against the account (PostgreSQL); on SQLite the first held the database through its password
    check, so logins went one at a time."""
    for _ in range(MAX_FAILED_LOGINS - 1):
        with pytest.raises(AuthenticationError):
            guess(session_factory, A)()

    outcomes = at_once(monkeypatch, [guess(session_factory, A) for _ in range(GUESSES)], AuthenticationError)

    assert refused(outcomes) == GUESSES
    assert counted(session_factory, anna, A) == MAX_FAILED_LOGINS  # one more guess at the account, not 4
    with session_factory() as session:  # the refused ones count toward the address
        assert session.scalar(select(func.count()).where(LoginFailure.address == A)) == (
            MAX_FAILED_LOGINS - 1 + GUESSES
        )


def test_guesses_at_once_from_many_addresses_check_no_more_passwords_than_the_accounts_limit(
    session_factory, anna, monkeypatch
):
    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS_PER_ACCOUNT", 3)  # 100 in the portal: kept fast here
    for number in range(2):
        with pytest.raises(AuthenticationError):
            guess(session_factory, f"192.0.2.{number}")()

    outcomes = at_once(
        monkeypatch,
        [guess(session_factory, f"198.51.100.{n}") for n in range(GUESSES)],
        AuthenticationError,
    )

    assert refused(outcomes) == GUESSES
    assert counted(session_factory, anna) == 3


def test_a_right_password_at_once_with_guesses_from_elsewhere_logs_in(session_factory, anna, monkeypatch):
    """The owner is not held up by strangers guessing at the same moment (their own limit aside)."""
    outcomes = at_once(
        monkeypatch,
        [guess(session_factory, address) for address in ("192.0.2.1", "192.0.2.2")]
        + [guess(session_factory, "198.51.100.2", PASSWORD)],
        AuthenticationError,
    )

    assert refused(outcomes) == 2
    assert isinstance(outcomes[-1], User) and outcomes[-1].id == anna
    assert counted(session_factory, anna) == 2
    with session_factory() as session:  # a success counts for nothing, not even toward its address
        assert session.scalar(select(func.count()).where(LoginFailure.address == "198.51.100.2")) == 0
