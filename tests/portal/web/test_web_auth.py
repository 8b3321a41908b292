"""Signing in and out, invitations, CSRF, throttling and the session cookie."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import pytest
from login_support import at_once
from sqlalchemy import func, select
from web_helpers import PASSWORD, csrf_of, field_error, log_in, page_csrf

from portal import create_app
from tiertrace.organizations import accounts
from tiertrace.organizations.accounts import FAILURE_WINDOW, MAX_FAILED_LOGINS, create_user
from tiertrace.organizations.models import LoginFailure, Organization


def test_a_person_signs_in_sees_their_start_page_and_signs_out(client, make_org, make_person):
    person = make_person(make_org("lumen"))
    assert client.get("/inbox").status_code == 302

    answer = log_in(client, person)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/inbox"
    page = client.get("/inbox").get_data(as_text=True)
    assert person.email in page

    token = csrf_of(page)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/inbox").headers["Location"].startswith("/login")


def test_a_cookie_copied_before_logout_is_worth_nothing_after_it(app, make_org, make_person):
    person = make_person(make_org("lumen"))
    laptop, phone, thief = app.test_client(), app.test_client(), app.test_client()
    log_in(laptop, person)
    log_in(phone, person)
    thief.set_cookie("tiertrace_session", laptop.get_cookie("tiertrace_session").value)
    assert thief.get("/inbox").status_code == 200  # a copy works while the session lasts

    token = csrf_of(laptop.get("/inbox").get_data(as_text=True))
    assert laptop.post("/logout", data={"csrf_token": token}).status_code == 302
    assert "You are signed out, on every device." in laptop.get("/login").get_data(as_text=True)
    assert thief.get("/inbox").status_code == 302  # the copy ended with the logout: off to the login page
    assert phone.get("/inbox").status_code == 302  # so did the session on the other device

    assert log_in(phone, person).status_code == 302  # a new login starts a new session
    assert phone.get("/inbox").status_code == 200
    assert thief.get("/inbox").status_code == 302


def test_the_session_cookie_is_httponly_samesite_lax_and_not_secure_on_loopback(
    client, make_org, make_person
):
    answer = log_in(client, make_person(make_org("lumen")))
    cookie = answer.headers["Set-Cookie"]
    assert "tiertrace_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the test client's host is localhost, like the embedded local mode


def test_the_session_cookie_is_secure_on_any_other_host(app, make_org, make_person):
    person = make_person(make_org("lumen"))
    client = app.test_client()
    token = csrf_of(client.get("/login", base_url="https://portal.example.org").get_data(as_text=True))
    answer = client.post(
        "/login",
        data={"email": person.email, "password": person.password, "csrf_token": token},
        base_url="https://portal.example.org",
    )
    assert answer.status_code == 302
    assert "Secure" in answer.headers["Set-Cookie"]


def test_tiertrace_secure_cookies_overrides_the_host_rule(settings, session_factory, make_org, make_person):
    app = create_app(replace(settings, secure_cookies=True), session_factory=session_factory)
    answer = log_in(app.test_client(), make_person(make_org("lumen")))
    assert "Secure" in answer.headers["Set-Cookie"]


def test_a_post_without_the_csrf_token_is_refused(client, make_org, make_person):
    person = make_person(make_org("lumen"))
    client.get("/login")
    answer = client.post("/login", data={"email": person.email, "password": person.password})
    assert answer.status_code == 400
    assert "CSRF" in answer.get_data(as_text=True)
    assert "Set-Cookie" not in answer.headers or "uid" not in answer.headers.get("Set-Cookie", "")
    assert client.get("/inbox").status_code == 302  # still signed out


def test_the_csrf_token_of_another_session_is_refused(app, make_org, make_person):
    person = make_person(make_org("lumen"))
    attacker = app.test_client()
    token = page_csrf(attacker)
    victim = app.test_client()
    victim.get("/login")
    answer = victim.post(
        "/login", data={"email": person.email, "password": person.password, "csrf_token": token}
    )
    assert answer.status_code == 400


def test_every_signed_in_form_checks_the_csrf_token(client, make_org, signed_in):
    signed_in(make_org("lumen"))
    for path in ("/logout", "/settings/tokens", "/settings/keys", "/settings/password", "/declarations/new"):
        assert client.post(path, data={"csrf_token": "forged"}).status_code == 400, path
    assert client.get("/inbox").status_code == 200  # the refused logout did not sign out


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(client, make_org, make_person):
    person = make_person(make_org("lumen"))
    wrong = log_in(client, person, password="not the password")
    unknown = client.post(
        "/login",
        data={"email": "nobody@example.org", "password": "whatever", "csrf_token": page_csrf(client)},
    )
    assert wrong.status_code == unknown.status_code == 401
    assert field_error(wrong.get_data(as_text=True), "password") == field_error(
        unknown.get_data(as_text=True), "password"
    )


def client_at(app, address):
    """A test client whose requests come from `address`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def pass_the_window(session_factory):
    """Move every failed login back by the window, as if it had passed."""
    with session_factory() as session:
        for failure in session.scalars(select(LoginFailure)):
            failure.failed_at -= FAILURE_WINDOW
        session.commit()


def test_failed_logins_from_one_address_lock_it_out_while_the_owner_signs_in_from_another(
    app, make_org, make_person, session_factory
):
    """Before: they locked the account, so anyone who knew the email could keep its owner out."""
    person = make_person(make_org("lumen"))
    stranger, owner = client_at(app, "203.0.113.7"), client_at(app, "198.51.100.2")
    for _ in range(MAX_FAILED_LOGINS):
        assert log_in(stranger, person, password="guess").status_code == 401

    answer = log_in(stranger, person)  # even the right password
    assert answer.status_code == 401
    assert field_error(answer.get_data(as_text=True), "password") == (
        "the email address or the password is wrong, or the account is locked after too many failed "
        "attempts (wait 15 minutes)"
    )
    assert log_in(owner, person).status_code == 302

    pass_the_window(session_factory)
    assert log_in(stranger, person).status_code == 302


def test_failed_logins_from_many_addresses_lock_the_account_for_every_address(
    app, make_org, make_person, session_factory, monkeypatch
):
    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS_PER_ACCOUNT", 6)  # 100 in the portal: kept fast here
    person = make_person(make_org("lumen"))
    for number in range(3):
        guesser = client_at(app, f"192.0.2.{number}")
        for _ in range(2):
            assert log_in(guesser, person, password="guess").status_code == 401

    owner = client_at(app, "198.51.100.2")
    assert log_in(owner, person).status_code == 401

    pass_the_window(session_factory)
    assert log_in(owner, person).status_code == 302


def test_too_many_failed_logins_from_one_address_make_it_wait(
    app, make_org, make_person, session_factory, monkeypatch
):
    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS_PER_ADDRESS", 3)  # 20 in the portal: kept fast here
    lumen = make_org("lumen")
    people = [make_person(lumen) for _ in range(4)]
    sprayer, neighbour = client_at(app, "203.0.113.7"), client_at(app, "198.51.100.2")

    # One guess against each of several accounts: no account reaches its own lock.
    for person in people[:2]:
        assert log_in(sprayer, person, password="Summer2026!").status_code == 401
    assert log_in(sprayer, people[3]).status_code == 302  # a success counts for nothing
    sprayer.post("/logout", data={"csrf_token": csrf_of(sprayer.get("/inbox").get_data(as_text=True))})
    assert log_in(sprayer, people[2], password="Summer2026!").status_code == 401

    answer = log_in(sprayer, people[3])  # even the right password waits
    assert answer.status_code == 429
    assert 0 < int(answer.headers["Retry-After"]) <= FAILURE_WINDOW.total_seconds()
    assert field_error(answer.get_data(as_text=True), "password") == (
        "There were too many failed sign-ins from your network. Wait 15 minutes and try again."
    )
    assert sprayer.get("/inbox").status_code == 302  # not signed in
    assert log_in(neighbour, people[3]).status_code == 302  # another address is not held up

    pass_the_window(session_factory)
    assert log_in(sprayer, people[0], password="one more guess").status_code == 401
    with session_factory() as session:  # the old failures are gone, the new one is kept
        assert session.scalar(select(func.count()).select_from(LoginFailure)) == 1
    assert log_in(sprayer, people[3]).status_code == 302


@pytest.mark.parametrize("trusted_proxies", [0, 1])
def test_behind_a_trusted_proxy_the_address_limit_counts_per_forwarded_client(
    settings, session_factory, make_org, make_person, monkeypatch, trusted_proxies
):
    # Behind a load balancer every connection comes from its address: without TIERTRACE_TRUSTED_PROXIES
    # a few failures from anyone would make everyone wait; with it, a forged header gains nothing when
    # no proxy is trusted.
    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS_PER_ADDRESS", 2)
    app = create_app(replace(settings, trusted_proxies=trusted_proxies), session_factory=session_factory)
    person = make_person(make_org("lumen"))
    sprayer, colleague = app.test_client(), app.test_client()
    for client, forwarded in ((sprayer, "203.0.113.7"), (colleague, "198.51.100.2")):
        client.environ_base.update(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=forwarded)
    for _ in range(2):
        assert log_in(sprayer, person, password="Summer2026!").status_code == 401
    assert log_in(sprayer, person).status_code == 429
    assert log_in(colleague, person).status_code == (302 if trusted_proxies else 429)


def test_an_empty_login_form_asks_for_what_is_missing_and_counts_no_failed_attempt(
    client, make_org, make_person, session_factory
):
    person = make_person(make_org("lumen"))
    empty = client.post("/login", data={"email": " ", "password": "", "csrf_token": page_csrf(client)})
    assert empty.status_code == 422
    html = empty.get_data(as_text=True)
    assert field_error(html, "email") == "Enter your email address"
    assert field_error(html, "password") == "Enter your password"

    for _ in range(MAX_FAILED_LOGINS):
        answer = client.post(
            "/login", data={"email": person.email, "password": "", "csrf_token": page_csrf(client)}
        )
        assert field_error(answer.get_data(as_text=True), "password") == "Enter your password"
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(LoginFailure)) == 0
    assert log_in(client, person).status_code == 302


def test_a_successful_login_clears_the_failures_from_its_address(
    client, make_org, make_person, session_factory
):
    person = make_person(make_org("lumen"))
    for _ in range(MAX_FAILED_LOGINS - 1):
        assert log_in(client, person, password="guess").status_code == 401
    assert log_in(client, person).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/inbox").get_data(as_text=True))})

    for _ in range(MAX_FAILED_LOGINS - 1):
        assert log_in(client, person, password="guess").status_code == 401
    assert log_in(client, person).status_code == 302
    with session_factory() as session:  # still counted toward the address's own limit
        assert session.scalars(select(LoginFailure.user_id)).all() == [None] * 2 * (MAX_FAILED_LOGINS - 1)


def test_an_invitation_sets_the_password_once_and_signs_the_person_in(client, make_org, session_factory):
    member = make_org("lumen", name="Lumen Compound GmbH", country="DE")
    with session_factory() as session:
        invitation = create_user(
            session, session.get(Organization, member.organization.id), "Anna@Lumen.example"
        )
        session.commit()
    link = f"/invite/{invitation.token}"
    page = client.get(link)
    assert page.status_code == 200
    assert "anna@lumen.example" in page.get_data(as_text=True)
    # The invitee learns which organisation the account acts for, before choosing a password.
    assert "acts for <strong>Lumen Compound GmbH</strong> (DE)" in page.get_data(as_text=True)

    short = client.post(
        link,
        data={
            "password": "short",
            "password_confirm": "short",
            "csrf_token": csrf_of(page.get_data(as_text=True)),
        },
    )
    assert short.status_code == 422
    assert "12 characters" in field_error(short.get_data(as_text=True), "password")

    token = csrf_of(short.get_data(as_text=True))
    differ = client.post(
        link, data={"password": PASSWORD, "password_confirm": PASSWORD + "!", "csrf_token": token}
    )
    assert field_error(differ.get_data(as_text=True), "password_confirm") == "the two passwords differ"

    done = client.post(link, data={"password": PASSWORD, "password_confirm": PASSWORD, "csrf_token": token})
    assert done.status_code == 302
    assert client.get("/inbox").status_code == 200
    assert client.get(link).status_code == 404  # used up


def change_password(client: Any, current: str, new: str, confirm: str) -> Any:
    """Post the settings page's password form on `client`."""
    token = csrf_of(client.get("/settings").get_data(as_text=True))
    return client.post(
        "/settings/password",
        data={
            "current_password": current,
            "new_password": new,
            "new_password_confirm": confirm,
            "csrf_token": token,
        },
    )


def test_a_changed_password_ends_the_other_sessions(app, make_org, make_person):
    person = make_person(make_org("lumen"))
    laptop, tablet = app.test_client(), app.test_client()
    log_in(laptop, person)
    log_in(tablet, person)
    new = "a completely different passphrase"
    assert change_password(laptop, person.password, new, new).status_code == 302
    assert laptop.get("/settings").status_code == 200  # this session goes on
    assert tablet.get("/settings").status_code == 302  # the other one is over


def test_a_wrong_current_password_is_shown_next_to_its_field(client, make_org, signed_in):
    signed_in(make_org("lumen"))
    answer = change_password(client, "nope", PASSWORD, PASSWORD)
    assert answer.status_code == 422
    assert field_error(answer.get_data(as_text=True), "current_password") == "wrong password"


def test_an_empty_current_password_is_asked_for(client, make_org, signed_in):
    signed_in(make_org("lumen"))
    answer = change_password(client, "", PASSWORD, PASSWORD + "!")
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert field_error(html, "current_password") == "Enter your current password"
    assert field_error(html, "new_password_confirm") == "the two passwords differ"  # both at once


def test_login_never_redirects_to_another_site(client, make_org, make_person):
    person = make_person(make_org("lumen"))
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        token = page_csrf(client, "/login")
        answer = client.post(
            "/login",
            data={"email": person.email, "password": person.password, "csrf_token": token, "next": target},
        )
        assert answer.headers["Location"] == "/", target
        client.post("/logout", data={"csrf_token": csrf_of(client.get("/settings").get_data(as_text=True))})
    token = page_csrf(client, "/login")
    answer = client.post(
        "/login",
        data={"email": person.email, "password": person.password, "csrf_token": token, "next": "/settings"},
    )
    assert answer.headers["Location"] == "/settings"


def test_pages_carry_security_headers(client):
    answer = client.get("/login")
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Referrer-Policy"] == "same-origin"


def test_the_password_form_reports_all_its_errors_at_once(client, make_org, signed_in):
    signed_in(make_org("lumen"))
    answer = change_password(client, "", "short", "short!")
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert field_error(html, "current_password") == "Enter your current password"
    assert field_error(html, "new_password") == "Choose a password of at least 12 characters"
    assert field_error(html, "new_password_confirm") == "the two passwords differ"


def test_failed_sign_ins_at_once_from_one_address_stop_at_its_limit(
    app, make_org, make_person, session_factory, monkeypatch
):
    """Before: each request counted the address's failures before any recorded its own, so all of them
    were checked (PostgreSQL), or the first held the database through its password check (SQLite)."""
    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS_PER_ADDRESS", 3)  # 20 in the portal: kept fast here
    person = make_person(make_org("lumen"))
    for _ in range(2):
        assert log_in(client_at(app, "203.0.113.7"), person, password="guess").status_code == 401

    sprayers = [client_at(app, "203.0.113.7") for _ in range(4)]
    answers = at_once(monkeypatch, [partial(log_in, sprayer, person, "guess") for sprayer in sprayers])

    assert sorted(answer.status_code for answer in answers) == [401, 429, 429, 429]
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(LoginFailure)) == 3


def test_wrong_current_passwords_lock_the_address_out_of_the_account(
    app, make_org, make_person, session_factory
):
    """Before: they counted toward no limit, so a signed-in session left open (a borrowed laptop) could
    guess the password without bound."""
    person = make_person(make_org("lumen"))
    laptop = client_at(app, "203.0.113.7")
    assert log_in(laptop, person).status_code == 302
    new = "a completely different passphrase"
    for number in range(MAX_FAILED_LOGINS):
        answer = change_password(laptop, f"guess {number}", new, new)
        assert answer.status_code == 422
        assert field_error(answer.get_data(as_text=True), "current_password") == "wrong password"

    answer = change_password(laptop, person.password, new, new)  # even the right one
    assert answer.status_code == 429
    assert 0 < int(answer.headers["Retry-After"]) <= FAILURE_WINDOW.total_seconds()
    assert field_error(answer.get_data(as_text=True), "current_password") == (
        "Too many wrong passwords were tried for this account. Wait 15 minutes and try again."
    )
    # The password is unchanged; the address is locked out of the account for signing in too, the
    # owner elsewhere is not.
    assert log_in(client_at(app, "203.0.113.7"), person).status_code == 401
    assert log_in(client_at(app, "198.51.100.2"), person).status_code == 302

    pass_the_window(session_factory)
    assert change_password(laptop, person.password, new, new).status_code == 302
    assert log_in(client_at(app, "203.0.113.7"), person, password=new).status_code == 302


def test_wrong_current_passwords_count_toward_the_address_limit(app, make_org, make_person, monkeypatch):
    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS_PER_ADDRESS", 3)  # 20 in the portal: kept fast here
    lumen = make_org("lumen")
    person, colleague = make_person(lumen), make_person(lumen)
    laptop = client_at(app, "203.0.113.7")
    assert log_in(laptop, person).status_code == 302
    new = "a completely different passphrase"
    for number in range(3):
        assert change_password(laptop, f"guess {number}", new, new).status_code == 422

    answer = change_password(laptop, person.password, new, new)
    assert answer.status_code == 429
    assert 0 < int(answer.headers["Retry-After"]) <= FAILURE_WINDOW.total_seconds()
    assert field_error(answer.get_data(as_text=True), "current_password") == (
        "There were too many failed sign-ins from your network. Wait 15 minutes and try again."
    )
    assert log_in(client_at(app, "203.0.113.7"), colleague).status_code == 429  # the whole address waits


def test_a_new_password_the_form_refuses_counts_no_attempt(client, make_org, signed_in, session_factory):
    signed_in(make_org("lumen"))
    for _ in range(MAX_FAILED_LOGINS):
        assert change_password(client, "a guess", "short", "short").status_code == 422
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(LoginFailure)) == 0
