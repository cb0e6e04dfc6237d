"""Delivering the answer to CloudFormation's pre-signed ResponseURL, in time and with retries."""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable
from http.client import HTTPSConnection
from typing import Any
from urllib.parse import urlsplit

from .budget import ANSWER_TIMEOUT

__all__ = ["https_target", "put_answer"]

logger = logging.getLogger(__name__)

_ATTEMPTS = 8


def https_target(url: object) -> tuple[str, int | None, str] | None:
    """Host, port and request target of an https URL, or None."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or not parts.hostname:
        return None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, port, target


def put_answer(response_url: str, body: dict[str, Any], time_left: Callable[[], float]) -> bool:
    """PUT the answer with a timeout, retrying refusals, resets, 429 and 5xx until the deadline nears; whether
    CloudFormation took it.

    crhelper counts any HTTP status as delivered and sets no timeout.
    """
    parts = https_target(response_url)
    if parts is None:
        logger.error("The event has no usable ResponseURL; no answer can be sent")
        return False
    host, port, target = parts
    data = json.dumps(body).encode()
    context = ssl.create_default_context()
    delay = 0.5
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            connection = HTTPSConnection(host, port, timeout=ANSWER_TIMEOUT, context=context)
            try:
                connection.request("PUT", target, body=data, headers={"Content-Type": ""})
                status = connection.getresponse().status
            finally:
                connection.close()
        except OSError as error:
            problem = type(error).__name__
        else:
            if status < 300:
                logger.info("CloudFormation took the %s answer (HTTP %d)", body.get("Status"), status)
                return True
            if status < 500 and status != 429:
                # Past its expiry the pre-signed URL refuses (403): CloudFormation has stopped waiting.
                logger.error("CloudFormation refused the answer with HTTP %d", status)
                return False
            problem = f"HTTP {status}"
        if time_left() < delay + ANSWER_TIMEOUT + 1:
            break
        logger.warning("Answer not delivered (attempt %d: %s); retrying in %.1f s", attempt, problem, delay)
        time.sleep(delay)
        delay = min(delay * 2, 4.0)
    logger.error("Gave up delivering the answer to CloudFormation")
    return False
