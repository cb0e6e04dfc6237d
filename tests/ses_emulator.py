"""SES on loopback: moto's server, taught the tracking-options operations moto 5.2.5 lacks, behind a
middleware that can throttle and inject faults the way the real service and network produce them. The same
server is the provider's DynamoDB and SQS, and faults can be injected into their calls too.

SQS: moto forgets a FIFO message's deduplication id once the message is deleted; SQS keeps it for the
5-minute deduplication interval whatever becomes of the message ("Using the message deduplication ID"), and
that is taught here too. DynamoDB: moto accepts an expression of any length; DynamoDB refuses one over 4 KB
with a ValidationException, and so does the middleware.

The added operations follow the SES API reference:
- v1 CreateConfigurationSetTrackingOptions: ConfigurationSetDoesNotExist, TrackingOptionsAlreadyExists,
  InvalidTrackingOptions (not a valid hostname, or neither it nor a parent domain is a verified identity).
- v1 UpdateConfigurationSetTrackingOptions: ConfigurationSetDoesNotExist, TrackingOptionsDoesNotExist,
  InvalidTrackingOptions.
- v1 DeleteConfigurationSetTrackingOptions: ConfigurationSetDoesNotExist, TrackingOptionsDoesNotExist.
- v1 DescribeConfigurationSet with the trackingOptions attribute.
- v2 PutConfigurationSetTrackingOptions (NotFoundException, BadRequestException) and the
  TrackingOptions of v2 GetConfigurationSet (NotFoundException for a missing set).
Error codes are botocore's (the model's shape codes), which is what the service sends.
"""

from __future__ import annotations

import io
import json
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from moto.core.exceptions import ServiceException
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.responses import EmptyResult
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.ses.models import ConfigurationSet, SESBackend, ses_backends
from moto.ses.responses import EmailResponse
from moto.sesv2 import urls as sesv2_urls
from moto.sesv2.responses import SESV2Response
from moto.sqs.models import Message, Queue
from werkzeug.serving import make_server

REGION = "us-east-1"
# Operations SES rate-limits together in the emulator's token bucket: every call the provider makes,
# v1 and v2, the read included (the worst case).
TRACKING_OPERATIONS = frozenset(
    {
        "CreateConfigurationSetTrackingOptions",
        "UpdateConfigurationSetTrackingOptions",
        "DeleteConfigurationSetTrackingOptions",
        "PutConfigurationSetTrackingOptions",
        "GetConfigurationSet",
    }
)

_V2_TRACKING_PATH = "{0}/v2/email/configuration-sets/(?P<ConfigurationSetName>[^/]+)/tracking-options$"
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class _SesError(ServiceException):
    """Raised with the model's shape name; moto serializes the shape's code and HTTP status."""

    def __init__(self, shape: str, message: str) -> None:
        super().__init__(shape, message)


def _config_set(backend: SESBackend, name: str, *, v2: bool = False) -> ConfigurationSet:
    config_set = backend.config_sets.get(name)
    if config_set is None:
        shape = "NotFoundException" if v2 else "ConfigurationSetDoesNotExistException"
        raise _SesError(shape, f"Configuration set <{name}> does not exist.")
    return config_set


def _domain_is_usable(backend: SESBackend, domain: Any) -> bool:
    """A valid hostname of which it, or a parent domain, is a verified SES identity."""
    if not isinstance(domain, str) or not domain or len(domain) > 253:
        return False
    labels = domain.lower().split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return False
    verified = {name.lower() for name, identity in backend.email_identities.items() if "@" not in name}
    return any(".".join(labels[i:]) in verified for i in range(len(labels) - 1))


def _no_tracking_options(name: str) -> _SesError:
    return _SesError(
        "TrackingOptionsDoesNotExistException",
        f"A tracking options object does not exist in configuration set <{name}>.",
    )


def _v1_backend(response: EmailResponse) -> SESBackend:
    return ses_backends[response.current_account][response.region]


def _v1_domain(response: EmailResponse) -> Any:
    options = response._get_param("TrackingOptions") or {}
    return options.get("CustomRedirectDomain")


def create_configuration_set_tracking_options(self: EmailResponse) -> EmptyResult:
    backend = _v1_backend(self)
    name = self._get_param("ConfigurationSetName")
    config_set = _config_set(backend, name)
    if config_set.tracking_options:
        raise _SesError(
            "TrackingOptionsAlreadyExistsException",
            f"A tracking options object already exists in configuration set <{name}>.",
        )
    domain = _v1_domain(self)
    if not _domain_is_usable(backend, domain):
        raise _SesError("InvalidTrackingOptionsException", f"Invalid tracking options: {domain}")
    config_set.tracking_options = {"CustomRedirectDomain": domain}
    return EmptyResult()


def update_configuration_set_tracking_options(self: EmailResponse) -> EmptyResult:
    backend = _v1_backend(self)
    name = self._get_param("ConfigurationSetName")
    config_set = _config_set(backend, name)
    if not config_set.tracking_options:
        raise _no_tracking_options(name)
    domain = _v1_domain(self)
    if not _domain_is_usable(backend, domain):
        raise _SesError("InvalidTrackingOptionsException", f"Invalid tracking options: {domain}")
    config_set.tracking_options = {**config_set.tracking_options, "CustomRedirectDomain": domain}
    return EmptyResult()


def delete_configuration_set_tracking_options(self: EmailResponse) -> EmptyResult:
    name = self._get_param("ConfigurationSetName")
    config_set = _config_set(_v1_backend(self), name)
    if not config_set.tracking_options:
        raise _no_tracking_options(name)
    config_set.tracking_options = {}
    return EmptyResult()


_moto_describe_configuration_set = EmailResponse.describe_configuration_set


def describe_configuration_set(self: EmailResponse) -> Any:
    result = _moto_describe_configuration_set(self)
    if "trackingOptions" in (self._get_param("ConfigurationSetAttributeNames") or []):
        name = self._get_param("ConfigurationSetName")
        options = _v1_backend(self).config_sets[name].tracking_options
        if options.get("CustomRedirectDomain"):
            result.result["TrackingOptions"] = {"CustomRedirectDomain": options["CustomRedirectDomain"]}  # type: ignore[index]
    return result


def put_configuration_set_tracking_options(self: SESV2Response) -> str:
    backend = self.sesv2_backend.core_backend
    name = self._get_param("ConfigurationSetName")
    config_set = _config_set(backend, name, v2=True)
    domain = self._get_param("CustomRedirectDomain")
    policy = self._get_param("HttpsPolicy")
    if domain is not None and not _domain_is_usable(backend, domain):
        raise _SesError("BadRequestException", f"Invalid tracking options: {domain}")
    if policy is not None and policy not in {"REQUIRE", "REQUIRE_OPEN_ONLY", "OPTIONAL"}:
        raise _SesError("BadRequestException", f"Invalid HttpsPolicy: {policy}")
    options = {"CustomRedirectDomain": domain, "HttpsPolicy": policy}
    config_set.tracking_options = {key: value for key, value in options.items() if value is not None}
    return "{}"


def get_configuration_set(self: SESV2Response) -> str:
    name = self._get_param("ConfigurationSetName")
    config_set = _config_set(self.sesv2_backend.core_backend, name, v2=True)
    body = config_set.to_dict_v2()
    if not config_set.tracking_options:
        del body["TrackingOptions"]
    return json.dumps(body)


_DEDUPLICATION_INTERVAL = 300.0
_moto_add_message = Queue.add_message


def add_message(self: Queue, message: Message) -> None:
    seen: dict[str, float] = self.__dict__.setdefault("_deduplication_ids", {})
    now = time.time()
    if self.fifo_queue and message.deduplication_id:
        sent = seen.get(message.deduplication_id)
        if sent is not None and now - sent < _DEDUPLICATION_INTERVAL:
            return
        seen[message.deduplication_id] = now
    _moto_add_message(self, message)


def _teach_moto() -> None:
    Queue.add_message = add_message  # type: ignore[method-assign]
    v1: dict[str, Callable[..., Any]] = {
        "create_configuration_set_tracking_options": create_configuration_set_tracking_options,
        "update_configuration_set_tracking_options": update_configuration_set_tracking_options,
        "delete_configuration_set_tracking_options": delete_configuration_set_tracking_options,
        "describe_configuration_set": describe_configuration_set,
    }
    v2: dict[str, Callable[..., Any]] = {
        "put_configuration_set_tracking_options": put_configuration_set_tracking_options,
        "get_configuration_set": get_configuration_set,
    }
    for name, method in v1.items():
        setattr(EmailResponse, name, method)
    for name, method in v2.items():
        setattr(SESV2Response, name, method)
    sesv2_urls.url_paths[_V2_TRACKING_PATH] = SESV2Response.dispatch


# --- Faults and rate limits -------------------------------------------------------------------------

# "500", "throttle", "deny", "reset", "slow"; "lost": applied, then the connection dies before the answer;
# "crash": applied, then `then` runs (the harness kills the function that made the call) before any answer.
FaultKind = str


@dataclass
class _Fault:
    kind: FaultKind
    operation: str | None
    remaining: int
    delay: float = 0.0
    # Only calls whose body holds this (or each of these).
    matching: bytes | tuple[bytes, ...] = b""
    then: Callable[[], None] | None = None


@dataclass
class TokenBucket:
    """SES's control plane: `rate` calls a second, bursts up to `burst`."""

    rate: float
    burst: float = 1.0
    _tokens: float = 1.0
    _stamp: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


@dataclass
class CallRecord:
    operation: str
    outcome: str  # "passed", "throttled", or the fault kind
    at: float = field(default_factory=time.monotonic)
    # The service the request was signed for: "ses" (v1 and v2), "dynamodb", "sqs", ...
    service: str = "ses"


def _service(environ: dict[str, Any]) -> str:
    found = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", str(environ.get("HTTP_AUTHORIZATION", "")))
    return found.group(1) if found else "unsigned"


def _operation(environ: dict[str, Any], body: bytes) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        # DynamoDB (DynamoDB_20120810.UpdateItem) and SQS (AmazonSQS.SendMessage)
        return str(target).rsplit(".", 1)[-1]
    path = environ.get("PATH_INFO", "")
    if path.startswith("/v2/"):
        if path.endswith("/tracking-options") and environ.get("REQUEST_METHOD") == "PUT":
            return "PutConfigurationSetTrackingOptions"
        if re.fullmatch(r"/v2/email/configuration-sets/[^/]+", path) and environ.get("REQUEST_METHOD") == "GET":
            return "GetConfigurationSet"
        return f"v2:{environ.get('REQUEST_METHOD')} {path}"
    return parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]


def _error(environ: dict[str, Any], kind: FaultKind) -> tuple[str, list[tuple[str, str]], bytes]:
    """A throttling, access-denied or 5xx answer as SES v1 (query, XML) or v2 (REST, JSON) sends it."""
    v2 = environ.get("PATH_INFO", "").startswith("/v2/")
    status, code, message = {
        "throttle": ("429 Too Many Requests", "TooManyRequestsException", "Too many requests")
        if v2
        else ("400 Bad Request", "Throttling", "Rate exceeded"),
        "deny": ("403 Forbidden", "AccessDeniedException" if v2 else "AccessDenied", "not authorized"),
    }.get(kind, ("500 Internal Server Error", "InternalFailure", "Internal failure"))
    if v2:
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
        return status, headers, json.dumps({"message": message}).encode()
    body = (
        '<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return status, [("Content-Type", "text/xml")], body.encode()


class _OneDynamoDbRequestAtATime:
    """moto's TransactWriteItems backs up each table it touches with a deep copy, while the server's other
    threads write to it ('dictionary changed size during iteration'). DynamoDB itself isolates a transaction from
    every other write ("Amazon DynamoDB Transactions: How it works", isolation levels: serializable): here its
    requests take turns, which that isolation allows."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if _service(environ) != "dynamodb":
            return self._app(environ, start_response)
        with self._lock:
            return list(self._app(environ, start_response))


class FaultyMiddleware:
    """Wraps moto's WSGI app: records every call, throttles tracking-option calls, injects faults."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = _OneDynamoDbRequestAtATime(app)
        self.bucket: TokenBucket | None = None
        self.calls: list[CallRecord] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.bucket = None
            self.calls.clear()
            self._faults.clear()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def inject(
        self,
        kind: FaultKind,
        *,
        operation: str | None = None,
        times: int = 1,
        delay: float = 0.0,
        matching: bytes | tuple[bytes, ...] = b"",
        then: Callable[[], None] | None = None,
    ) -> None:
        with self._lock:
            self._faults.append(_Fault(kind, operation, times, delay, matching, then))

    def _take_fault(self, operation: str, body: bytes) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                parts = fault.matching if isinstance(fault.matching, tuple) else (fault.matching,)
                if fault.remaining > 0 and fault.operation in (None, operation) and all(p in body for p in parts):
                    fault.remaining -= 1
                    return fault
        return None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        operation = _operation(environ, body)
        fault = self._take_fault(operation, body)
        if fault is None and self.bucket is not None and operation in TRACKING_OPERATIONS and not self.bucket.take():
            fault = _Fault("throttle", operation, 0)
        self.calls.append(CallRecord(operation, fault.kind if fault else "passed", service=_service(environ)))
        too_long = _expression_too_long(environ, body)
        if too_long is not None:
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")])
            return [too_long]
        if fault is None:
            return self.app(environ, start_response)
        if fault.kind == "slow":
            time.sleep(fault.delay)
            return self.app(environ, start_response)
        if fault.kind in ("lost", "crash"):
            # The service applies the call, and the connection dies before its answer reaches the caller.
            for _ in self.app(environ, lambda *_args: None):
                pass
            if fault.then is not None:
                fault.then()
        if fault.kind in ("reset", "lost", "crash"):
            connection: socket.socket = environ["werkzeug.socket"]
            # The connection dies before any answer, as a dropped connection looks to the client.
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.shutdown(socket.SHUT_RDWR)
            start_response("500 Internal Server Error", [])
            return []
        status, headers, payload = _error(environ, fault.kind)
        start_response(status, headers)
        return [payload]


# DynamoDB's limit on each expression parameter, which moto does not enforce: "The maximum length of any
# expression string is 4 KB" ("Constraints in Amazon DynamoDB", Expression parameters), counted as sent, with
# the placeholders.
_EXPRESSION_LIMIT = 4096
_EXPRESSIONS = (
    "UpdateExpression",
    "ConditionExpression",
    "KeyConditionExpression",
    "FilterExpression",
    "ProjectionExpression",
)


def _expression_too_long(environ: dict[str, Any], body: bytes) -> bytes | None:
    """DynamoDB's ValidationException for a request with an expression over 4 KB, or None."""
    if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
        return None
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return None
    parts = [request, *(part for item in request.get("TransactItems", []) for part in item.values())]
    for part in parts:
        for name in _EXPRESSIONS:
            size = len(str(part.get(name, "")).encode())
            if size > _EXPRESSION_LIMIT:
                message = (
                    f"Invalid {name}: Expression size has exceeded the maximum allowed size; expression size: {size}"
                )
                error = {"__type": "com.amazon.coral.validation#ValidationException", "message": message}
                return json.dumps(error).encode()
    return None


class _QuietHandler(MotoRequestHandler):
    def log_request(self, *_args: Any) -> None:
        pass


class SesEmulator(ThreadedMotoServer):
    """moto's ThreadedMotoServer on an ephemeral loopback port, with FaultyMiddleware in front."""

    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        _teach_moto()
        self.middleware = FaultyMiddleware(DomainDispatcherApplication(create_backend_app))

    def _server_entry(self) -> None:
        # As moto's own, with the middleware in front of its dispatcher.
        self._server = make_server(self._ip_address, self._port, self.middleware, True, request_handler=_QuietHandler)
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def endpoint(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def backend(self) -> SESBackend:
        return ses_backends[DEFAULT_ACCOUNT_ID][REGION]

    def reset(self) -> None:
        backend = self.backend
        backend.config_sets.clear()
        backend.email_identities.clear()
        self.middleware.reset()

    @property
    def ses_calls(self) -> list[CallRecord]:
        """The calls made to SES, v1 and v2 (not to the provider's table or queue)."""
        return [call for call in self.middleware.calls if call.service == "ses"]

    def tracking(self, name: str) -> dict[str, str] | None:
        """The tracking options SES holds for a set (None: the set does not exist)."""
        config_set = self.backend.config_sets.get(name)
        return None if config_set is None else dict(config_set.tracking_options)
