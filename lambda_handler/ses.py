"""The thin layer that calls SES for one operation: v1 for the tracking options themselves, v2 for the HTTPS
policy and reads. Calls the operation has made already are answered from its journal (operation.py); the
others go to SES in the lane's turns (pacing.py), and their answers are recorded. Expected absences come back
as values, everything else as SesOperationError."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from . import long_lived
from .budget import ATTEMPT_BUDGET, CONNECT_TIMEOUT, MAX_ATTEMPTS, MAX_BACKOFF, READ_TIMEOUT
from .errors import SesOperationError
from .grants import is_denied, pause_after_denial
from .operation import Operation, Recorded
from .pacing import PauseForSes, Turns

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sesv2 import SESV2Client

__all__ = ["CLIENT_CONFIG", "Created", "Current", "DeadlineExceededError", "SesClients", "SesTracking"]

logger = logging.getLogger(__name__)

# v1 answers Throttling, v2 TooManyRequestsException; codes are compared without the suffix.
THROTTLING_CODES = frozenset({"Throttling", "TooManyRequests"})
# What SES answers to options it will not hold: v1 and v2 codes.
REJECTED_CODES = frozenset({"InvalidTrackingOptions", "BadRequest"})

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=CONNECT_TIMEOUT,
    read_timeout=READ_TIMEOUT,
    user_agent_extra="cdk-ses-tracking-options",
)


class DeadlineExceededError(Exception):
    """Raised before an SES attempt that could not finish before the function's timeout."""


class Created(Enum):
    """What a Create found."""

    NEW = "new"
    # The set already has options.
    EXISTED = "existed"
    # The set has options, and an attempt before may have made them: its answer was lost (a timeout, a dropped
    # connection, a 5xx), or the invocation that made it stopped before recording it.
    EXISTED_AFTER_RETRY = "existed-after-retry"
    # Read back after EXISTED_AFTER_RETRY: exactly what this operation asked for (lifecycle.py decides).
    OURS_AFTER_LOST_ANSWER = "ours-after-lost-answer"


@dataclass(frozen=True)
class Current:
    """The tracking options SES holds for a set; domain None when it has none."""

    domain: str | None
    policy: str | None


class SesClients:
    """SES v1 and v2 clients, made on first use (most requests never need v2, and each costs cold start), with
    explicit retries and timeouts. Their endpoints come from AWS_ENDPOINT_URL_SES / _SESV2 when set."""

    def __init__(self, make: Callable[[str], Any] | None = None) -> None:
        self._make = make or (lambda service: long_lived.client(service, CLIENT_CONFIG))
        self._made: dict[str, Any] = {}

    def get(self, service: str) -> Any:
        if service not in self._made:
            self._made[service] = self._make(service)
        return self._made[service]


def _code(error: ClientError) -> str:
    # The SES API reference names codes without the suffix, botocore's model with it.
    return str(error.response.get("Error", {}).get("Code", "")).removesuffix("Exception")


def _server_fault(error: ClientError) -> bool:
    """SES's own 5xx: worth trying again, as are network faults and timeouts."""
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) >= 500


def _mapped(error: Exception, action: str, name: str, domain: str | None = None) -> SesOperationError:
    """A short reason for the console, the useful part first, naming the set or domain."""
    if isinstance(error, DeadlineExceededError):
        return SesOperationError(
            f"SES did not complete {action} for '{name}' before the function's timeout; deploy again"
        )
    if not isinstance(error, ClientError):
        return SesOperationError(
            f"SES could not be reached for {action} on '{name}' ({type(error).__name__}); deploy again"
        )
    code = _code(error)
    message = str(error.response.get("Error", {}).get("Message", ""))
    if code in {"ConfigurationSetDoesNotExist", "NotFound"}:
        reason = f"Configuration set '{name}' does not exist in this account and region: create it or fix the name"
    elif code in REJECTED_CODES:
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
    return SesOperationError(reason, code=code, detail=message)


def _too_late(action: str, name: str, wait: float) -> SesOperationError:
    return SesOperationError(
        f"SES's next turn for {action} on '{name}' is {wait:.0f} s away, past this resource's ServiceTimeout: "
        "more TrackingOptions than SES can serve in time are deploying in this account and region; "
        "deploy again once they finish"
    )


# How each call's answer is written in the journal, and read back.
def _flag(response: Any) -> bool:
    return response is not None


def _read(response: Any) -> Any:
    if response is None:
        return None
    options: dict[str, Any] = dict(response.get("TrackingOptions") or {})
    return [options.get("CustomRedirectDomain") or None, options.get("HttpsPolicy") or None]


class SesTracking:
    """One operation's tracking-options calls."""

    def __init__(
        self,
        operation: Operation,
        clients: SesClients,
        turns: Turns,
        *,
        time_left: Callable[[], float],
        persist: Callable[[Operation], Operation],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        may_pause: bool = True,
    ) -> None:
        self._operation = operation
        self._clients = clients
        self._turns = turns
        self._time_left = time_left
        self._persist = persist
        self._clock = clock
        self._sleep = sleep
        self._may_pause = may_pause
        self._replayed = 0
        self._live = False
        # A change SES has made that the table does not hold yet: stored before the next call, or with the
        # answer or the queued operation, whichever comes first (one write fewer for an operation's last change).
        self._unstored = False
        # Each set is read once per operation.
        self._reads: dict[str, Current | None] = {}

    @property
    def operation(self) -> Operation:
        """The operation with every call made so far recorded, to be stored with its answer or in the queue: its
        last change may not be in the table yet."""
        return self._operation

    @property
    def _v1(self) -> SESClient:
        client: SESClient = self._clients.get("ses")
        return client

    @property
    def _v2(self) -> SESV2Client:
        client: SESV2Client = self._clients.get("sesv2")
        return client

    def _replay(self, action: str, name: str) -> Recorded | None:
        journal = self._operation.journal
        if self._replayed >= len(journal):
            return None
        entry = journal[self._replayed]
        if (entry.action, entry.set_name) != (action, name):
            msg = f"the recorded operation made {entry.action} on '{entry.set_name}' here, not {action} on '{name}'"
            raise RuntimeError(msg)
        self._replayed += 1
        return entry

    def _call(
        self,
        action: str,
        call: Callable[[], Any],
        name: str,
        encode: Callable[[Any], Any],
        *,
        domain: str | None = None,
        absent: frozenset[str] = frozenset(),
        changes: bool = True,
    ) -> tuple[Any, bool]:
        """What SES answered (encoded for the journal), and whether an attempt before it may have been applied."""
        recorded = self._replay(action, name)
        if recorded is not None:
            outcome = recorded.outcome
            if isinstance(outcome, dict) and "error" in outcome:
                raise SesOperationError(outcome["error"], code=outcome.get("code"), detail=outcome.get("detail", ""))
            return outcome, False
        # The first call after a takeover may have been made by the invocation that stopped.
        maybe_applied, self._live = self._operation.resumed and not self._live, True
        try:
            response, retried = self._attempts(action, call, name, domain, absent)
        except SesOperationError as error:
            self._record(
                Recorded(action, name, {"error": str(error), "code": error.code, "detail": error.detail}, False)
            )
            raise
        outcome = encode(response)
        self._record(Recorded(action, name, outcome, changes and response is not None))
        return outcome, maybe_applied or retried

    def _record(self, entry: Recorded) -> None:
        self._operation = self._operation.recorded(entry)
        self._replayed += 1
        self._unstored = self._unstored or entry.changed

    def _store_changes(self) -> None:
        """Before another call: SES holds what the last change made, whatever comes next. Until then, an
        invocation that stops leaves a journal that ends before that change, and its successor's first call is
        known to be one that may have been applied (Operation.resumed), as after a crash mid-call."""
        if self._unstored:
            self._operation = self._persist(self._operation)
            self._unstored = False

    def _attempts(
        self, action: str, call: Callable[[], Any], name: str, domain: str | None, absent: frozenset[str]
    ) -> tuple[Any, bool]:
        faults, denied_since, denials, retried = 0, 0.0, 0, False
        while True:
            self._take_turn(action, name, domain)
            if self._time_left() < ATTEMPT_BUDGET:
                raise _mapped(DeadlineExceededError(), action, name, domain)
            self._store_changes()
            try:
                response = call()
            except ClientError as error:
                code = _code(error)
                if code in absent:
                    self._turns.succeeded()
                    return None, retried
                if code in THROTTLING_CODES:
                    self._turns.throttled()
                    continue
                if is_denied(error):
                    denied_since, denials = (denied_since or time.monotonic()), denials + 1
                    pause = pause_after_denial(denials, time.monotonic() - denied_since)
                    if pause and self._time_left() >= ATTEMPT_BUDGET + pause:
                        logger.warning(
                            "%s on %s was denied; trying again in %.0f s (IAM propagates grants)", action, name, pause
                        )
                        self._sleep(pause)
                        continue
                faults += 1
                if _server_fault(error) and faults < MAX_ATTEMPTS:
                    retried = True
                    self._retry_after(faults, action, name, error)
                    continue
                raise _mapped(error, action, name, domain) from error
            except BotoCoreError as error:
                faults += 1
                if faults < MAX_ATTEMPTS:
                    # A timeout or a dropped connection may come after SES applied the call.
                    retried = True
                    self._retry_after(faults, action, name, error)
                    continue
                raise _mapped(error, action, name, domain) from error
            else:
                self._turns.succeeded()
                return response, retried

    def _take_turn(self, action: str, name: str, domain: str | None) -> None:
        if self._clock() >= self._operation.deadline and not any(e.changed for e in self._operation.journal):
            # Nothing changed yet, and CloudFormation stops waiting within a minute: change nothing.
            msg = (
                f"CloudFormation's ServiceTimeout for this resource ends within a minute: {action} on '{name}' "
                "was not called; deploy again"
            )
            raise SesOperationError(msg)
        try:
            self._turns.before_call(self._time_left())
        except PauseForSes as pause:
            if self._clock() + pause.wait > self._operation.deadline:
                raise _too_late(action, name, pause.wait) from pause
            if not self._may_pause:
                raise _mapped(DeadlineExceededError(), action, name, domain) from pause
            raise

    def _retry_after(self, faults: int, action: str, name: str, error: Exception) -> None:
        logger.warning("%s on %s failed (%s); trying again", action, name, error)
        # As botocore's standard mode: a random pause of up to 1 s, then 2 s.
        self._sleep(random.uniform(0, min(MAX_BACKOFF, 2 ** (faults - 1))))  # noqa: S311 - jitter, not a secret

    # --- the calls ----------------------------------------------------------------------------------------

    def create(self, name: str, domain: str) -> Created:
        """Create the options; EXISTED (or EXISTED_AFTER_RETRY), changing nothing, when the set has some."""
        outcome, maybe_applied = self._call(
            "CreateConfigurationSetTrackingOptions",
            lambda: self._v1.create_configuration_set_tracking_options(
                ConfigurationSetName=name, TrackingOptions={"CustomRedirectDomain": domain}
            ),
            name,
            _flag,
            domain=domain,
            absent=frozenset({"TrackingOptionsAlreadyExists"}),
        )
        if outcome:
            return Created.NEW
        return Created.EXISTED_AFTER_RETRY if maybe_applied else Created.EXISTED

    def update(self, name: str, domain: str) -> bool:
        """Change the domain; False when the set has no options to change."""
        outcome, _ = self._call(
            "UpdateConfigurationSetTrackingOptions",
            lambda: self._v1.update_configuration_set_tracking_options(
                ConfigurationSetName=name, TrackingOptions={"CustomRedirectDomain": domain}
            ),
            name,
            _flag,
            domain=domain,
            absent=frozenset({"TrackingOptionsDoesNotExist"}),
        )
        return bool(outcome)

    def delete(self, name: str) -> bool:
        """Remove the options; False when they, or the whole set, are already gone."""
        outcome, _ = self._call(
            "DeleteConfigurationSetTrackingOptions",
            lambda: self._v1.delete_configuration_set_tracking_options(ConfigurationSetName=name),
            name,
            _flag,
            absent=frozenset({"TrackingOptionsDoesNotExist", "ConfigurationSetDoesNotExist"}),
        )
        return bool(outcome)

    def put_policy(self, name: str, domain: str, policy: str) -> None:
        """Set domain and HTTPS policy together, in place (SES v2 only)."""
        self._put(name, domain, policy)

    def restore(self, name: str, domain: str, policy: str | None) -> str | None:
        """Give the set back options it had: None once SES holds them, or SES's reason when it rejects them
        (its domain no longer a verified identity, say), having changed nothing."""
        try:
            self._put(name, domain, policy)
        except SesOperationError as error:
            if error.code in REJECTED_CODES:
                return f"{error.code}: {error.detail}"
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
            lambda _response: True,
            domain=domain,
        )

    def current(self, name: str) -> Current | None:
        """What SES holds for the set, or None when the set does not exist."""
        if name in self._reads:
            return self._reads[name]
        outcome, _ = self._call(
            "GetConfigurationSet",
            lambda: self._v2.get_configuration_set(ConfigurationSetName=name),
            name,
            _read,
            absent=frozenset({"NotFound"}),
            changes=False,
        )
        found = None if outcome is None else Current(outcome[0], outcome[1])
        self._reads[name] = found
        return found
