"""Lambda on loopback: the Runtime API served here, the function under AWS's runtime interface client
(awslambdaric) in its own process, with an interpreter that has only boto3 and awslambdaric, as the
managed runtime has. The function's code is the bundled asset from cdk.out, exactly as uploaded."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from tests.iam_emulator import authorize

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_VENV = ROOT / ".venv-lambda"
# What the managed Python runtime provides besides the standard library.
LAMBDA_PACKAGES = ("boto3==1.44.8", "awslambdaric==4.2.2")
PREFIX = "/2018-06-01/runtime"


def lambda_python() -> Path:
    """An interpreter with only boto3 and awslambdaric, made once and kept in .venv-lambda."""
    python = LAMBDA_VENV / "bin" / "python"
    marker = LAMBDA_VENV / ".installed"
    wanted = "\n".join(LAMBDA_PACKAGES)
    if not (marker.is_file() and marker.read_text() == wanted and python.exists()):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(LAMBDA_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *LAMBDA_PACKAGES],
            check=True,
        )
        marker.write_text(wanted)
    return python


@dataclass
class Invocation:
    event: dict[str, Any]
    deadline_ms: int
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    finished: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: dict[str, Any] | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A function process killed mid-request (as Lambda kills one at its deadline) drops its connection.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RuntimeApi:
    """The Lambda Runtime API: /invocation/next, /response, /error and /init/error."""

    def __init__(self, function_arn: str) -> None:
        self.function_arn = function_arn
        self.pending: queue.Queue[Invocation | None] = queue.Queue()
        self.invocations: dict[str, Invocation] = {}
        self.init_error: dict[str, Any] | None = None
        self.init_failed = threading.Event()
        # Set once the runtime has initialized and asks for its first invocation.
        self.ready = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self.pending.put(None)
        self._server.shutdown()
        self._server.server_close()

    def submit(self, event: dict[str, Any], timeout: float) -> Invocation:
        invocation = Invocation(event, deadline_ms=int((time.time() + timeout) * 1000))
        self.invocations[invocation.request_id] = invocation
        self.pending.put(invocation)
        return invocation

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._reply(404)
                    return
                api.ready.set()
                invocation = api.pending.get()
                if invocation is None:
                    return
                self._reply(
                    200,
                    json.dumps(invocation.event).encode(),
                    {
                        "Content-Type": "application/json",
                        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
                    },
                )

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.removeprefix(PREFIX).strip("/").split("/")
                if parts == ["init", "error"]:
                    api.init_error = json.loads(body or b"{}")
                    api.init_failed.set()
                    self._reply(202)
                elif len(parts) == 3 and parts[0] == "invocation" and parts[1] in api.invocations:
                    invocation = api.invocations[parts[1]]
                    if parts[2] == "response":
                        invocation.result = json.loads(body) if body else None
                    else:
                        invocation.error = json.loads(body or b"{}")
                    invocation.finished.set()
                    self._reply(202)
                else:
                    self._reply(404)

        return Handler


class FunctionCrashedError(Exception):
    """The function process failed to start (an /init/error) or exited."""


@dataclass
class FunctionSpec:
    """What the template says of the provider function."""

    code_dir: Path
    handler: str
    timeout: float
    environment: dict[str, str]


DEFAULT_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:TrackingStack-Provider"


class FunctionProcess:
    """One execution environment: a warm process that serves invocations one after another."""

    def __init__(
        self,
        spec: FunctionSpec,
        log_path: Path,
        extra_env: dict[str, str] | None = None,
        *,
        niceness: int = 0,
        function_arn: str = DEFAULT_FUNCTION_ARN,
    ) -> None:
        self.spec = spec
        self.log_path = log_path
        self.api = RuntimeApi(function_arn)
        name = function_arn.rsplit(":", 1)[-1]
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(spec.code_dir),
            "PYTHONNOUSERSITE": "1",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/27/[$LATEST]0123456789abcdef0123456789abcdef",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.14",
            **{key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ},
            **spec.environment,
            **(extra_env or {}),
        }
        self._log: IO[bytes] = log_path.open("ab")
        self.process = subprocess.Popen(
            ["nice", "-n", str(niceness), str(lambda_python()), "-m", "awslambdaric", spec.handler],
            cwd=spec.code_dir,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.killed_at_deadline = False

    def invoke(self, event: dict[str, Any], timeout: float | None = None) -> Invocation:
        """Run one event and wait as Lambda does: at the deadline the process is killed."""
        limit = self.spec.timeout if timeout is None else timeout
        invocation = self.api.submit(event, limit)
        deadline = time.monotonic() + limit + 0.5
        while not invocation.finished.wait(0.05):
            if self.api.init_failed.is_set() or self.process.poll() is not None:
                # A bundle missing a module fails here, as it would in Lambda.
                raise FunctionCrashedError(self.api.init_error, self.logs()[-2000:])
            if time.monotonic() > deadline:
                self.killed_at_deadline = True
                self.process.kill()
                break
        return invocation

    def logs(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.api.close()
        self._log.close()


# The account and endpoints of the loopback AWS the function talks to.
_PASSED_THROUGH = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_SES",
    "AWS_ENDPOINT_URL_SESV2",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "SSL_CERT_FILE",
)


# How long an invocation waits for an idle environment before a new one starts.
REUSE_WAIT = 1.0


class LambdaService:
    """The Lambda service for one function: asynchronous invocations (CloudFormation's events, and the
    function's hand-ons through the Invoke API on loopback, authorized as `lambda:InvokeFunction` on the
    function's ARN when IAM is enforced: tests/iam_emulator.py), each run by an idle execution environment
    or, when none is idle, by a new one, as Lambda scales out."""

    def __init__(self, start: Callable[[int], FunctionProcess], function_arn: str = DEFAULT_FUNCTION_ARN) -> None:
        self._start = start
        self.function_arn = function_arn
        self.deleted = False
        self.closed = False
        self._lock = threading.Lock()
        self._idle: list[FunctionProcess] = []
        self.processes: list[FunctionProcess] = []
        self.handed_on = 0
        self._server = _Server(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def prestart(self, count: int, timeout: float = 600.0) -> None:
        """Start `count` execution environments and wait until each has initialized and asks for work, as
        environments that earlier invocations left warm (or provisioned concurrency) do."""
        with self._lock:
            started = [self._start(len(self.processes) + number) for number in range(count)]
            self.processes.extend(started)
        for process in started:
            assert process.api.ready.wait(timeout), "an execution environment did not initialize"
        with self._lock:
            self._idle.extend(started)

    def dispatch(self, event: dict[str, Any], reuse_wait: float = 0.0) -> None:
        """Run the event asynchronously, as an Event invocation, in an environment idle within reuse_wait."""
        threading.Thread(target=self._run, args=(event, reuse_wait), daemon=True).start()

    def _run(self, event: dict[str, Any], reuse_wait: float) -> None:
        deadline = time.monotonic() + reuse_wait
        while True:
            with self._lock:
                if self._idle:
                    process = self._idle.pop()
                    break
                if time.monotonic() >= deadline:
                    process = self._start(len(self.processes))
                    self.processes.append(process)
                    break
            time.sleep(0.02)
        try:
            process.invoke(event)
        except FunctionCrashedError:
            if not self.closed:
                raise
        finally:
            if process.process.poll() is None and not process.killed_at_deadline:
                with self._lock:
                    self._idle.append(process)

    def replace_code(self, start: Callable[[int], FunctionProcess]) -> None:
        """An update of the function: invocations from now on run in environments of the new version."""
        with self._lock:
            self._start, idle, self._idle = start, self._idle, []
        for process in idle:
            process.stop()

    def close(self) -> None:
        self.closed = True
        self._server.shutdown()
        self._server.server_close()
        for process in self.processes:
            process.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def _refuse(self, status: int, code: str, message: str) -> None:
                body = json.dumps({"Type": "User", "Message": message}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("x-amzn-ErrorType", code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not (self.path.startswith("/2015-03-31/functions/") and self.path.endswith("/invocations")):
                    self._refuse(404, "ResourceNotFoundException", "no such operation")
                    return
                denied = authorize("POST", self.path, body, self.headers, "InvokeFunction", service.function_arn)
                if denied is not None:
                    self._refuse(403, "AccessDeniedException", denied)
                    return
                if service.deleted:
                    self._refuse(404, "ResourceNotFoundException", f"Function not found: {service.function_arn}")
                    return
                assert self.headers.get("X-Amz-Invocation-Type") == "Event", "hand-ons are asynchronous"
                with service._lock:
                    service.handed_on += 1
                # As Lambda reuses an environment that frees up: the hand-on's invoker is idle a moment later.
                service.dispatch(json.loads(body), REUSE_WAIT)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler
