"""Physical ids: which set's options a resource manages, and what it must give back. Pure, no I/O.

CloudFormation hands a Delete only the physical id and the properties, so whatever a Delete needs to
know beyond the properties travels in the id. Two forms:

- ``ses-tracking-options/<set>``: options this resource created on the set (every id before 0.2).
- ``ses-tracking-options/<set>/adopted/<domain>/<policy>[/from/<set>/adopted/<domain>/<policy>]/sum/<hex>``:
  options this resource took over, with what it found (given back on Delete); ``from`` names the
  adopted set it moved away from, so that a rollback of that move returns to the same id. A sum over the
  rest makes any edit of the id an id this provider never issued.

An id that does not parse exactly is never acted on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .names import is_hostname, is_set_name

__all__ = ["PREFIX", "Found", "Issued", "parse"]

PREFIX = "ses-tracking-options"
_POLICIES = frozenset({"REQUIRE", "REQUIRE_OPEN_ONLY", "OPTIONAL"})
# SES reported no HttpsPolicy for the options found.
_UNSET = "UNSET"
_SUM_LENGTH = 16
# CloudFormation's limit on a physical id.
_MAX_LENGTH = 1024


@dataclass(frozen=True)
class Found:
    """Tracking options a set had when this resource adopted them."""

    domain: str
    policy: str | None


@dataclass(frozen=True)
class Issued:
    """What one physical id says."""

    set_name: str
    found: Found | None = None
    # The adopted set this resource moved away from; never itself has a `previous`.
    previous: Issued | None = None

    def encode(self) -> str:
        tokens = [PREFIX, *self._tokens()]
        if self.previous is not None:
            tokens += ["from", *self.previous._tokens()]
        if len(tokens) == 2:
            return "/".join(tokens)
        return "/".join([*tokens, "sum", _sum(tokens)])

    def _tokens(self) -> list[str]:
        if self.found is None:
            return [self.set_name]
        return [self.set_name, "adopted", self.found.domain, self.found.policy or _UNSET]

    def without_previous(self) -> Issued:
        return Issued(self.set_name, self.found)


def _sum(tokens: list[str]) -> str:
    return hashlib.sha256("/".join(tokens).encode()).hexdigest()[:_SUM_LENGTH]


def _one(tokens: list[str]) -> tuple[Issued, list[str]] | None:
    """One set (and what was found on it) from the head of tokens, and the rest."""
    if not tokens or not is_set_name(tokens[0]):
        return None
    if len(tokens) < 4 or tokens[1] != "adopted":
        return Issued(tokens[0]), tokens[1:]
    domain, policy = tokens[2], tokens[3]
    if not is_hostname(domain) or (policy not in _POLICIES and policy != _UNSET):
        return None
    found = Found(domain, None if policy == _UNSET else policy)
    return Issued(tokens[0], found), tokens[4:]


def parse(physical_resource_id: object) -> Issued | None:
    """What the id says, or None for an id this provider never issued (or one edited since)."""
    if not isinstance(physical_resource_id, str) or len(physical_resource_id) > _MAX_LENGTH:
        return None
    tokens = physical_resource_id.split("/")
    head = _one(tokens[1:]) if tokens[0] == PREFIX else None
    if head is None:
        return None
    issued, rest = head
    if rest[:1] == ["from"]:
        tail = _one(rest[1:])
        if tail is None or tail[0].found is None:
            return None
        issued, rest = Issued(issued.set_name, issued.found, tail[0]), tail[1]
    extended = issued.found is not None or issued.previous is not None
    if not rest:
        return None if extended else issued
    return issued if extended and rest == ["sum", _sum(tokens[:-2])] else None
