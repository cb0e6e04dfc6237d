"""One CloudFormation event's operation, as one immutable value: the event, when CloudFormation sent it, and
what the operation has done at SES so far. It is made from the event, passed down explicitly, stored in the
provider's table between invocations, and encoded and decoded by the two mirrored functions below.

The journal records each SES call the operation made and what it answered, in order. An operation that waits
in the queue, or that a fresh invocation takes over after a crash, runs its decisions again from the start:
every recorded call is answered from the journal, not sent again, so that SES is changed once whatever
happens between invocations.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .budget import EVENT_MARGIN, SERVICE_TIMEOUT

__all__ = ["Operation", "Recorded", "sent_at"]


@dataclass(frozen=True)
class Recorded:
    """One SES call the operation made: its action, the set, what SES answered (JSON), and whether it changed
    anything there."""

    action: str
    set_name: str
    outcome: Any
    changed: bool


def sent_at(response_url: object, now: float) -> float:
    """When CloudFormation sent the event: its ResponseURL is pre-signed at that moment (X-Amz-Date). An event
    Lambda delivers late (its asynchronous queue, a retry) is counted from then, as CloudFormation counts it."""
    try:
        stamp = parse_qs(urlsplit(str(response_url)).query)["X-Amz-Date"][0]
        signed = float(calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ")))
    except (KeyError, IndexError, ValueError):
        return now
    return min(signed, now)


@dataclass(frozen=True)
class Operation:
    event: Mapping[str, Any]
    first_seen: float
    journal: tuple[Recorded, ...] = ()
    # Taken over from an invocation that stopped without handing it on: its last call may have been applied.
    resumed: bool = False
    # Incremented each time the operation is stored.
    version: int = 0
    _service_timeout: float = field(default=float(SERVICE_TIMEOUT), compare=False)

    @classmethod
    def from_event(cls, event: Mapping[str, Any], now: float) -> Operation:
        properties = event.get("ResourceProperties")
        timeout = float(SERVICE_TIMEOUT)
        if isinstance(properties, Mapping):
            try:
                timeout = min(float(properties.get("ServiceTimeout", SERVICE_TIMEOUT)), SERVICE_TIMEOUT)
            except (TypeError, ValueError):
                timeout = SERVICE_TIMEOUT
        return cls(dict(event), sent_at(event.get("ResponseURL"), now), _service_timeout=timeout)

    def __repr__(self) -> str:
        # Never the event: its ResponseURL is a credential.
        return f"Operation({self.request_type} {self.request_id} for {self.logical_id}, {len(self.journal)} calls)"

    @property
    def request_id(self) -> str:
        return str(self.event["RequestId"])

    @property
    def request_type(self) -> str:
        return str(self.event["RequestType"])

    @property
    def logical_id(self) -> str:
        return str(self.event["LogicalResourceId"])

    @property
    def physical_id(self) -> str:
        return str(self.event.get("PhysicalResourceId", ""))

    @property
    def deadline(self) -> float:
        """When the answer is due at the latest: the ServiceTimeout after CloudFormation sent the event, less a
        margin to deliver it."""
        return self.first_seen + self._service_timeout - EVENT_MARGIN

    @property
    def abandoned_at(self) -> float:
        """When CloudFormation stops waiting: from then on the operation must change nothing."""
        return self.first_seen + self._service_timeout

    def recorded(self, entry: Recorded) -> Operation:
        return replace(self, journal=(*self.journal, entry))

    def stored(self) -> Operation:
        return replace(self, version=self.version + 1)

    def taken_over(self) -> Operation:
        return replace(self, resumed=True)

    def encode(self) -> str:
        return json.dumps(
            {
                "event": dict(self.event),
                "firstSeen": self.first_seen,
                "serviceTimeout": self._service_timeout,
                "journal": [[e.action, e.set_name, e.outcome, e.changed] for e in self.journal],
                "resumed": self.resumed,
                "version": self.version,
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, text: str) -> Operation:
        """The operation encode() wrote; ValueError for anything else."""
        try:
            data = json.loads(text)
            journal = tuple(Recorded(str(a), str(s), o, bool(c)) for a, s, o, c in data["journal"])
            event = dict(data["event"])
            return cls(
                event,
                float(data["firstSeen"]),
                journal,
                bool(data["resumed"]),
                int(data["version"]),
                _service_timeout=float(data["serviceTimeout"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            msg = f"not a stored operation: {type(error).__name__}"
            raise ValueError(msg) from error
