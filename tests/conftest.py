"""Test harness: a migrated database per test run (SQLite by default, PostgreSQL with
TIERTRACE_TEST_DB=postgresql), emptied after every test, and factories for organisations,
keys and signed declarations.

Services that the machine runs (PostgreSQL, RabbitMQ) are used for real. When one is missing the
test is skipped locally with the reason; with CI=true it fails instead.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from services_support import TEST_DB, fresh_postgresql_database, service_missing
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

import migrations
import tiertrace.models
from tiertrace import signing
from tiertrace.config import Settings
from tiertrace.db import make_engine, make_session_factory
from tiertrace.declarations.models import Declaration
from tiertrace.organizations.models import Organization
from tiertrace.organizations.services import create_organization, register_key

CHROMIUM = os.environ.get("TIERTRACE_CHROMIUM", "/usr/bin/chromium")
#: The flags this machine's Chromium needs: no sandbox (root), and no background connections, which the
#: closed network refuses (many at a time) and which would only slow the tests down.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium (Debian's, scripts/browser-deps.sh) for the session; tests open their own
    pages and contexts. Playwright's own browser download cannot work here."""
    if not os.access(CHROMIUM, os.X_OK):
        service_missing(f"no Chromium at {CHROMIUM}: run scripts/browser-deps.sh")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as driver:
        # headless=True adds --headless; launch() starts Chromium on a new, empty temporary profile (its own
        # --user-data-dir), and every new_context() inside it is a fresh, incognito-like session.
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database for this test run (one per xdist worker)."""
    if TEST_DB == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'tiertrace.sqlite3'}"
        migrations.upgrade(url)
        yield url
        return
    if TEST_DB != "postgresql":
        raise pytest.UsageError("TIERTRACE_TEST_DB must be sqlite or postgresql")
    with fresh_postgresql_database("tiertrace_test_") as url:
        migrations.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def empty_database(engine: Engine) -> None:
    """Delete every row (the schema stays), so that nothing leaks from one test into the next."""
    tables = [t.name for t in reversed(tiertrace.models.Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            connection.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def session_factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield make_session_factory(engine)
    empty_database(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # The overdue sweep is off in buses started by tests: they drive it with a clock of their own.
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        amqp_url=None,
        secret_key="test-secret",
        overdue_sweep_seconds=0,
    )


@dataclass
class Member:
    """An organisation in a test, with what it needs to act: a token and a signing key."""

    organization: Organization
    token: str
    private_key: Ed25519PrivateKey
    keyid: str

    @property
    def slug(self) -> str:
        return self.organization.slug

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_org(session_factory: sessionmaker[Session]) -> Callable[..., Member]:
    """Create (and commit) an organisation with a token and a registered signing key."""

    def make(
        slug: str | None = None, *, kind: str = "company", country: str = "NL", name: str | None = None
    ) -> Member:
        slug = slug or f"org-{uuid.uuid4().hex[:8]}"
        private_key = signing.generate_private_key()
        with session_factory() as session:
            organization, token = create_organization(
                session, slug=slug, name=name or slug.replace("-", " ").title(), country=country, kind=kind
            )
            key, _ = register_key(
                session, organization, signing.encode_b64(signing.public_key_raw(private_key))
            )
            session.commit()
            return Member(organization, token, private_key, key.keyid)

    return make


def make_payload(
    issuer: str,
    part_number: str = "PART-1",
    *,
    materials: list[dict[str, Any]] | None = None,
    components: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A valid payload v1 (override any field with keyword arguments)."""
    payload: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "issuer": issuer,
        "issued_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "in_response_to": None,
        "supersedes": None,
        "part": {"number": part_number, "name": f"Part {part_number}", "unit": "piece"},
        "materials": materials if materials is not None else [],
        "components": components if components is not None else [],
        "statement": "We declare this to the best of our knowledge.",
    }
    payload.update(fields)
    return payload


def sign(member: Member, payload: dict[str, Any]) -> bytes:
    """The DSSE envelope of `payload` signed with the member's key."""
    return signing.sign_payload(json.dumps(payload).encode("utf-8"), member.private_key)


def _url_safe_unpadded(envelope: bytes) -> bytes:
    """The same envelope with payload and signature in URL-safe base64 without padding (DSSE allows it)."""

    def recode(text: str) -> str:
        return base64.urlsafe_b64encode(base64.b64decode(text)).decode().rstrip("=")

    document = json.loads(envelope)
    document["payload"] = recode(document["payload"])
    for signature in document["signatures"]:
        signature["sig"] = recode(signature["sig"])
    recoded = json.dumps(document).encode()
    assert recoded != envelope
    return recoded


@pytest.fixture(name="url_safe_unpadded")
def url_safe_unpadded_fixture() -> Callable[[bytes], bytes]:
    return _url_safe_unpadded


@pytest.fixture(name="make_payload")
def make_payload_fixture() -> Callable[..., dict[str, Any]]:
    return make_payload


@pytest.fixture(name="sign")
def sign_fixture() -> Callable[[Member, dict[str, Any]], bytes]:
    return sign


@pytest.fixture
def submit(session_factory: sessionmaker[Session]) -> Callable[..., Any]:
    """Sign `payload` as `member`, submit it through the service and commit; returns the Declaration."""
    from tiertrace.declarations.services import submit_declaration

    def do(member: Member, payload: dict[str, Any]) -> Any:
        with session_factory() as session:
            organization = session.get(Organization, member.organization.id)
            result = submit_declaration(session, organization, sign(member, payload))
            session.commit()
            return session.get(Declaration, result.id)

    return do


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session]) -> Any:
    from portal import create_app

    app = create_app(settings, session_factory=session_factory)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()
