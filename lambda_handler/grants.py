"""A denied call is tried again for a while: IAM is eventually consistent.

"Changes that I make are not always immediately visible" (IAM User Guide, Troubleshoot general issues): a
permission granted by the same deploy (a policy updated in the stack's UPDATE_IN_PROGRESS) may be denied for a
few seconds after CloudFormation has finished updating it. Every AWS call the function makes is granted by its
template, so a denial is tried again after 1 s, 2 s, 4 s, ... until ACCESS_DENIED_GRACE after the first one;
a permission that is really missing (an SCP, a boundary, an edited role) still fails within seconds.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

__all__ = ["ACCESS_DENIED_GRACE", "is_denied", "pause_after_denial"]

ACCESS_DENIED_GRACE = 10.0
# SES v1 answers AccessDenied; SES v2, DynamoDB and Lambda AccessDeniedException.
_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


def is_denied(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code", "")) in _DENIED_CODES


def pause_after_denial(denials: int, denied_for: float) -> float:
    """How long to wait before trying the call denied `denials` times, the first `denied_for` seconds ago: 0 once
    the grace is over."""
    return max(0.0, min(2.0 ** (denials - 1), ACCESS_DENIED_GRACE - denied_for))
