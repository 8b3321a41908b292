"""`rebuild_all` in batches and `remove_superseded_rollups`: the rows of a rebuild do not depend on how it
is cut into batches, and only the rows of current declarations stay."""

from __future__ import annotations

from sqlalchemy import select

from tiertrace.chains import services
from tiertrace.chains.models import Rollup
from tiertrace.chains.services import rebuild_all, remove_superseded_rollups
from tiertrace.declarations.models import Declaration


def rows(session) -> dict[str, dict]:
    return {
        declaration_id: data
        for declaration_id, data in session.execute(select(Rollup.declaration_id, Rollup.data))
    }


def test_a_rebuild_in_batches_of_one_stores_what_one_batch_stores(
    session, monkeypatch, radar_chain, make_org, make_payload, submit, play_events, ga_line
):
    # Beside the radar chain (a shared smelter, an open request, unknown suppliers): a cycle group of two
    # in-house parts, which no batch may split, under a part of the radar maker.
    alpha, beta = make_org("alpha"), make_org("beta")
    cycle = [("alpha", "A", "beta", "B"), ("beta", "B", "alpha", "A")]
    for issuer, part, supplier, other in cycle:
        submit(
            alpha if issuer == "alpha" else beta,
            make_payload(
                issuer,
                part,
                materials=[ga_line(1.0)],
                components=[{"part_number": other, "supplier": supplier, "quantity": 2}],
            ),
        )
    submit(
        radar_chain.radar,
        make_payload(
            radar_chain.radar.slug,
            "MOUNT-1",
            components=[
                {"part_number": "A", "supplier": "alpha", "quantity": 1},
                {"part_number": "MMIC-7", "supplier": radar_chain.fab.slug, "quantity": 3},
            ],
        ),
    )
    play_events()
    current = len(session.scalars(select(Declaration.id).where(Declaration.is_current)).all())

    whole: list[tuple[int, int]] = []
    rebuild_all(session, progress=lambda done, total: whole.append((done, total)))
    in_one = rows(session)
    session.rollback()
    monkeypatch.setattr(services, "REBUILD_BATCH", 1)
    one_by_one: list[tuple[int, int]] = []
    rebuild_all(session, progress=lambda done, total: one_by_one.append((done, total)))
    in_batches = rows(session)
    session.rollback()

    assert in_batches == in_one
    assert whole == [(current, current)]
    assert one_by_one[-1] == (current, current)
    steps = [done for done, _ in one_by_one]
    assert steps == sorted(steps) and len(steps) == current - 1  # the cycle group is one batch of two


def test_removing_superseded_rollups_keeps_the_rows_of_every_current_declaration(
    session, radar_chain, make_payload, submit, play_events
):
    newer = submit(
        radar_chain.smelter,
        make_payload(radar_chain.smelter.slug, "GA-7N", supersedes=radar_chain.ga.id),
    )
    play_events()
    before = rows(session)
    assert radar_chain.ga.id in before

    assert remove_superseded_rollups(session) == 1

    after = rows(session)
    assert set(after) == set(before) - {radar_chain.ga.id}
    assert newer.id in after
    assert all(after[i] == before[i] for i in after)
    assert remove_superseded_rollups(session) == 0
