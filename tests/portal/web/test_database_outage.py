"""The database out of reach: 503 with Retry-After (JSON for the API, a page for people), never a 500."""

from __future__ import annotations

import pytest
from web_helpers import page_csrf

from portal import create_app
from tiertrace.db import make_engine, make_session_factory

# Nothing listens on port 1: every connection attempt fails at once.
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/tiertrace?connect_timeout=2"


@pytest.fixture
def cut_off(settings):
    engine = make_engine(UNREACHABLE)
    app = create_app(settings, session_factory=make_session_factory(engine))
    app.config["TESTING"] = True
    yield app.test_client()
    engine.dispose()


def test_an_api_call_answers_503_in_the_error_shape(cut_off):
    answer = cut_off.get("/api/v1/organizations/me", headers={"Authorization": "Bearer tt_anything"})

    assert answer.status_code == 503
    assert answer.headers["Retry-After"].isdigit()
    assert answer.get_json()["error"]["code"] == "unavailable"


def test_a_page_answers_503_with_a_page(cut_off):
    answer = cut_off.post(
        "/login", data={"email": "a@b.example", "password": "x", "csrf_token": page_csrf(cut_off)}
    )

    assert answer.status_code == 503
    assert answer.headers["Retry-After"].isdigit()
    assert "cannot reach its database" in answer.get_data(as_text=True)


def test_readyz_says_503_while_the_database_is_out_of_reach(cut_off):
    assert cut_off.get("/healthz").status_code == 200
    answer = cut_off.get("/readyz")
    assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "unavailable"


def test_health_probes_answer_without_a_token_when_all_is_well(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_a_signed_in_person_gets_pages_too_without_the_menu(client, cut_off, make_org, signed_in):
    signed_in(make_org("supplier"))
    cut_off.set_cookie("tiertrace_session", client.get_cookie("tiertrace_session").value)

    answer = cut_off.get("/inbox")
    assert answer.status_code == 503
    assert "cannot reach its database" in answer.get_data(as_text=True)
    missing = cut_off.get("/no-such-page")  # no route: the error page alone looks the person up
    assert missing.status_code == 404 and "Sign out" not in missing.get_data(as_text=True)
