"""What SES accepts as names: the one home of these rules, for the function and the construct alike.

Pure Python with no dependencies, so that the construct can import it at synth time (no call into
CDK's JavaScript) and the function runs it without CDK.
"""

from __future__ import annotations

import re

__all__ = ["MAX_DOMAIN_LENGTH", "MAX_SET_NAME_LENGTH", "is_hostname", "is_set_name", "labels_are_valid"]

MAX_SET_NAME_LENGTH = 64
MAX_DOMAIN_LENGTH = 253

_SET_NAME = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_SET_NAME_LENGTH}}}")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def is_set_name(name: str) -> bool:
    """Letters, digits, '_' and '-', 1 to 64 of them; never true of a CDK token."""
    return _SET_NAME.fullmatch(name) is not None


def labels_are_valid(domain: str) -> bool:
    """Two or more labels of letters, digits and inner '-', the last not all digits (not an IP address)."""
    labels = domain.split(".")
    return len(labels) >= 2 and all(_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit()


def is_hostname(domain: str) -> bool:
    """An ASCII hostname of two or more labels, not an IP address; never true of a CDK token."""
    return domain.isascii() and len(domain) <= MAX_DOMAIN_LENGTH and labels_are_valid(domain)
