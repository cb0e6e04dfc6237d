"""The provider's own DynamoDB table: one record per CloudFormation request (its operation, who runs it, its
answer once decided) and the SES lane (pacing.py). Every write is conditional and recognises itself: a write
that DynamoDB applied but whose answer was lost, and that botocore therefore sent again, finds its own holder
token (or version) in the item the failed condition returns (ReturnValuesOnConditionCheckFailure), and counts
as done.

A request's record makes each event run once: its first delivery claims it; a duplicate finds it claimed,
queued or answered and leaves it; a delivery after the invocation running it stopped (a crash, a timeout:
its lease has run out) takes it over, with what it had done.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from botocore.config import Config

from . import long_lived
from .budget import CONNECT_TIMEOUT, RECORD_LIFETIME, SERVICE_TIMEOUT, STORE_READ_TIMEOUT
from .grants import until_granted
from .operation import Operation
from .ownership import Ownership, SetOwnership
from .pacing import LaneState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["Answer", "Claim", "DynamoStore", "Found", "Store"]

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=CONNECT_TIMEOUT,
    read_timeout=STORE_READ_TIMEOUT,
    user_agent_extra="cdk-ses-tracking-options",
)
_LANE = {"pk": {"S": "lane"}}
# The lane item's attribute for each cancelled Create: its logical id after this prefix, the Delete's time.
_CANCELLED = "cancelled/"
# Stale marks removed at most per release of the lane: an UpdateExpression holds 4 KB at most ("Constraints in
# Amazon DynamoDB", Expression parameters), and every mark removed adds its placeholder to it.
_STALE_PER_RELEASE = 10


@dataclass(frozen=True)
class Answer:
    """What CloudFormation is told, decided once."""

    status: str
    physical_id: str
    reason: str = ""
    data: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> str:
        return json.dumps({"s": self.status, "p": self.physical_id, "r": self.reason, "d": dict(self.data)})

    @classmethod
    def decode(cls, text: str) -> Answer:
        data = json.loads(text)
        return cls(str(data["s"]), str(data["p"]), str(data["r"]), {str(k): str(v) for k, v in data["d"].items()})


class Found(Enum):
    """What a claim on a request's record found, for the caller to act on."""

    OURS = "ours"  # the caller runs `operation`: new, queued for it, or taken over from a holder that stopped
    ANSWERED = "answered"  # decided: `operation`, `answer`, `delivered`, and `until` when its holder's lease ran out
    QUEUED = "queued"  # waiting in the queue, for a worker to take
    BUSY = "busy"  # another invocation runs it, `until` its lease ends
    MISSING = "missing"  # no record (a message for a request the table does not know)


@dataclass(frozen=True)
class Claim:
    found: Found
    operation: Operation | None = None
    answer: Answer | None = None
    delivered: bool = False
    until: float = 0.0


class Store(Protocol):
    """The provider's table as the flows use it; DynamoStore is it on DynamoDB, bench/simulation.py in memory."""

    def claim(self, operation: Operation, holder: str, lease: float, now: float) -> Claim:
        """A delivery of the event: claim the request's record, or say who has it."""

    def take(self, request_id: str, holder: str, lease: float, now: float) -> Claim:
        """A worker takes a queued request (or one whose holder stopped)."""

    def save(self, operation: Operation, holder: str, *, queued: bool) -> Operation | None:
        """Store what the operation has done (and, queued, let it go to the queue); None if it is no longer ours."""

    def answer(
        self,
        operation: Operation,
        holder: str,
        answer: Answer,
        *,
        recorded: SetOwnership | None = None,
        releasing: LaneState | None = None,
        cancelling: tuple[str, float] | None = None,
        now: float = 0,
    ) -> bool:
        """Record the answer before it is sent, with the record of the set it changed; False if the request is
        no longer ours (nothing written then). `releasing`: the lane this invocation holds, let go in the same
        write, with the pacing the next holder starts from. `cancelling`: a cancelled Create's logical id and
        its Delete's time, kept in the lane in the same write (run.py)."""

    def cancel(self, logical_id: str, at: float) -> None:
        """Tell the operations that read the lane from now on that this resource's Create was cancelled."""

    def ownership(self, set_name: str) -> Ownership | None:
        """Who in the stack holds the set's tracking options, as the last answered request left it."""

    def delivered(self, request_id: str) -> None:
        """The answer reached CloudFormation."""

    def expire(self, request_id: str, holder: str, now: float) -> None:
        """End the holder's lease now: the next delivery, or the worker, takes the request over."""

    def take_lane(self, holder: str, now: float, until: float) -> LaneState | float:
        """The SES lane until `until`, and where its pacing stands; else when its holder's lease ends."""

    def release_lane(self, holder: str, state: LaneState, now: float) -> None:
        """Let the lane go, with the pacing the next holder starts from."""


def _n(value: float) -> dict[str, str]:
    return {"N": str(Decimal(repr(round(value, 3))))}


def _number(item: Mapping[str, Any], key: str, default: float = 0.0) -> float:
    found = item.get(key)
    return float(found["N"]) if found else default


def _text(item: Mapping[str, Any], key: str) -> str | None:
    found = item.get(key)
    return str(found["S"]) if found else None


class DynamoStore:
    def __init__(self, table: str, client: Callable[[], Any] | None = None) -> None:
        self._table = table
        self._make_client = client or (lambda: long_lived.client("dynamodb", _CONFIG))

    @functools.cached_property
    def _client(self) -> DynamoDBClient:
        client: DynamoDBClient = self._make_client()
        return client

    def _conflict(self, call: Callable[[], Any], what: str) -> dict[str, Any] | None:
        """None when the conditional write applied, else the item as it was (empty if there was none)."""
        try:
            until_granted(call, what)
        except self._client.exceptions.ConditionalCheckFailedException as failed:
            item: dict[str, Any] = dict(failed.response.get("Item") or {})  # type: ignore[call-overload]
            return item
        return None

    # --- requests -----------------------------------------------------------------------------------------

    def _key(self, request_id: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"request/{request_id}"}}

    def claim(self, operation: Operation, holder: str, lease: float, now: float) -> Claim:
        item = {
            **self._key(operation.request_id),
            "op": {"S": operation.encode()},
            "version": _n(operation.version),
            "state": {"S": "running"},
            "holder": {"S": holder},
            "lease": _n(lease),
            "expires": {"N": str(int(now) + RECORD_LIFETIME)},
        }
        found = self._conflict(
            lambda: self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ),
            "Recording the request",
        )
        if found is None or (_text(found, "holder") == holder and _text(found, "state") == "running"):
            # Written now, or by this call's own first attempt, whose answer was lost.
            return Claim(Found.OURS, operation)
        return self._settle(found, holder, lease, now, take_queued=False)

    def take(self, request_id: str, holder: str, lease: float, now: float) -> Claim:
        item = until_granted(
            lambda: self._client.get_item(TableName=self._table, Key=self._key(request_id), ConsistentRead=True),
            "Reading the request",
        ).get("Item")
        if not item:
            return Claim(Found.MISSING)
        if _text(item, "holder") == holder and _text(item, "state") == "running":
            # This invocation took it already (a message delivered twice in one batch is answered by then).
            return Claim(Found.OURS, Operation.decode(str(_text(item, "op"))))
        return self._settle(dict(item), holder, lease, now, take_queued=True)

    def _settle(self, item: dict[str, Any], holder: str, lease: float, now: float, *, take_queued: bool) -> Claim:
        state, held_until = _text(item, "state"), _number(item, "lease")
        if state == "answered":
            answer = Answer.decode(str(_text(item, "answer")))
            stored = Operation.decode(str(_text(item, "op")))
            return Claim(Found.ANSWERED, stored, answer, delivered="delivered" in item, until=held_until)
        if state == "queued" and not take_queued:
            return Claim(Found.QUEUED)
        if state == "running" and held_until > now:
            return Claim(Found.BUSY, until=held_until)
        stored = Operation.decode(str(_text(item, "op")))
        # Queued, it was paused cleanly; running with its lease over, its holder stopped mid-way.
        taken = (stored if state == "queued" else stored.taken_over()).stored()
        condition = "version = :version AND #state = :state"
        found = self._conflict(
            lambda: self._client.update_item(
                TableName=self._table,
                Key=self._key(stored.request_id),
                UpdateExpression="SET holder = :holder, lease = :lease, #state = :running, op = :op, version = :next",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":holder": {"S": holder},
                    ":lease": _n(lease),
                    ":running": {"S": "running"},
                    ":op": {"S": taken.encode()},
                    ":next": _n(taken.version),
                    ":version": _n(stored.version),
                    ":state": {"S": str(state)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ),
            "Taking the request",
        )
        if found is None or _text(found, "holder") == holder:
            return Claim(Found.OURS, taken)
        # Another invocation took it in between.
        return Claim(Found.BUSY, until=_number(found, "lease"))

    def save(self, operation: Operation, holder: str, *, queued: bool) -> Operation | None:
        stored = operation.stored()
        values: dict[str, Any] = {
            ":holder": {"S": holder},
            ":op": {"S": stored.encode()},
            ":next": _n(stored.version),
            ":version": _n(operation.version),
        }
        expression = "SET op = :op, version = :next"
        if queued:
            expression += ", #state = :queued REMOVE holder"
            values[":queued"] = {"S": "queued"}
        found = self._conflict(
            lambda: self._client.update_item(
                TableName=self._table,
                Key=self._key(operation.request_id),
                UpdateExpression=expression,
                ConditionExpression="holder = :holder AND version = :version",
                ExpressionAttributeValues=values,
                **({"ExpressionAttributeNames": {"#state": "state"}} if queued else {}),  # type: ignore[arg-type]
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ),
            "Storing the request",
        )
        if found is None or _text(found, "op") == stored.encode():
            return stored
        return None

    def _answer_update(self, operation: Operation, holder: str, answer: Answer) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Key": self._key(operation.request_id),
            "UpdateExpression": "SET #state = :answered, answer = :answer, op = :op",
            "ConditionExpression": "holder = :holder",
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": {
                ":answered": {"S": "answered"},
                ":answer": {"S": answer.encode()},
                ":op": {"S": operation.encode()},
                ":holder": {"S": holder},
            },
        }

    def answer(
        self,
        operation: Operation,
        holder: str,
        answer: Answer,
        *,
        recorded: SetOwnership | None = None,
        releasing: LaneState | None = None,
        cancelling: tuple[str, float] | None = None,
        now: float = 0,
    ) -> bool:
        update = self._answer_update(operation, holder, answer)
        others: list[dict[str, Any]] = [] if recorded is None else [{"Put": self._ownership_put(recorded, now)}]
        if releasing is not None:
            release = self._lane_release(holder, releasing, now, cancelling)
            applied = self._transact(update, [*others, {"Update": {"TableName": self._table, **release}}])
            if applied is not None:
                return applied
            # The lane was no longer ours (its lease ran out), another write met it, or this is botocore's retry
            # of a transaction that was applied (the lane then let go already): the lane alone, then the rest.
            self.release_lane(holder, releasing, now)
        if cancelling is not None:
            others.append({"Update": {"TableName": self._table, **self._cancel_update(*cancelling)}})
        if others:
            return bool(self._transact(update, others))
        found = self._conflict(
            lambda: self._client.update_item(**update, ReturnValuesOnConditionCheckFailure="ALL_OLD"),
            "Recording the answer",
        )
        return found is None

    def _transact(self, update: dict[str, Any], others: list[dict[str, Any]]) -> bool | None:
        """The answer with the other writes, all or none: True once applied, False when the request is no longer
        ours, None when another of the writes was refused."""
        try:
            until_granted(
                lambda: self._client.transact_write_items(TransactItems=[{"Update": update}, *others]),  # type: ignore[list-item,typeddict-item]
                "Recording the answer",
            )
        except self._client.exceptions.TransactionCanceledException as cancelled:
            reasons = cancelled.response.get("CancellationReasons") or [{}]
            return False if reasons[0].get("Code") == "ConditionalCheckFailed" else None
        return True

    def _ownership_key(self, set_name: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"set/{set_name}"}}

    def _ownership_put(self, recorded: SetOwnership, now: float) -> dict[str, Any]:
        item: dict[str, Any] = self._ownership_key(recorded.set_name)
        if recorded.ownership is None:
            # Nobody in the stack holds the set any more: the record goes, a day on.
            item["expires"] = {"N": str(int(now) + RECORD_LIFETIME)}
        else:
            item["ownership"] = {"S": recorded.ownership.encode()}
        return {"TableName": self._table, "Item": item}

    def ownership(self, set_name: str) -> Ownership | None:
        item = until_granted(
            lambda: self._client.get_item(
                TableName=self._table, Key=self._ownership_key(set_name), ConsistentRead=True
            ),
            "Reading who holds the set",
        ).get("Item")
        text = _text(item or {}, "ownership")
        return None if text is None else Ownership.decode(text)

    def delivered(self, request_id: str) -> None:
        self._conflict(
            lambda: self._client.update_item(
                TableName=self._table,
                Key=self._key(request_id),
                UpdateExpression="SET delivered = :yes",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            ),
            "Recording the delivery",
        )

    def expire(self, request_id: str, holder: str, now: float) -> None:
        self._conflict(
            lambda: self._client.update_item(
                TableName=self._table,
                Key=self._key(request_id),
                UpdateExpression="SET lease = :now",
                ConditionExpression="holder = :holder AND #state = :running",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":now": _n(now), ":holder": {"S": holder}, ":running": {"S": "running"}},
            ),
            "Handing the request on",
        )

    # --- the SES lane -------------------------------------------------------------------------------------

    def take_lane(self, holder: str, now: float, until: float) -> LaneState | float:
        try:
            item = until_granted(
                lambda: self._client.update_item(
                    TableName=self._table,
                    Key=_LANE,
                    UpdateExpression="SET holder = :holder, #until = :until",
                    ConditionExpression="attribute_not_exists(holder) OR #until < :now OR holder = :holder",
                    ExpressionAttributeNames={"#until": "until"},
                    ExpressionAttributeValues={":holder": {"S": holder}, ":until": _n(until), ":now": _n(now)},
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ),
                "Taking the SES lane",
            )["Attributes"]
        except self._client.exceptions.ConditionalCheckFailedException as failed:
            held: Mapping[str, Any] = failed.response.get("Item") or {}  # type: ignore[assignment]
            return _number(held, "until", now)
        cancelled = tuple(
            (key.removeprefix(_CANCELLED), float(value["N"]))
            for key, value in item.items()
            if key.startswith(_CANCELLED)
        )
        return LaneState(_number(item, "next"), int(_number(item, "yields")), _number(item, "paced"), cancelled)

    def _lane_release(
        self, holder: str, state: LaneState, now: float, cancelling: tuple[str, float] | None = None
    ) -> dict[str, Any]:
        names = {"#next": "next", "#until": "until"}
        values = {
            ":next": _n(state.next_call),
            ":yields": _n(state.yields),
            ":paced": _n(state.paced_until),
            ":now": _n(now),
            ":holder": {"S": holder},
        }
        sets = "SET #next = :next, yields = :yields, paced = :paced, #until = :now"
        if cancelling is not None:
            names["#cancelling"], values[":cancelling"] = _CANCELLED + cancelling[0], _n(cancelling[1])
            sets += ", #cancelling = :cancelling"
        # A cancelled Create's mark outlives every Create sent before it: none of those changes SES once its
        # ServiceTimeout has passed. A few at each release keep the expression within DynamoDB's 4 KB.
        stale = [
            logical_id
            for logical_id, at in state.cancelled
            if at + SERVICE_TIMEOUT < now and (cancelling is None or logical_id != cancelling[0])
        ][:_STALE_PER_RELEASE]
        names |= {f"#stale{n}": _CANCELLED + logical_id for n, logical_id in enumerate(stale)}
        removes = ", ".join(["holder", *(f"#stale{n}" for n in range(len(stale)))])
        return {
            "Key": _LANE,
            "UpdateExpression": f"{sets} REMOVE {removes}",
            "ConditionExpression": "holder = :holder",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def _cancel_update(self, logical_id: str, at: float) -> dict[str, Any]:
        return {
            "Key": _LANE,
            "UpdateExpression": "SET #cancelled = :at",
            "ExpressionAttributeNames": {"#cancelled": _CANCELLED + logical_id},
            "ExpressionAttributeValues": {":at": _n(at)},
        }

    def cancel(self, logical_id: str, at: float) -> None:
        until_granted(
            lambda: self._client.update_item(TableName=self._table, **self._cancel_update(logical_id, at)),
            "Marking the cancelled Create",
        )

    def release_lane(self, holder: str, state: LaneState, now: float) -> None:
        # A holder whose lease ran out finds the lane taken: the next holder keeps its own pacing.
        self._conflict(
            lambda: self._client.update_item(TableName=self._table, **self._lane_release(holder, state, now)),
            "Releasing the SES lane",
        )
