"""Every time budget of the provider, in one place: the numbers that must agree live together, and
tests/test_budget.py checks how they relate. Seconds throughout. Pure, no imports: the construct reads the
function's timeout, the queue's visibility timeout and the ServiceTimeout from here too.
"""

from __future__ import annotations

__all__ = [
    "ACCESS_DENIED_GRACE",
    "ANSWER_MARGIN",
    "ANSWER_TIMEOUT",
    "ATTEMPT_BUDGET",
    "CONNECT_TIMEOUT",
    "EVENT_MARGIN",
    "FUNCTION_TIMEOUT",
    "HOLD_LIMIT",
    "INTERVAL",
    "MAX_ATTEMPTS",
    "MAX_BACKOFF",
    "MAX_EVENT_AGE",
    "MAX_YIELD",
    "PACED_MEMORY",
    "QUEUE_VISIBILITY",
    "READ_TIMEOUT",
    "RECORD_LIFETIME",
    "SERVICE_TIMEOUT",
    "STORE_READ_TIMEOUT",
    "TIMER_MARGIN",
]

# --- CloudFormation -------------------------------------------------------------------------------------
# The custom resource's ServiceTimeout: CloudFormation's longest wait for an answer ("Custom resource request
# objects": 1 to 3600, the default 3600). Hundreds of resources, and other stacks, share SES's one call a second.
SERVICE_TIMEOUT = 3600
# The answer must reach CloudFormation this long before the ServiceTimeout ends.
EVENT_MARGIN = 60.0

# --- Lambda ---------------------------------------------------------------------------------------------
# One invocation: a CloudFormation event that goes straight to SES, or a batch of queued operations.
FUNCTION_TIMEOUT = 60
# Lambda's asynchronous queue drops an event this old ("Asynchronous invocation": 60 to 21,600): past the
# ServiceTimeout CloudFormation no longer waits for it.
MAX_EVENT_AGE = SERVICE_TIMEOUT
# The queue's visibility timeout: at least the function's timeout (Lambda refuses the event source mapping
# otherwise), and six times it as "Configuring an Amazon SQS queue to use with Lambda" advises, so that a
# batch throttled by the account's concurrency is retried for that long before it returns to the queue.
QUEUE_VISIBILITY = 6 * FUNCTION_TIMEOUT
# The last-resort timer fires this long before the function's deadline.
TIMER_MARGIN = 3.0

# --- SES --------------------------------------------------------------------------------------------------
CONNECT_TIMEOUT = 3
READ_TIMEOUT = 10
# Network faults and 5xx are tried this many times in all, sleeping at most 1 s, then 2 s (botocore's
# standard mode; botocore itself tries once, so that a throttled call is never sent behind the pacing's back).
MAX_ATTEMPTS = 3
MAX_BACKOFF = 2
# Time kept back, after SES gives up, to send the answer to CloudFormation.
ANSWER_MARGIN = 8.0
# An attempt starts only if it, the backoff after it and the answer can all still finish in time.
ATTEMPT_BUDGET = CONNECT_TIMEOUT + READ_TIMEOUT + MAX_BACKOFF + ANSWER_MARGIN
# A call denied by IAM is tried again for this long: a grant made by the same deploy may still be propagating.
ACCESS_DENIED_GRACE = 10.0

# --- Taking turns at SES (pacing.py) ------------------------------------------------------------------------
# Seconds between a provider's calls once SES is busy: its one call a second, with room for network jitter.
INTERVAL = 1.05
# A throttled call waits INTERVAL, then 2, 4 and at most 8 INTERVALs while throttles come in a row.
MAX_YIELD = 8
# A wait for SES longer than this is not slept in an invocation: the operation waits in the queue, which
# costs no execution, and a fresh invocation takes it up.
HOLD_LIMIT = 3.0
# A provider's calls stay paced this long after its last paced call; after that SES counts as idle again.
PACED_MEMORY = 10.0

# --- The provider's table (store.py) ------------------------------------------------------------------------
STORE_READ_TIMEOUT = 5
# An operation's record outlives any delivery of its event: Lambda's asynchronous queue keeps an event for
# MAX_EVENT_AGE, and a queued message lives at most as long.
RECORD_LIFETIME = 24 * 3600
# Seconds one PUT of the answer may take (delivery.py); crhelper sets no timeout and retries forever.
ANSWER_TIMEOUT = 5
