"""Lambda on loopback: the Runtime API served here, the function under AWS's runtime interface client
(awslambdaric) in its own process, with an interpreter that has only boto3 and awslambdaric, as the
managed runtime has. The function's code is the bundled asset from cdk.out, exactly as uploaded."""

from __future__ import annotations

import fcntl
import functools
import json
import os
import queue
import random
import shutil
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

from cdk_ses_tracking_options._bundle import CACHE_TAG, bytecode_matches

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
    # The test workers (pytest-xdist) may each come here first: one makes it, the others wait for it.
    with (ROOT / ".venv-lambda.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (marker.is_file() and marker.read_text() == wanted and python.exists()):
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(LAMBDA_VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *LAMBDA_PACKAGES],
                check=True,
            )
            marker.write_text(wanted)
    return python


def task_root(code_dir: Path) -> Path:
    """The function's code as the harness's interpreter runs it. Lambda's Python (3.14) imports the bytecode the
    bundle ships for it, from each package's __pycache__; the harness runs 3.11, which cannot read 3.14's. Where
    the bundle ships a module's bytecode, and it matches the module, the harness runs a copy of the bundle with
    that module compiled by its own interpreter, the same way (checked-hash): its cold starts compile what
    Lambda's would, no more and no less. A bundle with no bytecode is run as it is."""
    cache_tag = _lambda_cache_tag()
    root = code_dir.parent / f".task.{code_dir.name}.{cache_tag}"
    # Made once per bundle (an asset's directory is named by its content's hash), then reused by every process.
    if root.is_dir():
        return root
    modules = _modules_with_bytecode(code_dir)
    if not modules or cache_tag == CACHE_TAG:
        return code_dir
    # The test workers (pytest-xdist) may each come here first: one makes it, the others wait for it.
    with (code_dir.parent / f".task.{code_dir.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not root.is_dir():
            building = root.with_name(root.name + ".building")
            shutil.rmtree(building, ignore_errors=True)
            shutil.copytree(code_dir, building)
            sources = [str(building / module.relative_to(code_dir)) for module in modules]
            subprocess.run([str(lambda_python()), "-c", _COMPILE_CHECKED, *sources], check=True)
            building.rename(root)
    return root


# Each module given, compiled by the function's interpreter into its __pycache__, as `make bytecode` compiles
# them for 3.14.
_COMPILE_CHECKED = """
import py_compile, sys
for source in sys.argv[1:]:
    py_compile.compile(source, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
"""


@functools.cache
def _lambda_cache_tag() -> str:
    tag = subprocess.run(
        [str(lambda_python()), "-c", "import sys; print(sys.implementation.cache_tag)"],
        capture_output=True,
        check=True,
        text=True,
    )
    return tag.stdout.strip()


def _modules_with_bytecode(code_dir: Path) -> list[Path]:
    """The bundle's modules whose bytecode for Lambda's Python its importer would take: a pyc in __pycache__
    beside the module's source (without one it is never imported), compiled from it."""
    modules = []
    for pyc in sorted(code_dir.rglob(f"__pycache__/*.{CACHE_TAG}.pyc")):
        source = pyc.parent.parent / (pyc.name.removesuffix(f".{CACHE_TAG}.pyc") + ".py")
        if source.is_file() and bytecode_matches(pyc.read_bytes(), source.read_bytes()):
            modules.append(source)
    return modules


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
    # Its LoggingConfig: LogFormat, ApplicationLogLevel (SystemLogLevel filters Lambda's own lines, which the
    # harness does not write).
    logging_config: dict[str, Any] = field(default_factory=dict)

    def logging_variables(self) -> dict[str, str]:
        """What Lambda sets from the LoggingConfig, under the names awslambdaric reads (its bootstrap.py): with
        the JSON format, the format and the application's level (INFO when not given); with Text, neither ("To
        use log-level filtering, your function must be configured to use the JSON log format", Lambda's
        Developer Guide, "Log-level filtering")."""
        if self.logging_config.get("LogFormat") != "JSON":
            return {}
        return {
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_LEVEL": str(self.logging_config.get("ApplicationLogLevel", "INFO")),
        }


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
        code = task_root(spec.code_dir)
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(code),
            "PYTHONNOUSERSITE": "1",
            # Lambda's /var/task is read-only, only /tmp is writable
            # (https://docs.aws.amazon.com/whitepapers/latest/security-overview-aws-lambda/lambda-isolation-technologies.html):
            # a module the bundle ships no bytecode for is compiled at every cold start, never cached in
            # __pycache__ (task_root()). The runtime's own boto3 ships compiled, as .venv-lambda's does.
            "PYTHONDONTWRITEBYTECODE": "1",
            "LAMBDA_TASK_ROOT": str(code),
            "_HANDLER": spec.handler,
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/27/[$LATEST]0123456789abcdef0123456789abcdef",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.14",
            **{key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ},
            **spec.logging_variables(),
            **spec.environment,
            **(extra_env or {}),
        }
        self._log: IO[bytes] = log_path.open("ab")
        self.process = subprocess.Popen(
            ["nice", "-n", str(niceness), str(lambda_python()), "-m", "awslambdaric", spec.handler],
            cwd=code,
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
    "AWS_ENDPOINT_URL_SQS",
    # The provider's table and queue, made by the harness (tests/loopback.py) under these names.
    "TABLE_NAME",
    "QUEUE_URL",
    "SSL_CERT_FILE",
)


@dataclass(frozen=True)
class LambdaTimes:
    """Lambda's documented delays ("Asynchronous invocation" and its error handling), scaled by `scale` so that a
    test can run them faster (1.0: as documented)."""

    scale: float = 1.0

    def throttled(self, attempt: int) -> float:
        """Before the next try of an event throttled `attempt` times: "The retry interval increases
        exponentially from 1 second after the first attempt to a maximum of 5 minutes". The jitter is not
        documented: AWS's own guidance for retries (the Builders' Library, "Timeouts, retries, and backoff
        with jitter") spreads them, and so does this, between half and all of the interval."""
        interval = min(2.0 ** (attempt - 1), 300.0)
        return self.scale * random.uniform(interval / 2, interval)

    def failed(self, attempt: int) -> float:
        """Before the next try of an event whose invocation failed `attempt` times: "a one-minute wait between
        the first two attempts, and two minutes between the second and third"."""
        return self.scale * (60.0 if attempt == 1 else 120.0)


class Concurrency:
    """The account's concurrent executions in the region, shared by every function in it ("Lambda quotas":
    1,000 by default; new accounts start lower, 10 in public reports). Measures what a wave takes: the peak,
    and execution seconds in all."""

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.seconds = 0.0
        self.invocations = 0
        self.throttles = 0

    def acquire(self) -> bool:
        with self._lock:
            if self.active >= self.limit:
                self.throttles += 1
                return False
            self.active += 1
            self.peak = max(self.peak, self.active)
            return True

    def release(self, seconds: float) -> None:
        with self._lock:
            self.active -= 1
            self.seconds += seconds
            self.invocations += 1

    def reset_measures(self) -> None:
        with self._lock:
            self.peak, self.seconds, self.invocations, self.throttles = self.active, 0.0, 0, 0


class ThrottledError(Exception):
    """A synchronous invocation refused at the account's concurrency (HTTP 429)."""


class InvocationFailedError(Exception):
    """A synchronous invocation whose function returned an error, crashed or timed out."""


class LambdaService:
    """The Lambda service for one function: asynchronous invocations (CloudFormation's events) with Lambda's
    retries, and synchronous ones (the event source mapping's batches), each run by an idle execution
    environment or, when none is idle, by a new one, as Lambda scales out, within the account's concurrency.

    An asynchronous event throttled at the concurrency is tried again (LambdaTimes.throttled) for up to
    `max_event_age`; one whose invocation fails (an error, a crash, the function's timeout) is tried again after
    a minute, then two, `retry_attempts` times; then it is dropped, as Lambda drops it without a destination."""

    def __init__(
        self,
        start: Callable[[int], FunctionProcess],
        function_arn: str = DEFAULT_FUNCTION_ARN,
        *,
        concurrency: Concurrency | None = None,
        times: LambdaTimes | None = None,
        retry_attempts: int = 2,
        max_event_age: float = 21600.0,
    ) -> None:
        self._start = start
        self.function_arn = function_arn
        self.concurrency = concurrency or Concurrency()
        self.times = times or LambdaTimes()
        self.retry_attempts = retry_attempts
        self.max_event_age = max_event_age
        self.deleted = False
        self.closed = False
        self._lock = threading.Lock()
        self._idle: list[FunctionProcess] = []
        self.processes: list[FunctionProcess] = []
        self.dropped: list[dict[str, Any]] = []

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

    def invoke_async(self, event: dict[str, Any]) -> None:
        """An Event invocation, as CloudFormation makes one: queued, tried, retried, at least once."""
        threading.Thread(target=self._deliver, args=(event,), daemon=True).start()

    def _deliver(self, event: dict[str, Any]) -> None:
        received, throttled, failed = time.monotonic(), 0, 0
        while not self.closed and not self.deleted:
            if time.monotonic() - received > self.max_event_age * self.times.scale:
                break
            if not self.concurrency.acquire():
                throttled += 1
                time.sleep(self.times.throttled(throttled))
                continue
            if self._execute(event).error is None:
                return
            failed += 1
            if failed > self.retry_attempts:
                break
            time.sleep(self.times.failed(failed))
        with self._lock:
            self.dropped.append(event)

    def invoke_sync(self, event: dict[str, Any]) -> Any:
        """A RequestResponse invocation: the function's result, or ThrottledError / InvocationFailedError."""
        if self.closed or self.deleted:
            raise InvocationFailedError("the function does not exist")
        if not self.concurrency.acquire():
            raise ThrottledError
        invocation = self._execute(event)
        if invocation.error is not None:
            raise InvocationFailedError(invocation.error)
        return invocation.result

    def _execute(self, event: dict[str, Any]) -> Invocation:
        """Run one invocation, whose concurrency is acquired; released when it ends."""
        started = time.monotonic()
        with self._lock:
            process = self._idle.pop() if self._idle else None
            if process is None:
                process = self._start(len(self.processes))
                self.processes.append(process)
        try:
            invocation = process.invoke(event)
        except FunctionCrashedError as crashed:
            invocation = Invocation(event, 0)
            invocation.error = {"errorType": "Runtime.ExitError", "errorMessage": str(crashed)[:300]}
        finally:
            self.concurrency.release(time.monotonic() - started)
        if process.killed_at_deadline:
            invocation.error = {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out"}
        elif process.process.poll() is None:
            with self._lock:
                self._idle.append(process)
        return invocation

    def kill_running(self) -> int:
        """Kill every environment busy with an invocation, as a crash would: how many."""
        with self._lock:
            busy = [p for p in self.processes if p not in self._idle and p.process.poll() is None]
        for process in busy:
            process.process.kill()
        return len(busy)

    def replace_code(self, start: Callable[[int], FunctionProcess]) -> None:
        """An update of the function: invocations from now on run in environments of the new version."""
        with self._lock:
            self._start, idle, self._idle = start, self._idle, []
        for process in idle:
            process.stop()

    def close(self) -> None:
        self.closed = True
        for process in self.processes:
            process.stop()
