"""Domain errors. Each carries a stable machine-readable `code`; the portal maps classes to statuses."""

from __future__ import annotations

from typing import Any


class TiertraceError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class MalformedInputError(TiertraceError):
    """The input is not even of the right form (not JSON, not a DSSE envelope, bad base64)."""

    code = "malformed"


class RuleViolationError(TiertraceError):
    """Well-formed input that breaks a rule (schema, signature, reference data)."""

    code = "invalid"


class AuthenticationError(TiertraceError):
    """No credentials, or credentials that identify nobody."""

    code = "unauthenticated"


class ForbiddenError(TiertraceError):
    """The caller is known and may see the resource, but may not do this with it."""

    code = "forbidden"


class NotFoundError(TiertraceError):
    """The resource does not exist, or the caller may not see it (the two are indistinguishable)."""

    code = "not_found"


class ConflictError(TiertraceError):
    """The request contradicts stored state (a duplicate id, a version conflict)."""

    code = "conflict"
