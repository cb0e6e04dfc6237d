"""What may have one owner in an app: a configuration set's tracking options, the records of a domain in a hosted
zone, a CloudFront alternate domain name, a log group's name. A second owner of one of them synthesizes, then fails
at deploy (or the two overwrite each other), so the construct that claims it second is refused at synth.

Some are unique in all of AWS, others in a region of an account (`Unique`): two claims on one of the latter clash
only where the two stacks may deploy to the same account and region, a part unknown at synth (an environment-
agnostic stack) being possibly anything. Claims are per app (the root of the construct tree): another app is not
seen, and a construct removed from the tree before synthesis (a refactor within one app) no longer holds its claims.
"""

from __future__ import annotations

import enum
import weakref
from dataclasses import dataclass

from aws_cdk import Stack, Token
from constructs import Construct, IConstruct

__all__ = ["Claim", "Claims", "Environment", "Unique"]


class Unique(enum.Enum):
    """Where one of a kind may exist only once."""

    IN_REGION = "in a region of an account"  # a set's tracking options, a log group's name
    IN_AWS = "in all of AWS"  # a CloudFront alternate domain name; records in a zone, named by its id


@dataclass(frozen=True)
class Environment:
    """A stack's account and region, each None when unknown at synth."""

    account: str | None
    region: str | None

    @classmethod
    def of(cls, stack: Stack) -> Environment:
        found = _ENVIRONMENTS.get(stack)
        if found is None:
            account, region = stack.account, stack.region
            found = cls(
                None if Token.is_unresolved(account) else account, None if Token.is_unresolved(region) else region
            )
            _ENVIRONMENTS[stack] = found
        return found

    def may_share(self, other: Environment, unique: Unique) -> bool:
        """Whether the two may be the same place for something unique there."""
        if unique is Unique.IN_AWS:
            return True
        pairs = ((self.account, other.account), (self.region, other.region))
        return all(mine is None or theirs is None or mine == theirs for mine, theirs in pairs)

    def __str__(self) -> str:
        if self.account is None and self.region is None:
            return "environment-agnostic"
        return f"account {self.account or 'unknown'}, region {self.region or 'unknown'}"


@dataclass(frozen=True)
class Claim:
    owner: Construct
    environment: Environment


def _in_tree(construct: Construct) -> bool:
    """Whether the construct is still reachable from its root (try_remove_child detaches a subtree)."""
    current: IConstruct = construct
    while (parent := current.node.scope) is not None:
        if parent.node.try_find_child(current.node.id) is not current:
            return False
        current = parent
    return True


class Claims:
    """One app's claims, by what is claimed (a kind, such as "configuration set", and a key, such as its name)."""

    @classmethod
    def of(cls, stack: Stack) -> Claims:
        # By stack first: a construct's synthesis pays a call into CDK's JavaScript for each look at the tree.
        found = _BY_STACK.get(stack)
        if found is None:
            root = stack.node.root
            found = _BY_APP.get(root)
            if found is None:
                found = _BY_APP[root] = cls()
            _BY_STACK[stack] = found
        return found

    def __init__(self) -> None:
        self._claims: dict[tuple[str, str], list[Claim]] = {}

    def clash(self, kind: str, key: str, environment: Environment, unique: Unique) -> Claim | None:
        """The claim already made on this where `environment` may be the same place, if any."""
        held = self._claims.get((kind, key))
        if not held:
            return None
        held[:] = [claim for claim in held if _in_tree(claim.owner)]
        return next((claim for claim in held if claim.environment.may_share(environment, unique)), None)

    def add(self, kind: str, key: str, owner: Construct, environment: Environment) -> None:
        self._claims.setdefault((kind, key), []).append(Claim(owner, environment))


_BY_APP: weakref.WeakKeyDictionary[IConstruct, Claims] = weakref.WeakKeyDictionary()
_BY_STACK: weakref.WeakKeyDictionary[Stack, Claims] = weakref.WeakKeyDictionary()
_ENVIRONMENTS: weakref.WeakKeyDictionary[Stack, Environment] = weakref.WeakKeyDictionary()
