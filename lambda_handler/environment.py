"""What the function works with, made once per execution environment from its variables: the provider's table,
its queue, SES clients, the clock. The only state kept between invocations is these cached clients."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .budget import INTERVAL
from .queue import SqsQueue, WorkQueue
from .ses import SesClients
from .store import DynamoStore, Store

__all__ = ["INTERVAL_VARIABLE", "QUEUE_VARIABLE", "TABLE_VARIABLE", "Environment", "from_variables"]

TABLE_VARIABLE = "TABLE_NAME"
QUEUE_VARIABLE = "QUEUE_URL"
# Seconds between paced calls, when set (tests run SES faster): SES's allowance is its inverse.
INTERVAL_VARIABLE = "SES_CALL_INTERVAL"


@dataclass(frozen=True)
class Environment:
    store: Store
    queue: WorkQueue
    ses: SesClients
    interval: float = INTERVAL
    clock: Callable[[], float] = field(default=time.time)
    sleep: Callable[[float], None] = field(default=time.sleep)


@functools.cache
def from_variables() -> Environment:
    return Environment(
        store=DynamoStore(os.environ[TABLE_VARIABLE]),
        queue=SqsQueue(os.environ[QUEUE_VARIABLE]),
        ses=SesClients(),
        interval=float(os.environ.get(INTERVAL_VARIABLE) or INTERVAL),
    )
