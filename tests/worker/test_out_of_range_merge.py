"""The merge consumer on a chain whose figures overflow the float range: it commits at the first try (no
retry, no dead letter) and the ancestors' rollups read null for those figures. On PostgreSQL the old
merge wrote Infinity into JSONB, failed every time, and froze every rollup above."""

from __future__ import annotations

import logging
import uuid

import orjson
from overflow_support import assert_root_out_of_range, file_overflow_chain
from sqlalchemy import Text, func, select

from schemas.bus import dump_message
from tiertrace.chains.models import Rollup
from tiertrace.outbox.models import OutboxEvent, ProcessedMessage
from worker.embedded import start_embedded_bus
from worker.handlers import Dispatcher, Disposition, build_handlers


def stored_rollup(session_factory, declaration_id):
    """The row's document as the database holds it, read as the chain view does (orjson: no Infinity)."""
    with session_factory() as session:
        text = session.scalar(select(Rollup.data.cast(Text)).where(Rollup.declaration_id == declaration_id))
    return orjson.loads(text)


def test_the_merge_of_an_overflowing_declaration_commits_at_the_first_try(
    settings, session_factory, make_org, make_payload, submit
):
    chain = file_overflow_chain(make_org, make_payload, submit)
    # One try and no second chance: any failure would hand the delivery back (RETRY).
    dispatcher = Dispatcher(session_factory, build_handlers(settings), attempts=1)
    body = dump_message(
        str(uuid.uuid4()),
        "declaration.accepted",
        1,
        {"declaration_id": chain.radar_part.id, "supersedes_id": None},
    )

    assert dispatcher.deliver("merge", body) is Disposition.ACK
    assert_root_out_of_range(stored_rollup(session_factory, chain.root.id)["rollup"])
    assert stored_rollup(session_factory, chain.radar_part.id)["rollup"]["Ga"]["mass_g"] is None


def test_the_embedded_bus_merges_an_overflowing_chain_without_retries_or_dead_letters(
    settings, session_factory, make_org, make_payload, submit, caplog
):
    bus = start_embedded_bus(settings, session_factory, poll_interval=0.2, webhooks=False)
    try:
        with caplog.at_level(logging.WARNING, logger="worker"):
            chain = file_overflow_chain(make_org, make_payload, submit)
            bus.drain(timeout=30)
    finally:
        bus.stop()

    assert bus.dead_letters == []
    assert [r.getMessage() for r in caplog.records if r.name.startswith("worker")] == []
    with session_factory() as session:
        assert session.scalar(select(func.count()).where(OutboxEvent.sent_at.is_(None))) == 0
        merged = session.scalar(select(func.count()).where(ProcessedMessage.consumer == "merge"))
        accepted = session.scalar(select(func.count()).where(OutboxEvent.type == "declaration.accepted"))
    assert merged >= accepted == 5
    assert_root_out_of_range(stored_rollup(session_factory, chain.root.id)["rollup"])
