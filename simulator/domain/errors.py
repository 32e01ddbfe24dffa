"""Domain errors: a stable snake_case code, a human message and machine-readable details.

They carry no HTTP status; `simulator.api.errors` maps each code to one (the one table).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule refused the operation; nothing was changed."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


def not_found(kind: str, ident: object) -> DomainError:
    """Unknown object; another tenant's object is indistinguishable from a missing one."""
    return DomainError(f"unknown_{kind}", f"{kind} {ident!r} not found")


def invalid(field: str, message: str) -> DomainError:
    """Input that passed the wire schema but breaks a business-level shape rule."""
    return DomainError("invalid_request", f"{field}: {message}", {"field": field})
