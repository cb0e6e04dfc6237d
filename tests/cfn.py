"""CloudFormation's side of the custom resource protocol: events as it sends them, and the
pre-signed HTTPS URL it waits on for the answer."""

from __future__ import annotations

import json
import secrets
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import trustme

from cdk_ses_tracking_options.lambda_handler.physical_ids import Issued

STACK_NAME = "TrackingStack"
STACK_ID = f"arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK_NAME}/5b7e1c10-3f4a-11f0-9c1e-0a1b2c3d4e5f"
SERVICE_TOKEN = "arn:aws:lambda:us-east-1:123456789012:function:TrackingStack-Provider"
RESOURCE_TYPE = "Custom::SesTrackingOptions"


def physical_id(set_name: str) -> str:
    """The id of options the provider created on a set."""
    return Issued(set_name).encode()


@dataclass(frozen=True)
class Answer:
    """One body PUT to the ResponseURL."""

    status: str
    physical_id: str
    reason: str
    data: dict[str, Any]
    request_id: str
    logical_id: str
    stack_id: str
    received: float


def as_cloudformation_sends(properties: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation passes every scalar property as a string."""

    def stringify(value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, list):
            return [stringify(item) for item in value]
        if isinstance(value, dict):
            return {key: stringify(item) for key, item in value.items()}
        return value

    return {key: stringify(value) for key, value in properties.items()}


def _handler_class(endpoint: ResponseEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            pass

        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = endpoint._next_status()
            if status < 300:
                endpoint._record(self.path, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


class _PromptServer(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self) -> tuple[Any, Any]:
        # S3 answers a PUT at once. With Nagle's algorithm on, this server held its short reply until the
        # client's delayed ACK: 40 ms more of every invocation that answers (measured: 42 ms from the answer's
        # arrival to the function reading its status, 0.2 ms with TCP_NODELAY).
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


@dataclass
class ResponseEndpoint:
    """An HTTPS server on loopback standing in for the S3 bucket behind CloudFormation's ResponseURL."""

    ca: trustme.CA
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _arrived: threading.Condition = field(init=False)
    _server: ThreadingHTTPServer = field(init=False)
    _thread: threading.Thread | None = None
    _listening: bool = False

    def __post_init__(self) -> None:
        self._arrived = threading.Condition(self._lock)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
        self._server = _PromptServer(("127.0.0.1", 0), _handler_class(self), bind_and_activate=False)
        self._server.server_bind()
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Listen and serve; until then the port refuses connections."""
        if self._listening:
            return
        self._server.server_activate()
        self._listening = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._listening:
            self._server.shutdown()
        self._server.server_close()

    def fail_next(self, *statuses: int) -> None:
        """Answer the next PUTs with these HTTP statuses instead of 200."""
        with self._lock:
            self.statuses.extend(statuses)

    def _next_status(self) -> int:
        with self._lock:
            return self.statuses.pop(0) if self.statuses else 200

    def _record(self, path: str, body: bytes) -> None:
        request_id = urlsplit(path).path.rsplit("/", 1)[-1]
        payload = json.loads(body)
        answer = Answer(
            status=payload["Status"],
            physical_id=payload["PhysicalResourceId"],
            reason=payload.get("Reason", ""),
            data=payload.get("Data") or {},
            request_id=payload["RequestId"],
            logical_id=payload["LogicalResourceId"],
            stack_id=payload["StackId"],
            received=time.monotonic(),
        )
        assert answer.request_id == request_id, "the answer names another request than its URL"
        with self._arrived:
            self.answers.setdefault(request_id, []).append(answer)
            self._arrived.notify_all()

    def response_url(self, request_id: str, signed: float | None = None) -> str:
        """Shaped like the pre-signed S3 URL CloudFormation sends, signed when it sends the event (or at `signed`),
        valid for two hours: the signature is a secret."""
        signature = secrets.token_hex(32)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if signed is None else signed))
        return (
            f"https://localhost:{self.port}/cloudformation-custom-resource-response-useast1/{request_id}"
            f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={stamp}&X-Amz-SignedHeaders=host"
            f"&X-Amz-Expires=7200&X-Amz-Credential=AKIA6EXAMPLE0000%2F{stamp[:8]}%2Fus-east-1%2Fs3%2Faws4_request"
            f"&X-Amz-Signature={signature}"
        )

    def wait(self, request_id: str, timeout: float) -> Answer | None:
        """The first answer to a request, waiting up to timeout seconds."""
        with self._arrived:
            self._arrived.wait_for(lambda: request_id in self.answers, timeout=timeout)
            found = self.answers.get(request_id)
            return found[0] if found else None


def event(
    request_type: str,
    endpoint: ResponseEndpoint,
    properties: dict[str, Any],
    *,
    old_properties: dict[str, Any] | None = None,
    physical_id: str | None = None,
    logical_id: str = "Tracking",
    request_id: str | None = None,
    service_timeout: str = "180",
    stack_id: str = STACK_ID,
    signed: float | None = None,
) -> dict[str, Any]:
    """An event as CloudFormation sends it to the provider function (its ResponseURL pre-signed now, or at
    `signed`: when CloudFormation sent it)."""
    request_id = request_id or str(uuid.uuid4())
    props = {"ServiceToken": SERVICE_TOKEN, "ServiceTimeout": service_timeout, **properties}
    body: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": SERVICE_TOKEN,
        "ResponseURL": endpoint.response_url(request_id, signed),
        "StackId": stack_id,
        "RequestId": request_id,
        "LogicalResourceId": logical_id,
        "ResourceType": RESOURCE_TYPE,
        "ResourceProperties": as_cloudformation_sends(props),
    }
    if physical_id is not None:
        body["PhysicalResourceId"] = physical_id
    if old_properties is not None:
        body["OldResourceProperties"] = as_cloudformation_sends(
            {"ServiceToken": SERVICE_TOKEN, "ServiceTimeout": service_timeout, **old_properties}
        )
    return body
