"""`tiertrace demo`: load the demo programme ZEEHAVIK through the real services and the real bus."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import click
from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from cli.console import migrate_database
from cli.main import main
from tiertrace.config import DEFAULT_BASE_URL, Settings
from tiertrace.db import make_engine, make_session_factory
from tiertrace.demo import load_programme
from tiertrace.demo.loader import DemoClock, DemoSummary, load_demo, step_count
from tiertrace.errors import TiertraceError
from tiertrace.outbox.models import OutboxEvent, ProcessedMessage


def start_demo_bus(settings: Settings, session_factory: sessionmaker[Session], clock: DemoClock) -> Any:
    """The embedded bus, its handlers reading the demo's story clock; `stop()` it when done.

    The same EmbeddedBus, dispatcher and handlers as `tiertrace serve`; only the clock differs, so
    requests forwarded while the story is replayed carry the story's 2025 dates.
    """
    from worker.embedded import start_embedded_bus

    # No webhooks: demo organisations register none. The loader runs the overdue sweep itself, once
    # the story is told (see tiertrace.demo.loader).
    return start_embedded_bus(settings, session_factory, webhooks=False, overdue_interval=0, clock=clock)


class WorkerDrain:
    """Waits for the RabbitMQ workers: every outbox row since the start is sent and handled.

    Handled means every consumer bound to the row's routing key has a ProcessedMessage for it (what the
    worker inserts in the transaction of the effect). Rows from before the demo started are not waited
    for, so an old dead-lettered message cannot hold the demo up.
    """

    def __init__(self, session_factory: sessionmaker[Session], *, timeout: float, interval: float = 0.05):
        from worker.handlers import CONSUMERS

        self.session_factory = session_factory
        self.timeout = timeout
        self.interval = interval
        self.consumers = CONSUMERS
        with session_factory() as session:
            self.first_seq = (session.scalar(select(func.max(OutboxEvent.seq))) or 0) + 1

    def pending(self) -> int:
        """Demo events not yet sent, plus (event, consumer) pairs not yet processed."""
        with self.session_factory() as session:
            recent = OutboxEvent.seq >= self.first_seq
            count = session.scalar(
                select(func.count()).select_from(OutboxEvent).where(recent, OutboxEvent.sent_at.is_(None))
            )
            for spec in self.consumers:
                types = [key.rsplit(".v", 1)[0] for key in spec.routing_keys]
                count = (count or 0) + (
                    session.scalar(
                        select(func.count())
                        .select_from(OutboxEvent)
                        .where(
                            recent,
                            OutboxEvent.type.in_(types),
                            ~exists().where(
                                and_(
                                    ProcessedMessage.consumer == spec.name,
                                    ProcessedMessage.message_id == OutboxEvent.message_id,
                                )
                            ),
                        )
                    )
                    or 0
                )
            return count or 0

    def __call__(self) -> None:
        deadline = time.monotonic() + self.timeout
        while (left := self.pending()) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{left} bus deliveries still pending after {self.timeout:.0f} s: is `tiertrace worker` "
                    "running against TIERTRACE_AMQP_URL and this database?"
                )
            time.sleep(self.interval)


@main.command()
@click.option(
    "--base-url",
    show_default=f"TIERTRACE_BASE_URL, else {DEFAULT_BASE_URL}",
    help="Where the portal will be reached; only printed.",
)
@click.option(
    "--timeout",
    default=120.0,
    show_default=True,
    type=float,
    help="Seconds to wait for the bus after each step before giving up.",
)
def demo(base_url: str | None, timeout: float) -> None:
    """Load the demo programme ZEEHAVIK, a fictional frigate chain, and print the logins.

    Registers 81 organisations (each with a signing key), web accounts for three personas (a
    supplier, the OEM, the ministry) and files the shipyard's declaration of the ship. Then every
    supplier answers the request the bus forwarded to it, signed with its own key, tier by tier down
    to the mines, through the same services and the same bus a user's declaration goes through. The
    story keeps its problems: a graphite supplier that never answered (overdue), a sealed "Supplier
    X", a single-source gallium refiner, a superseded magnet declaration. See docs/demo.md.

    Migrates the database first. Without TIERTRACE_AMQP_URL the bus runs in this process and replays
    the story at its 2025 dates; run it while `tiertrace serve` is stopped (scripts/demo.sh does), or
    the portal's own bus thread would handle some of the demo's events on today's clock. With
    TIERTRACE_AMQP_URL set, start `tiertrace worker` first: the demo waits for the workers after every
    step, and requests carry the workers' dates (today), so the graphite request becomes overdue only
    once its due date has passed.

    Safe to run again: a loaded demo is detected and left as it is. docs/walkthrough.md shows what to
    look at as each persona.
    """
    migrate_database()
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    bus: Any = None
    clock: DemoClock | None = None
    try:
        drain: Callable[[], None]
        if settings.embedded:
            clock = DemoClock()
            bus = start_demo_bus(settings, session_factory, clock)
            drain = lambda: bus.drain(timeout)  # noqa: E731  (a one-line closure over the bus)
        else:
            drain = WorkerDrain(session_factory, timeout=timeout)
        started = time.monotonic()
        with click.progressbar(
            length=step_count(load_programme()),
            label="loading ZEEHAVIK",
            file=sys.stderr,
            show_pos=True,
        ) as bar:

            def progress(done: int, _total: int, _what: str) -> None:
                bar.update(done - bar.pos)

            summary = load_demo(session_factory, settings, drain=drain, progress=progress, clock=clock)
        elapsed = time.monotonic() - started
    except TiertraceError as exc:
        raise click.ClickException(f"the demo could not be loaded: {exc.message}") from exc
    except TimeoutError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if bus is not None:
            bus.stop()
        engine.dispose()
    click.echo(render_summary(summary, base_url=base_url or settings.base_url, elapsed=elapsed))


def render_summary(summary: DemoSummary, *, base_url: str, elapsed: float | None = None) -> str:
    """What `tiertrace demo` prints: what happened, the URL, logins, the root declaration, what to look at."""
    base = base_url.rstrip("/")
    h = summary.headline
    root = summary.root_declaration_id
    if summary.already_loaded:
        lines = [f"The {summary.programme} demo is already loaded; nothing was changed."]
    else:
        took = f" in {elapsed:.1f} s" if elapsed is not None else ""
        lines = [
            f"Loaded the {summary.programme} demo{took}: {summary.organizations_created} organisations "
            f"registered, {summary.declarations_filed} declarations filed."
        ]
    lines += [
        f"  {summary.organizations} organisations, {summary.declarations} declarations, "
        f"{summary.requests_forwarded} requests forwarded up the tiers by the bus",
        f"  the ship: {h.ga_mass_g:,.1f} g of gallium, {h.ga_refined_cn_share:.0%} refined in China; "
        f"{h.components_declared} of {h.components_total} components declared, {h.max_tier} tiers deep",
        "",
        f"Open {base}/ and log in as (the password of all three: {summary.logins[0].password}):",
    ]
    lines += [f"  {x.role:<10} {x.email:<31} {x.organization_name}" for x in summary.logins]
    lines += [
        "",
        f"Root declaration (the ship): {root}",
        "",
        "What to look at:",
        "  - the OEM: the ship's chain, gallium by country, the overdue graphite gap, hidden 'Supplier X'",
        f"      {base}/chains/{root}",
        "  - the ministry: completeness, single-country refining, the overdue list, exports",
        f"      {base}/audit/{summary.programme}",
        "  - the supplier: Inbox > Answered, and the overdue request to its graphite supplier",
        f"      {base}/outbox",
        "  - the terminal:",
        f"      tiertrace chain {root} --as noordhaven-naval",
        f"      tiertrace audit {summary.programme} --format xlsx --out report.xlsx",
        "  - a walkthrough per persona: docs/walkthrough.md",
        "",
        "Left unanswered on purpose:",
    ]
    lines += [
        f"  {x.ref:<15} {x.requester} -> {x.supplier} ({x.part_number}): {x.status}, due {x.due_date}"
        for x in summary.unanswered
    ]
    lines += [f"note: {note}" for note in summary.notes]
    return "\n".join(lines)
