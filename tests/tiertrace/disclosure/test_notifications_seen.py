"""What is new to a person: the count of the organisation's notifications after the newest one they have
seen (`count_new_notifications`, the web menu's badge), and the mark a page sets
(`mark_notifications_seen`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event

from tiertrace.disclosure.models import Notification
from tiertrace.disclosure.notifications import count_new_notifications, mark_notifications_seen
from tiertrace.organizations.accounts import create_user
from tiertrace.organizations.models import Organization, User

NOW = datetime(2026, 3, 10, 9, 0, 0, 123456, tzinfo=UTC)


def notify(session, organization, *moments):
    for moment in moments:
        session.add(
            Notification(organization_id=organization.id, kind="reminder", data={}, created_at=moment)
        )
    session.flush()


def test_the_count_is_of_what_came_after_the_mark_capped_and_per_organisation(session, make_org):
    members = make_org("heilong"), make_org("qinghai")
    heilong, other = (session.get(Organization, member.organization.id) for member in members)
    anna = create_user(session, heilong, "anna@heilong.example").user
    notify(session, heilong, *(NOW + timedelta(microseconds=n) for n in range(5)))
    notify(session, other, NOW + timedelta(days=1))

    assert count_new_notifications(session, anna, cap=99) == 5  # never looked: all of them
    assert count_new_notifications(session, anna, cap=3) == 4  # one more than the cap: "3+"
    mark_notifications_seen(session, anna, up_to=NOW + timedelta(microseconds=2))
    assert anna.notifications_seen_at == NOW + timedelta(microseconds=2)
    assert count_new_notifications(session, anna, cap=99) == 2  # strictly after the newest seen


def test_the_mark_never_moves_back_and_is_per_person(session, make_org):
    heilong = session.get(Organization, make_org("heilong").organization.id)
    anna = create_user(session, heilong, "anna@heilong.example").user
    ben = create_user(session, heilong, "ben@heilong.example").user
    notify(session, heilong, NOW - timedelta(hours=1), NOW)

    mark_notifications_seen(session, anna, up_to=NOW)
    mark_notifications_seen(session, anna, up_to=NOW - timedelta(hours=1))  # an older page, another tab
    session.expire_all()
    assert session.get(User, anna.id).notifications_seen_at == NOW
    assert session.get(User, ben.id).notifications_seen_at is None
    assert count_new_notifications(session, anna, cap=99) == 0
    assert count_new_notifications(session, ben, cap=99) == 2


def test_the_count_is_one_statement(session, make_org, engine):
    heilong = session.get(Organization, make_org("heilong").organization.id)
    anna = create_user(session, heilong, "anna@heilong.example").user
    notify(session, heilong, *(NOW + timedelta(seconds=n) for n in range(150)))
    mark_notifications_seen(session, anna, up_to=NOW + timedelta(seconds=9))
    statements = []

    def record(_connection, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert count_new_notifications(session, anna, cap=99) == 100
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(statements) == 1
