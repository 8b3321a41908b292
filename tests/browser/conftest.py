"""Browser tests: the real portal on 127.0.0.1 (a free port, the test database, the embedded bus) driven
in headless Chromium from Debian's `chromium` package through playwright.

Playwright's own browser download cannot work here, so `executable_path` points at /usr/bin/chromium
(scripts/browser-deps.sh installs it). Locally a missing Chromium or playwright skips with the reason;
with CI=true it fails. Screenshots go to test-artifacts/ (and the walkthrough's to docs/screenshots/).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from tiertrace.config import Settings


def _closing_responses(app: Any) -> Any:
    """`app`, whose responses are closed even when the browser drops the connection mid-response.

    Werkzeug's server closes a response only after writing all of it; when Chromium cancels a request
    (the favicon, on navigating away) the write fails and the response - an open static file - is left
    to the garbage collector, a ResourceWarning that fails the test at random (seen once in CI). A
    generator's `finally` runs as soon as the server lets go of it.
    """

    def wrapped(environ: Any, start_response: Any) -> Iterator[bytes]:
        response = app(environ, start_response)
        try:
            yield from response
        finally:
            if hasattr(response, "close"):
                response.close()

    return wrapped


@pytest.fixture
def live_server(settings: Settings, session_factory: sessionmaker[Session]) -> Iterator[str]:
    """The real portal app on 127.0.0.1 and a free port, against the test database; yields its base URL."""
    from portal import create_app

    app = create_app(settings, session_factory=session_factory)
    server = make_server("127.0.0.1", 0, _closing_responses(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-portal", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


@pytest.fixture
def bus(settings: Settings, session_factory: sessionmaker[Session]) -> Iterator[Any]:
    """The embedded bus, so requests travel up the tiers and rollups merge."""
    from worker.embedded import start_embedded_bus

    running = start_embedded_bus(settings, session_factory, poll_interval=0.2, webhooks=False)
    yield running
    running.stop()
