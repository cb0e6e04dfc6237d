"""The provider's calls as they look on the wire, for faults aimed at one of them: each named call as (operation,
a part of the request body only that call has). Used by tests/test_exactly_once.py and tests/test_artifact.py."""

from __future__ import annotations

CALLS: dict[str, tuple[str, bytes]] = {
    "claim of the request": ("PutItem", b'"attribute_not_exists(pk)"'),
    "take of the SES lane": ("UpdateItem", b"#until = :until"),
    "record of what SES did": ("UpdateItem", b"version = :version"),
    # With the set's record of ownership (and, straight at SES, the lane let go), in one transaction.
    "record of the answer": ("TransactWriteItems", b":answered"),
    "record of the delivery": ("UpdateItem", b"delivered = :yes"),
    "release of the SES lane": ("UpdateItem", b"REMOVE holder"),
    "SES's Create": ("CreateConfigurationSetTrackingOptions", b""),
    "SES's Put": ("PutConfigurationSetTrackingOptions", b""),
    "queueing of the request": ("UpdateItem", b":queued"),
    "message to the queue": ("SendMessage", b""),
    "take of the queued request": ("UpdateItem", b":running"),
}
# The calls of a request run straight at SES (the answer recorded and the lane let go in one transaction), and
# of one that waits in the queue (its worker records each answer, and lets the lane go after the batch).
STRAIGHT = (
    "claim of the request",
    "take of the SES lane",
    "record of what SES did",
    "record of the answer",
    "record of the delivery",
    "SES's Create",
    "SES's Put",
)
QUEUED = (
    "claim of the request",
    "take of the SES lane",
    "queueing of the request",
    "message to the queue",
    "take of the queued request",
    "record of what SES did",
    "record of the answer",
    "release of the SES lane",
    "record of the delivery",
    "SES's Create",
    "SES's Put",
)
