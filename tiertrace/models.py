"""Every table of the domain, imported in one place so that the metadata is complete (alembic, tests)."""

from tiertrace.audit.models import AuditLogEntry
from tiertrace.chains.models import Rollup
from tiertrace.db import Base
from tiertrace.declarations.models import Declaration, DeclarationComponent
from tiertrace.disclosure.models import DisclosureRequest, Notification
from tiertrace.organizations.models import ApiToken, LoginFailure, Organization, SigningKey, User
from tiertrace.outbox.models import OutboxEvent, ProcessedMessage

__all__ = [
    "ApiToken",
    "AuditLogEntry",
    "Base",
    "Declaration",
    "DeclarationComponent",
    "DisclosureRequest",
    "LoginFailure",
    "Notification",
    "Organization",
    "OutboxEvent",
    "ProcessedMessage",
    "Rollup",
    "SigningKey",
    "User",
]
