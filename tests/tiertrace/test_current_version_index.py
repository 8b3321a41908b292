"""Looking up a part's current version uses the one-current-version index, whatever the issuer filed.

The lookup runs on every submission. Written with `.is_(True)` it read "IS 1" / "IS true", which
neither SQLite nor PostgreSQL matches with the partial index: both scanned every declaration of
the issuer instead, slower with every declaration filed.
"""

from __future__ import annotations

from sqlalchemy import text

from tiertrace.declarations.services import _CURRENT

INDEX = "uq_declarations_current_part"


def _plan(session) -> str:
    connection = session.connection()
    statement = _CURRENT.compile(dialect=connection.dialect)
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", (1, "MMIC-7")).all()
        return "\n".join(str(row[-1]) for row in rows)
    # A near-empty table is cheapest to scan: forbid that, so the plan shows which index can serve.
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    params = {"issuer_id": 1, "part_number": "MMIC-7"}
    return "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", params))


def test_the_current_version_lookup_uses_the_partial_unique_index(session_factory):
    with session_factory() as session:
        plan = _plan(session)
    assert INDEX in plan, plan
