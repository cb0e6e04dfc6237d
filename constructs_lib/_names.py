"""What SES accepts as names, checked in plain Python (no call into CDK's JavaScript)."""

from __future__ import annotations

import re

_SET_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def is_set_name(name: str) -> bool:
    """Letters, digits, '_' and '-', 1 to 64 of them; never true of a CDK token."""
    return _SET_NAME.fullmatch(name) is not None


def is_hostname(domain: str) -> bool:
    """An ASCII hostname of two or more labels, not an IP address; never true of a CDK token."""
    labels = domain.split(".")
    return (
        domain.isascii()
        and len(domain) <= 253
        and len(labels) >= 2
        and all(_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )
