"""The pacing schedule (pacing.py) in one item of the provider's own DynamoDB table."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["CLAIM_LIFETIME", "KEY", "DynamoSchedule"]

# One schedule per provider, shared by every SES call it makes.
KEY = {"pk": {"S": "ses-control-plane"}}
# A hand-on's claim outlives any duplicate of it: Lambda delivers an asynchronous event for at most 6 hours.
CLAIM_LIFETIME = 24 * 3600
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=5, user_agent_extra="pacing"
)


def _number(value: float) -> dict[str, str]:
    return {"N": str(Decimal(repr(round(value, 3))))}


class DynamoSchedule:
    """`tat`: when the next free slot starts (epoch seconds); `shift`: how far throttles pushed it."""

    def __init__(self, table: str) -> None:
        self._table = table

    @functools.cached_property
    def _client(self) -> DynamoDBClient:
        client: DynamoDBClient = boto3.client("dynamodb", config=_CONFIG)
        return client

    def _update(self, expression: str, values: dict[str, Any], condition: str | None = None) -> dict[str, Any]:
        extra = {"ConditionExpression": condition} if condition else {}
        answer = self._client.update_item(
            TableName=self._table,
            Key=KEY,
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            **extra,  # type: ignore[arg-type]
        )
        return dict(answer["Attributes"])

    def book(self, now: float, length: float) -> tuple[float, float]:
        conflict = self._client.exceptions.ConditionalCheckFailedException
        while True:
            try:
                # Busy: the block starts where the schedule ends.
                item = self._update(
                    "SET tat = tat + :length", {":length": _number(length), ":now": _number(now)}, "tat >= :now"
                )
                return float(item["tat"]["N"]) - length, float(item["shift"]["N"])
            except conflict:
                pass
            try:
                # Idle (or never used): the block starts now.
                item = self._update(
                    "SET tat = :end, shift = if_not_exists(shift, :zero)",
                    {":end": _number(now + length), ":zero": _number(0), ":now": _number(now)},
                    "attribute_not_exists(tat) OR tat < :now",
                )
                return now, float(item["shift"]["N"])
            except conflict:
                continue  # another invocation booked in between: book after it

    def shift(self) -> float:
        item = self._client.get_item(TableName=self._table, Key=KEY, ConsistentRead=True).get("Item") or {}
        return float(item.get("shift", {}).get("N", "0"))

    def claim(self, request_id: str, hop: int, now: float) -> bool:
        """Whether this is the first delivery of a hand-on: False for a duplicate (Lambda's asynchronous
        invocations are delivered at least once, and the Invoke call itself may be retried)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"hand-on/{request_id}/{hop}"}},
                # The table's time to live removes the claim a day later.
                UpdateExpression="SET expires = :expires",
                ConditionExpression="attribute_not_exists(pk)",
                ExpressionAttributeValues={":expires": {"N": str(int(now) + CLAIM_LIFETIME)}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def push(self, seconds: float) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=KEY,
            UpdateExpression="ADD tat :seconds, shift :seconds",
            ExpressionAttributeValues={":seconds": _number(seconds)},
        )
