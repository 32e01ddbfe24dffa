"""What a control call raises: `ControlError`, carrying the simulator's error envelope.

The control API answers every error with `{"status", "error", "message", "details"}`
(wire-contract §1); the exception keeps each part, so a test or a CLI can match on the
stable `error` code and show the `message` as it is.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx
from pydantic import ValidationError


class HttpResponse(Protocol):
    """What the client reads of an answer (an httpx.Response, or any look-alike)."""

    @property
    def status_code(self) -> int: ...
    @property
    def is_error(self) -> bool: ...
    @property
    def content(self) -> bytes: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


class ControlError(Exception):
    """A control call that failed: `status` (HTTP status; 0 when no answer came), `error`
    (the stable snake_case code, e.g. `unknown_campaign`), `message` (for people),
    `details` (the envelope's details, or None), and the `method` and `path` called."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(f"{method} {path}: {status} {error}: {message}".strip())
        self.status = status
        self.error = error
        self.message = message
        self.details = details
        self.method = method
        self.path = path

    @property
    def envelope(self) -> dict[str, Any]:
        """The error body as the simulator sent it."""
        out: dict[str, Any] = {"status": self.status, "error": self.error, "message": self.message}
        if self.details is not None:
            out["details"] = self.details
        return out


class InvalidInput(ControlError):
    """400: the request broke the control API's input rules (the message names the field);
    also raised before sending when the client's own request model refuses a value."""


class Unauthorized(ControlError):
    """401 or 403: no key, an unknown key, or a key that is not the tenant's admin key."""


class NotFound(ControlError):
    """404: an unknown campaign, customer, delivery or tenant."""


class Conflict(ControlError):
    """409: a rule refused the call (e.g. executing a campaign that is already cleared)."""


class Unreachable(ControlError):
    """No answer: the simulator is not listening there, or it did not answer in time."""


_CLASSES: dict[int, type[ControlError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    409: Conflict,
}


def from_response(response: HttpResponse, method: str, path: str) -> ControlError:
    """The exception for an error answer: its envelope, or (for a body that is not one,
    e.g. from a proxy in between) the status and the start of the body."""
    status = response.status_code
    cls = _CLASSES.get(status, ControlError)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        details = body.get("details")
        return cls(
            status,
            body["error"],
            str(body.get("message", "")),
            details if isinstance(details, dict) else None,
            method=method,
            path=path,
        )
    text = body if isinstance(body, str) else response.text[:300]
    return cls(status, "http_error", text, method=method, path=path)


def unreachable(url: str, exc: httpx.HTTPError, method: str, path: str) -> Unreachable:
    return Unreachable(
        0,
        "unreachable",
        f"no answer from the simulator at {url}: {type(exc).__name__}: {exc}",
        method=method,
        path=path,
    )


def invalid_input(exc: ValidationError, method: str, path: str) -> InvalidInput:
    """A request model refused a value before anything was sent (named like the server's
    `invalid_request` messages: `field: problem`)."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    return InvalidInput(
        400,
        "invalid_request",
        f"{field}: {first['msg']}",
        {"field": field, "checkedBy": "client"},
        method=method,
        path=path,
    )
