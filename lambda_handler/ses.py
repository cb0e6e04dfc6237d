"""The thin layer that calls SES: v1 for the tracking options themselves, v2 for the HTTPS policy and reads."""

from __future__ import annotations

import functools
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .errors import SesOperationError
from .grants import is_denied, pause_after_denial
from .pacing import INTERVAL, UNPACED_PAUSE, BookedTooLateError, Booking, OutOfTimeError, Pacer
from .schedule import DynamoSchedule

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sesv2 import SESV2Client

__all__ = ["CLIENT_CONFIG", "Current", "DeadlineExceededError", "SesTracking", "pacer_from_environment"]

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3
READ_TIMEOUT = 10
# Network faults and 5xx are tried this many times in all, sleeping at most 1 s, then 2 s, as botocore's
# standard mode would; botocore itself tries once, so that a throttled call is never sent again behind
# the pacer's back (SES's one call a second is shared by every caller: see pacing.py).
MAX_ATTEMPTS = 3
MAX_BACKOFF = 2
# v1 answers Throttling, v2 TooManyRequestsException; codes are compared without the suffix.
THROTTLING_CODES = frozenset({"Throttling", "TooManyRequests"})

# What SES answers to options it will not hold: v1 and v2 codes.
_REJECTED = frozenset({"InvalidTrackingOptions", "BadRequest"})
# Time kept back, after SES gives up, to send the answer to CloudFormation.
ANSWER_MARGIN = 8
# An attempt starts only if it, the backoff after it, and the answer can all still finish in time.
ATTEMPT_BUDGET = CONNECT_TIMEOUT + READ_TIMEOUT + MAX_BACKOFF + ANSWER_MARGIN
# Without a schedule, a throttled call is tried again only if the random pause before it (pacing.py)
# and a second to spare fit before that limit, so that giving up is reported as throttling.
THROTTLE_RETRY_BUDGET = ATTEMPT_BUDGET + UNPACED_PAUSE + 1

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=CONNECT_TIMEOUT,
    read_timeout=READ_TIMEOUT,
    user_agent_extra="cdk-ses-tracking-options",
)


# The provider's schedule table (pacing.py); without it, calls are not paced.
SCHEDULE_TABLE_VARIABLE = "SCHEDULE_TABLE"
# Seconds between booked calls, when set: SES's allowance in calls a second is its inverse.
INTERVAL_VARIABLE = "SES_CALL_INTERVAL"


class DeadlineExceededError(Exception):
    """Raised before an SES attempt that could not finish before the function's timeout."""


def pacer_from_environment() -> Pacer:
    """The pacer on the provider's schedule table, if the function has one."""
    table = os.environ.get(SCHEDULE_TABLE_VARIABLE)
    interval = float(os.environ.get(INTERVAL_VARIABLE) or INTERVAL)
    store = (lambda: DynamoSchedule(table)) if table else None
    return Pacer(store, clock=time.time, sleep=time.sleep, interval=interval)


def _server_fault(error: ClientError) -> bool:
    """SES's own 5xx: worth trying again, as are network faults and timeouts."""
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) >= 500


def _client(service: str, time_left: Callable[[], float]) -> Any:
    """A client with explicit retries and timeouts that stops trying before the deadline.

    Its endpoint comes from AWS_ENDPOINT_URL_SES / AWS_ENDPOINT_URL_SESV2 when set (botocore reads them).
    """

    def guard(**_: Any) -> None:
        if time_left() < ATTEMPT_BUDGET:
            raise DeadlineExceededError

    client = boto3.client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]
    client.meta.events.register(f"before-send.{service}", guard)
    return client


@dataclass(frozen=True)
class Current:
    """The tracking options SES holds for a set; domain None when it has none."""

    domain: str | None
    policy: str | None


def _code(error: ClientError) -> str:
    # The SES API reference names codes without the suffix, botocore's model with it.
    return str(error.response.get("Error", {}).get("Code", "")).removesuffix("Exception")


def _mapped(error: Exception, action: str, name: str, domain: str | None = None) -> SesOperationError:
    """A short reason for the console, the useful part first, naming the set or domain."""
    if isinstance(error, DeadlineExceededError | OutOfTimeError):
        return SesOperationError(
            f"SES did not complete {action} for '{name}' before the function's timeout; deploy again"
        )
    if isinstance(error, BookedTooLateError):
        return SesOperationError(
            f"SES's one call a second is booked {error.wait:.0f} s ahead, past this resource's ServiceTimeout: "
            f"more TrackingOptions than SES can serve in time are deploying in this account and region; "
            f"deploy '{name}' again once they finish"
        )
    if not isinstance(error, ClientError):
        return SesOperationError(
            f"SES could not be reached for {action} on '{name}' ({type(error).__name__}); deploy again"
        )
    code = _code(error)
    message = str(error.response.get("Error", {}).get("Message", ""))
    if code in {"ConfigurationSetDoesNotExist", "NotFound"}:
        reason = f"Configuration set '{name}' does not exist in this account and region: create it or fix the name"
    elif code in {"InvalidTrackingOptions", "BadRequest"}:
        reason = (
            f"SES rejected CustomRedirectDomain '{domain}': verify it, or a parent domain, "
            "as an SES identity in this region"
        )
    elif is_denied(error):
        reason = f"SES denied {action} on '{name}': the provider's role lacks ses:{action}"
    elif code in THROTTLING_CODES:
        reason = f"SES throttled {action} on '{name}' until the function had to answer; deploy again later"
    else:
        reason = f"SES {action} failed on '{name}': {code}: {message}"
    return SesOperationError(reason)


class SesTracking:
    """Tracking-options calls; expected absences come back as values, everything else as SesOperationError."""

    def __init__(self, time_left: Callable[[], float], pacer: Pacer | None = None) -> None:
        self._time_left = time_left
        self.pacer = pacer or pacer_from_environment()
        self._carried: Booking | None = None
        self._event_deadline: float | None = None
        # Whether an attempt of the last call failed in a way that may have left it applied, its answer lost.
        self._maybe_applied = False
        # What the operation has read from SES (a predecessor's reads included): each set is read once.
        self._reads: dict[str, Current | None] = {}
        self._carried_reads: dict[str, Current | None] = {}

    def resume(
        self,
        booking: Booking | None,
        event_deadline: float | None,
        reads: dict[str, Current | None] | None = None,
    ) -> None:
        """The next operation keeps a booking handed on to this invocation, answers by event_deadline, and
        uses what its predecessor read instead of reading it again."""
        self._carried, self._event_deadline = booking, event_deadline
        self._carried_reads = dict(reads or {})

    def plan(self, calls: int) -> None:
        """An operation starts that makes at most this many calls on its usual path."""
        self._reads, self._carried_reads = self._carried_reads, {}
        self.pacer.begin(calls - len(self._reads), self._carried, self._event_deadline)
        self._carried = None

    @property
    def reads(self) -> dict[str, Current | None]:
        """What this operation has read from SES: a successor it hands its wait on to uses it, just as this
        invocation would have after waiting, and so neither reads again nor needs a slot to."""
        return dict(self._reads)

    # Each client is made on first use: most requests never need v2, and every client costs cold start.
    @functools.cached_property
    def _v1(self) -> SESClient:
        client: SESClient = _client("ses", self._time_left)
        return client

    @functools.cached_property
    def _v2(self) -> SESV2Client:
        client: SESV2Client = _client("sesv2", self._time_left)
        return client

    def _call(
        self,
        action: str,
        call: Callable[[], Any],
        name: str,
        domain: str | None = None,
        absent: frozenset[str] = frozenset(),
        *,
        changes: bool = True,
    ) -> Any:
        """The response of call(), or None when SES answers with one of the absent codes.

        `changes` is false for a read: until a call that changes SES succeeds, a wait may be handed on."""
        faults = 0
        denied_since, denials = 0.0, 0
        self._maybe_applied = False
        while True:
            self._take_turn(action, name, domain)
            try:
                response = call()
            except ClientError as error:
                code = _code(error)
                if code in absent:
                    self.pacer.succeeded(changed=False)
                    return None
                # With a schedule, the pacer decides how long to wait and when to hand the wait on.
                if code in THROTTLING_CODES and (self.pacer.paced or self._time_left() >= THROTTLE_RETRY_BUDGET):
                    self._schedule(self.pacer.throttled)
                    continue
                if is_denied(error):
                    denied_since, denials = (denied_since or time.monotonic()), denials + 1
                    pause = pause_after_denial(denials, time.monotonic() - denied_since)
                    if self._wait_out_denial(pause, action, name):
                        continue
                faults += 1
                if _server_fault(error) and faults < MAX_ATTEMPTS:
                    self._retry_after(faults, action, name, error)
                    continue
                raise _mapped(error, action, name, domain) from error
            except BotoCoreError as error:
                faults += 1
                if faults < MAX_ATTEMPTS:
                    self._retry_after(faults, action, name, error)
                    continue
                raise _mapped(error, action, name, domain) from error
            except DeadlineExceededError as error:
                raise _mapped(error, action, name, domain) from error
            else:
                self.pacer.succeeded(changed=changes)
                return response

    def _take_turn(self, action: str, name: str, domain: str | None) -> None:
        try:
            self._schedule(lambda: self.pacer.before_call(self._time_left()))
        except (OutOfTimeError, BookedTooLateError) as error:
            raise _mapped(error, action, name, domain) from error

    def _schedule(self, step: Callable[[], None]) -> None:
        """A pacing step; if the schedule table cannot be reached, go on without taking turns."""
        try:
            step()
        except (BotoCoreError, ClientError) as error:
            logger.warning("The schedule table cannot be reached (%s); calling SES without taking turns", error)
            self.pacer.unpace()

    def _wait_out_denial(self, pause: float, action: str, name: str) -> bool:
        """Whether a denied call is worth another try after the pause (grants.py)."""
        if pause <= 0 or self._time_left() < ATTEMPT_BUDGET + pause:
            return False
        logger.warning("%s on %s was denied; trying again in %.0f s (IAM propagates grants)", action, name, pause)
        time.sleep(pause)
        return True

    def _retry_after(self, faults: int, action: str, name: str, error: Exception) -> None:
        # A timeout or a dropped connection may come after SES applied the call, as may a 5xx.
        self._maybe_applied = True
        logger.warning("%s on %s failed (%s); trying again", action, name, error)
        # As botocore's standard mode: a random pause of up to 1 s, then 2 s.
        time.sleep(random.uniform(0, min(MAX_BACKOFF, 2 ** (faults - 1))))  # noqa: S311 - jitter, not a secret

    def create(self, name: str, domain: str) -> bool:
        """Create the options; False, changing nothing, when the set already has some."""
        response = self._call(
            "CreateConfigurationSetTrackingOptions",
            lambda: self._v1.create_configuration_set_tracking_options(
                ConfigurationSetName=name, TrackingOptions={"CustomRedirectDomain": domain}
            ),
            name,
            domain,
            absent=frozenset({"TrackingOptionsAlreadyExists"}),
        )
        return response is not None

    @property
    def maybe_applied(self) -> bool:
        """Whether an attempt of the last call failed in a way that may have left it applied, its answer
        lost (a timeout, a dropped connection, a 5xx), before the call was tried again."""
        return self._maybe_applied

    def update(self, name: str, domain: str) -> bool:
        """Change the domain; False when the set has no options to change."""
        response = self._call(
            "UpdateConfigurationSetTrackingOptions",
            lambda: self._v1.update_configuration_set_tracking_options(
                ConfigurationSetName=name, TrackingOptions={"CustomRedirectDomain": domain}
            ),
            name,
            domain,
            absent=frozenset({"TrackingOptionsDoesNotExist"}),
        )
        return response is not None

    def delete(self, name: str) -> bool:
        """Remove the options; False when they, or the whole set, are already gone."""
        response = self._call(
            "DeleteConfigurationSetTrackingOptions",
            lambda: self._v1.delete_configuration_set_tracking_options(ConfigurationSetName=name),
            name,
            absent=frozenset({"TrackingOptionsDoesNotExist", "ConfigurationSetDoesNotExist"}),
        )
        return response is not None

    def put_policy(self, name: str, domain: str, policy: str) -> None:
        """Set domain and HTTPS policy together, in place (SES v2 only)."""
        self._put(name, domain, policy)

    def restore(self, name: str, domain: str, policy: str | None) -> str | None:
        """Give the set back options it had: None once SES holds them, or SES's reason when it rejects them
        (its domain no longer a verified identity, say), having changed nothing."""
        try:
            self._put(name, domain, policy)
        except SesOperationError as error:
            cause = error.__cause__
            if isinstance(cause, ClientError) and _code(cause) in _REJECTED:
                return f"{_code(cause)}: {cause.response.get('Error', {}).get('Message', '')}"
            raise
        return None

    def _put(self, name: str, domain: str, policy: str | None) -> None:
        # Without HttpsPolicy, SES keeps its default for it.
        policy_arg: dict[str, Any] = {} if policy is None else {"HttpsPolicy": policy}
        self._call(
            "PutConfigurationSetTrackingOptions",
            lambda: self._v2.put_configuration_set_tracking_options(
                ConfigurationSetName=name, CustomRedirectDomain=domain, **policy_arg
            ),
            name,
            domain,
        )

    def current(self, name: str) -> Current | None:
        """What SES holds for the set, or None when the set does not exist."""
        if name in self._reads:
            return self._reads[name]
        response = self._call(
            "GetConfigurationSet",
            lambda: self._v2.get_configuration_set(ConfigurationSetName=name),
            name,
            absent=frozenset({"NotFound"}),
            changes=False,
        )
        current = None
        if response is not None:
            options: dict[str, Any] = dict(response.get("TrackingOptions") or {})
            current = Current(options.get("CustomRedirectDomain") or None, options.get("HttpsPolicy") or None)
        self._reads[name] = current
        return current
