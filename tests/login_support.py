"""Password attempts at once, in the interleaving that overshoots a limit counted without a lock
(importable as `login_support`: tests/ is on sys.path).

Each attempt's password check (argon2) waits until every other attempt checks its password too or has
finished without checking one: the attempts all count the failures before any records its own, as on
PostgreSQL when N requests of several portal processes arrive together. An attempt that held a lock the
others wait for through its password check would make them wait for each other: that is reported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from tiertrace.organizations import accounts

#: How long a password check waits for the others before the interleaving is declared impossible.
PATIENCE_SECONDS = 5


class _Together:
    """Stands in for the password hasher of `accounts`: see the module's docstring."""

    def __init__(self, hasher: Any, count: int) -> None:
        self.hasher, self.count = hasher, count
        self.arrived: set[threading.Thread] = set()
        self.broken = False
        self.condition = threading.Condition()

    def arrive(self) -> None:
        with self.condition:
            # The thread itself, not its ident: an ident is reused once its thread has ended, and an attempt
            # answered at once (429) ends before the next thread starts.
            self.arrived.add(threading.current_thread())
            self.condition.notify_all()

    def verify(self, password_hash: str, password: str) -> bool:
        self.arrive()
        with self.condition:
            together = not self.broken and self.condition.wait_for(
                lambda: len(self.arrived) == self.count, timeout=PATIENCE_SECONDS
            )
            self.broken = not together
        if not together:
            raise AssertionError("the password checks did not run at once: a lock held through one")
        return bool(self.hasher.verify(password_hash, password))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.hasher, name)


def at_once(
    monkeypatch: pytest.MonkeyPatch,
    calls: list[Callable[[], Any]],
    expected: type[BaseException] | tuple[type[BaseException], ...] = (),
) -> list[Any]:
    """Run `calls` in threads of their own, their password checks together; what each returned or raised
    (an `expected` exception), in the order of `calls`. Any other exception is raised."""
    together = _Together(accounts._HASHER, len(calls))
    monkeypatch.setattr(accounts, "_HASHER", together)
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            outcomes[index] = calls[index]()
        except BaseException as exc:  # returned to the test's thread
            outcomes[index] = exc
        finally:
            together.arrive()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(len(calls) * PATIENCE_SECONDS + 10)
    assert not any(thread.is_alive() for thread in threads)
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, expected):
            raise outcome
    return outcomes
