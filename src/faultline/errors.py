"""What a domain service raises when a request cannot be satisfied, without knowing who asked.

The REST API, the web UI and the CLI all call the same services; each turns these errors into its own answer: the
API through the one mapping in `faultline.http.errors` (status, PostHog `type`/`code`), the UI into a message next
to the form control named by `attr`, the CLI into one line on stderr. So a service never raises an HTTP error, and no
handler maps a domain error by hand.

`detail` is user-facing; `attr` names the offending field (nested keys joined by `__`), or None; `code` is the
machine-readable reason when one is part of the contract (e.g. `content_hash_mismatch`, which posthog-cli reacts
to), else None for the kind's default.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal a domain service raises; catch it where any refusal is answered the same way."""

    default_detail = "Invalid input."

    def __init__(self, detail: str | None = None, attr: str | None = None, code: str | None = None) -> None:
        self.detail = detail if detail is not None else self.default_detail
        self.attr = attr
        self.code = code
        super().__init__(self.detail)

    def __str__(self) -> str:
        return self.detail


class NotFound(DomainError):
    """The object does not exist, or not for the caller (the two are not told apart)."""

    default_detail = "Not found."


class ValidationFailed(DomainError):
    """The input is not acceptable as given (a field's value, a combination of fields)."""


class Conflict(ValidationFailed):
    """The input clashes with what is stored (a hash id in use, different content under one id). PostHog answers
    these as validation errors, so they travel as one; the class says why the request was refused."""


class BadRequest(DomainError):
    """The request is malformed beyond one field's value (a required query parameter missing)."""


class PermissionDenied(DomainError):
    """The caller may not do this."""

    default_detail = "You do not have permission to perform this action."


class Unavailable(DomainError):
    """A dependency failed (storage could not sign a URL): not the caller's fault, retrying may help."""

    default_detail = "A server error occurred."
