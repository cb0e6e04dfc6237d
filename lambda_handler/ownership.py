"""Who in this stack holds a configuration set's tracking options. Pure, no I/O: the record lives in the provider's
table (store.py), one per set, and changes only with the answer of the request that changed SES.

SES keeps no record of who set a set's options, and CloudFormation gives a resource only its own physical id and
properties. So when two resources of one stack touch the same set, as every refactor that changes a logical id
does (a renamed construct, one moved into another: CloudFormation Creates the new logical id, then Deletes the
old one in its cleanup phase, or Deletes the new one if the update rolls back), the provider asks its record:

- a Create on a set that another resource of this stack holds takes the options over in place (never a moment
  without them), and remembers that resource among those it took them from;
- a Delete of a resource that no longer holds the set changes nothing at SES, and forgets that resource;
- a Delete of the holder gives the options back to the resource it took them from, if that one is still there
  (a rollback), else removes them, or gives back what was found before the first adoption.

Only this stack's resources are ever recorded: a provider's table is its stack's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["Holder", "Ownership", "SetOwnership"]


@dataclass(frozen=True)
class Holder:
    """One resource of the stack, as it holds (or held) a set's options: its ids and what it declares; `created`,
    when CloudFormation sent the Create that recorded it (None when an Update did, or before 0.3.0)."""

    logical_id: str
    physical_id: str
    domain: str
    policy: str | None
    created: float | None = None

    def is_resource(self, logical_id: str, physical_id: str) -> bool:
        return (self.logical_id, self.physical_id) == (logical_id, physical_id)


@dataclass(frozen=True)
class Ownership:
    """The resource holding a set's options, and those of this stack it took them from, latest first: a rollback
    of the update that made the holder deletes it, and the options go back to the first of them."""

    holder: Holder
    handed: tuple[Holder, ...] = ()

    def taken_by(self, holder: Holder) -> Ownership:
        """The options taken over by `holder` (or kept by it: the same logical id, a retry or a move back)."""
        earlier = (self.holder, *self.handed) if self.holder.logical_id != holder.logical_id else self.handed
        return Ownership(holder, tuple(h for h in earlier if h.logical_id != holder.logical_id))

    def without(self, logical_id: str, physical_id: str) -> Ownership:
        """A resource that handed the options on, gone: it is not given them back."""
        return Ownership(self.holder, tuple(h for h in self.handed if not h.is_resource(logical_id, physical_id)))

    def encode(self) -> str:
        return json.dumps([_holder(self.holder), [_holder(h) for h in self.handed]], separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> Ownership:
        """The ownership encode() wrote; ValueError for anything else."""
        try:
            holder, handed = json.loads(text)
            return cls(_read(holder), tuple(_read(h) for h in handed))
        except (TypeError, ValueError, KeyError) as error:
            msg = f"not a recorded ownership: {type(error).__name__}"
            raise ValueError(msg) from error


def _holder(holder: Holder) -> list[str | float | None]:
    fields: list[str | float | None] = [holder.logical_id, holder.physical_id, holder.domain, holder.policy]
    return fields if holder.created is None else [*fields, holder.created]


def _read(fields: list[str | float | None]) -> Holder:
    logical_id, physical_id, domain, policy, *rest = fields
    if not isinstance(logical_id, str) or not isinstance(physical_id, str) or not isinstance(domain, str):
        raise TypeError
    created = rest[0] if rest and isinstance(rest[0], int | float) else None
    return Holder(logical_id, physical_id, domain, policy if isinstance(policy, str) else None, created)


@dataclass(frozen=True)
class SetOwnership:
    """A set's record as a request leaves it, written with the request's answer: None when no resource of the
    stack holds the set's options any longer."""

    set_name: str
    ownership: Ownership | None
