"""Exceptions of the provider; each message is a CloudFormation failure reason."""

from __future__ import annotations

__all__ = ["InvalidPropertyError", "ProviderError", "SesOperationError"]

# CloudFormation shows at most this many characters of a reason.
MAX_REASON = 255


def shorten(text: str, limit: int = MAX_REASON) -> str:
    """Keep the head of a reason: the useful part comes first."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ProviderError(Exception):
    """A failure whose message is meant for the CloudFormation console."""

    def __init__(self, reason: str) -> None:
        super().__init__(shorten(reason))
        # Set when SES holds something this failed request created, so that the answer names it.
        self.physical_id: str | None = None


class InvalidPropertyError(ProviderError):
    """A resource property is missing or malformed; nothing was sent to SES."""


class SesOperationError(ProviderError):
    """SES refused or failed a call; the message says what to do about it, `code` is SES's error code (without
    the Exception suffix) and `detail` its message, when SES answered."""

    def __init__(self, reason: str, *, code: str | None = None, detail: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.detail = detail
