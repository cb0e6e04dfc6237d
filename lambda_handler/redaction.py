"""Keep the pre-signed ResponseURL's query, a credential, out of every log line."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["redact", "redact_logs"]

_URL_QUERY = re.compile(r"(https?://[^\s?'\"]+)\?[^\s'\"]*")


def redact(text: str) -> str:
    """Drop the query of every URL: a pre-signed ResponseURL's query is a credential."""
    return _URL_QUERY.sub(r"\1?REDACTED", text)


class _RedactUrls(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redact_logs(logger_names: Iterable[str]) -> None:
    """Filter these loggers and every handler of the root logger (Lambda's own included)."""
    for name in logger_names:
        logging.getLogger(name).addFilter(_RedactUrls())
    for root_handler in logging.getLogger().handlers:
        root_handler.addFilter(_RedactUrls())
