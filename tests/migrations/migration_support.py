"""What the migration tests share (importable as `migration_support`: pytest puts this folder on
sys.path): the schema of a database as its migrations left it, its rows as stored, and a set of rows
written the way the application of an older revision wrote them."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Integer, column, insert, inspect, select, table, update
from sqlalchemy.types import TypeEngine

from tiertrace import signing
from tiertrace.db import Base, UTCDateTime, make_engine
from tiertrace.organizations.services import hash_token

#: The API token of the organisation that files the declarations in `write_rows`.
TOKEN = "tt_migration-test-token_Abc123"
#: The email of the account with a password in `write_rows`.
ANNA = "anna.müller@lumen.example"
#: The types of the columns that a migration dropped, which older revisions have, per table.
DROPPED: dict[str, dict[str, TypeEngine[Any]]] = {
    "users": {"failed_logins": Integer(), "locked_until": UTCDateTime()},  # 0007
}
PRIVATE_KEY = signing.private_key_from_seed(bytes(range(32)))


def schema(url: str) -> dict[str, Any]:
    """Every table's columns (type, nullability, server default), keys, unique constraints and indexes
    (with a partial index's predicate), as the database reports them; alembic's own table left out.
    Columns by name, not in order: a downgrade adds a dropped column back at the end of its table."""
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            return {
                name: {
                    "columns": {
                        c["name"]: (str(c["type"]), c["nullable"], c["default"])
                        for c in inspector.get_columns(name)
                    },
                    "primary key": inspector.get_pk_constraint(name),
                    "foreign keys": _by_name(inspector.get_foreign_keys(name)),
                    "unique": _by_name(inspector.get_unique_constraints(name)),
                    "indexes": _by_name(inspector.get_indexes(name)),
                }
                for name in sorted(inspector.get_table_names())
                if name != "alembic_version"
            }
    finally:
        engine.dispose()


def _by_name(items: list[Any]) -> list[dict[str, Any]]:
    # A partial index's predicate is reflected as a SQL expression object: compare its text.
    return sorted(
        (
            {**item, "dialect_options": {k: str(v) for k, v in item.get("dialect_options", {}).items()}}
            for item in items
        ),
        key=lambda item: str(item["name"]),
    )


def stored(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table as the database driver returns it (no column type in between), in
    primary-key order."""
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            return {
                name: [
                    dict(row._mapping)
                    for row in connection.exec_driver_sql(
                        f"SELECT * FROM {name} ORDER BY {', '.join(c.name for c in model.primary_key)}"
                    )
                ]
                for name, model in Base.metadata.tables.items()
                if name in tables
            }
    finally:
        engine.dispose()


def seen_marks(url: str) -> list[datetime | None]:
    """users.notifications_seen_at of every account in id order, read through the model's column type
    (the driver's own values differ between SQLite and PostgreSQL)."""
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as connection:
            users = Base.metadata.tables["users"]
            return list(connection.scalars(select(users.c.notifications_seen_at).order_by(users.c.id)))
    finally:
        engine.dispose()


def write_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Write a row or two to every table the database has, with the columns it has (a newer column
    left out), through the model's column types; returns them, generated ids included.

    Tricky values throughout: text beyond ASCII and with line breaks, microseconds, NULLs, a float
    that binary cannot represent exactly, the envelope's exact bytes, nested JSON, a superseded version
    beside the current one (the partial unique index), a request that a declaration answers.
    """
    engine = make_engine(url, pool=False)
    try:
        with engine.begin() as connection:
            return _Writer(connection).write()
    finally:
        engine.dispose()


def at(day: int, microsecond: int = 0) -> datetime:
    return datetime(2026, 3, day, 9, 30, 15, microsecond, tzinfo=UTC)


class _Writer:
    def __init__(self, connection: Connection):
        self.connection = connection
        inspector = inspect(connection)
        self.present = {
            name: {c["name"] for c in inspector.get_columns(name)} for name in inspector.get_table_names()
        }
        self.nullable = {
            (name, c["name"])
            for name in inspector.get_table_names()
            for c in inspector.get_columns(name)
            if c["nullable"]
        }
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def add(self, name: str, /, **values: Any) -> dict[str, Any]:
        """Insert a row into `name` (what the table does not have (yet or any more) left out); returns it
        with its ids."""
        row = {key: value for key, value in values.items() if key in self.present.get(name, ())}
        if name not in self.present:
            return row
        model = Base.metadata.tables[name]
        types = {**DROPPED.get(name, {}), **{c.name: c.type for c in model.columns}}
        clause = table(name, *(column(c, types[c]) for c in self.present[name]))
        generated = [c.name for c in model.primary_key if c.name not in row]
        statement = insert(clause).values(row)
        if generated:
            row.update(
                self.connection.execute(statement.returning(*(clause.c[g] for g in generated))).one()._mapping
            )
        else:
            self.connection.execute(statement)
        self.rows.setdefault(name, []).append(row)
        return row

    def set(self, name: str, row: dict[str, Any], /, **values: Any) -> None:
        """Update `row` of `name` (by its "id") in the database and in the rows returned."""
        model = Base.metadata.tables[name]
        clause = table(name, column("id"), *(column(key, model.c[key].type) for key in values))
        self.connection.execute(update(clause).where(clause.c.id == row["id"]).values(**values))
        row.update(values)

    def write(self) -> dict[str, list[dict[str, Any]]]:
        public_key = signing.public_key_raw(PRIVATE_KEY)
        keyid = signing.keyid_for(public_key)
        lumen = self.add(
            "organizations",
            slug="lumen-compound",
            name="Lümen Compound — Halbleiter GmbH",
            country="DE",
            kind="company",
            webhook_url="https://hooks.lumen.example/tiertrace?x=1&y=ß",
            webhook_secret="whsec_0123456789",
            created_at=at(1, 123456),
        )
        yard = self.add(
            "organizations",
            slug="noordhaven",
            name="Noordhaven Naval Yards B.V.",
            country="NL",
            kind="company",
            webhook_url=None,
            webhook_secret=None,
            created_at=at(1, 999999),
        )
        ministry = self.add(
            "organizations",
            slug="mod-nl",
            name="Ministerie van Defensie",
            country="NL",
            kind="authority",
            webhook_url=None,
            webhook_secret=None,
            created_at=at(2),
        )
        self.add(
            "signing_keys",
            keyid=keyid,
            organization_id=lumen["id"],
            public_key=public_key,
            created_at=at(2, 1),
            revoked_at=None,
        )
        self.add(
            "api_tokens",
            organization_id=lumen["id"],
            token_hash=hash_token(TOKEN),
            label="ERP «Einkauf»",
            created_at=at(2, 2),
            revoked_at=None,
        )
        self.add(
            "api_tokens",
            organization_id=yard["id"],
            token_hash=hashlib.sha256(b"old").hexdigest(),
            label="",
            created_at=at(2, 3),
            revoked_at=at(3, 4),
        )
        # Before 0007, an account with failed logins and a lock, which the upgrade drops.
        anna = self.add(
            "users",
            organization_id=lumen["id"],
            email=ANNA,
            password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g",
            invite_hash=None,
            created_at=at(3, 5),
            failed_logins=2,
            locked_until=at(4, 6),
            session_epoch=4,
            notifications_seen_at=at(10, 15),
        )
        self.add(
            "users",
            organization_id=yard["id"],
            email="piet@noordhaven.example",
            password_hash=None,
            invite_hash="ab" * 32,
            created_at=at(3, 7),
            failed_logins=0,
            locked_until=None,
            session_epoch=0,
            notifications_seen_at=None,
        )
        request = self.add(
            "disclosure_requests",
            id=str(uuid.uuid4()),
            requester_id=yard["id"],
            supplier_id=lumen["id"],
            part_number="GaN-HEMT-6",
            program="F-126",
            status="answered",
            due_date=date(2026, 5, 31),
            message="Bitte bis Ende Mai.\nZweite Zeile: Ga, In, Ge",
            parent_id=None,
            declaration_id=None,
            source_declaration_id=None,
            decline_reason=None,
            created_at=at(5, 8),
            answered_at=at(9, 9),
            overdue_at=None,
            reminded_at=at(6, 10),
            escalated_at=None,
        )
        old = self._declaration(lumen, keyid, "GaN-HEMT-6", request_id=None, supersedes=None, day=6)
        self.set("declarations", old, is_current=False)
        new = self._declaration(lumen, keyid, "GaN-HEMT-6", request_id=request["id"], supersedes=old, day=10)
        self.set("declarations", old, superseded_by_id=new["id"])
        self.set("disclosure_requests", request, declaration_id=new["id"])
        child = self.add(
            "disclosure_requests",
            id=str(uuid.uuid4()),
            requester_id=lumen["id"],
            supplier_id=yard["id"],
            part_number="EPI-WAFER",
            program=None,
            status="overdue",
            # Before 0006, a request without a due date (only SQL by hand made one).
            due_date=None if ("disclosure_requests", "due_date") in self.nullable else date(2026, 4, 10),
            message=None,
            parent_id=request["id"],
            declaration_id=None,
            source_declaration_id=new["id"],
            decline_reason=None,
            created_at=at(10, 11),
            answered_at=None,
            overdue_at=at(20, 12),
            reminded_at=None,
            escalated_at=at(27, 13),
        )
        self.add(
            "declaration_components",
            declaration_id=new["id"],
            position=0,
            part_number="EPI-WAFER",
            supplier_id=yard["id"],
            quantity=0.1,
            request_disclosure=True,
            disclose_to="requester",
        )
        self.add(
            "declaration_components",
            declaration_id=new["id"],
            position=1,
            part_number="BOND-WIRE Au",
            supplier_id=None,
            quantity=1e-9,
            request_disclosure=False,
            disclose_to="authority",
        )
        self.add(
            "rollups",
            declaration_id=new["id"],
            computed_at=at(10, 14),
            generation=3,
            data={"materials": {"Ga": {"mass_g": 0.1, "countries": {"CN": 0.7, "DE": 0.3}}}, "gaps": []},
        )
        self.add(
            "notifications",
            id=str(uuid.uuid4()),
            organization_id=yard["id"],
            kind="request.created",
            request_id=child["id"],
            data={"part_number": "EPI-WAFER", "from": "Lümen"},
            created_at=at(10, 15),
            delivered_at=None,
            delivery_attempts=2,
            next_attempt_at=at(10, 16),
        )
        self.add(
            "audit_log",
            organization_id=ministry["id"],
            action="declaration.read",
            subject=new["id"],
            details={"via": "cli:operator", "fields": ["materials", "origin"]},
            created_at=at(11, 17),
        )
        self.add(
            "outbox_events",
            message_id=str(uuid.uuid4()),
            type="request.created",
            version=1,
            payload={"request_id": child["id"]},
            created_at=at(10, 18),
            sent_at=None,
        )
        self.add(
            "outbox_events",
            message_id=str(uuid.uuid4()),
            type="declaration.accepted",
            version=1,
            payload={"declaration_id": new["id"]},
            created_at=at(10, 19),
            sent_at=at(10, 20),
        )
        self.add(
            "processed_messages", consumer="merge", message_id=str(uuid.uuid4()), processed_at=at(10, 21)
        )
        self.add("login_failures", address="2001:db8::1", failed_at=at(12, 22), user_id=None)
        # From 0007 on, a failure at an account names it.
        self.add("login_failures", address="203.0.113.7", failed_at=at(12, 23), user_id=anna["id"])
        return self.rows

    def _declaration(
        self,
        issuer: dict[str, Any],
        keyid: str,
        part: str,
        *,
        request_id: str | None,
        supersedes: dict[str, Any] | None,
        day: int,
    ) -> dict[str, Any]:
        payload = {
            "id": str(uuid.uuid4()),
            "issuer": issuer["slug"],
            "issued_at": f"2026-03-{day:02d}T08:00:00Z",
            "in_response_to": request_id,
            "supersedes": supersedes["id"] if supersedes else None,
            "part": {"number": part, "name": "GaN-Transistor 6 mm", "unit": "piece"},
            "materials": [{"material": "Ga", "mass_g": 0.1, "origin": [{"country": "CN", "share": 0.7}]}],
            "components": [],
            "statement": "Nach bestem Wissen.",
        }
        envelope = signing.sign_payload(json.dumps(payload, ensure_ascii=False).encode("utf-8"), PRIVATE_KEY)
        return self.add(
            "declarations",
            id=payload["id"],
            issuer_id=issuer["id"],
            keyid=keyid,
            part_number=part,
            part_name="GaN-Transistor 6 mm",
            program="F-126",
            in_response_to=request_id,
            supersedes_id=payload["supersedes"],
            superseded_by_id=None,
            is_current=True,
            envelope=envelope,
            envelope_sha256=hashlib.sha256(envelope).hexdigest(),
            payload=payload,
            issued_at=datetime(2026, 3, day, 8, tzinfo=UTC),
            accepted_at=at(day, 500000),
        )
