"""The loopback AWS that tests and benchmarks share: fake credentials, a trusted CA for the HTTPS
answer endpoint, SES on moto, and Node.js 22 for jsii."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import trustme
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.sqs.models import sqs_backends

from cdk_ses_tracking_options.lambda_handler.environment import QUEUE_VARIABLE, TABLE_VARIABLE
from tests import iam_emulator
from tests.ses_emulator import REGION, SesEmulator

ROOT = Path(__file__).resolve().parent.parent
VERIFIED_DOMAIN = "example.com"
SETS = ("marketing", "transactional")
# The provider's table and queue, as the harness names them (the template names them by a Ref). The queue's
# visibility timeout is the template's, shortened: a batch that fails comes back within seconds, not minutes.
STATE_TABLE = "state"
QUEUE = "requests.fifo"
QUEUE_VISIBILITY = 20.0


def use_loopback_environment() -> None:
    """Credentials only moto accepts (no AWS account is ever reached) and the Node.js `make` installs."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
    )
    os.environ.pop("AWS_PROFILE", None)
    # jsii runs on Node.js 22 from node_modules, not the machine's end-of-life one.
    node_bin = ROOT / "node_modules" / ".bin"
    if (node_bin / "node").exists() and not os.environ.get("PATH", "").startswith(str(node_bin)):
        os.environ["PATH"] = f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}"


def trusted_ca(directory: Path) -> trustme.CA:
    """A CA for the answer endpoint, trusted through SSL_CERT_FILE as Lambda trusts S3's."""
    authority = trustme.CA()
    pem = directory / "ca.pem"
    authority.cert_pem.write_to_path(str(pem))
    os.environ["SSL_CERT_FILE"] = str(pem)
    return authority


def start_ses() -> SesEmulator:
    """SES on loopback; the function finds it through AWS_ENDPOINT_URL_SES / _SESV2."""
    server = SesEmulator()
    iam_emulator.teach_moto()
    server.start()
    os.environ["AWS_ENDPOINT_URL_SES"] = server.endpoint
    os.environ["AWS_ENDPOINT_URL_SESV2"] = server.endpoint
    # The same moto server is the provider's DynamoDB and SQS.
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = server.endpoint
    os.environ["AWS_ENDPOINT_URL_SQS"] = server.endpoint
    # The table and queue reset_ses makes, for the function run in-process or in processes of its own.
    os.environ[TABLE_VARIABLE] = STATE_TABLE
    os.environ[QUEUE_VARIABLE] = f"{server.endpoint}/{DEFAULT_ACCOUNT_ID}/{QUEUE}"
    return server


def create_state_table(server: SesEmulator, name: str = STATE_TABLE) -> None:
    """A provider's table, as its template declares it."""
    client = boto3.client("dynamodb", endpoint_url=server.endpoint, region_name=REGION)
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def create_queue(server: SesEmulator, name: str = QUEUE, visibility: float = QUEUE_VISIBILITY) -> tuple[str, str]:
    """A provider's FIFO queue, as its template declares it: its URL and ARN."""
    client = boto3.client("sqs", endpoint_url=server.endpoint, region_name=REGION)
    url = client.create_queue(
        QueueName=name,
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "false",
            "VisibilityTimeout": str(int(visibility)),
        },
    )["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def reset_ses(server: SesEmulator) -> SesEmulator:
    """A verified domain and two configuration sets without tracking options; the provider's table and queue,
    empty, named by the function's variables (for the handler run in-process)."""
    server.reset()
    server.backend.verify_domain(VERIFIED_DOMAIN)
    for name in SETS:
        server.backend.create_configuration_set(name)
    dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables.clear()
    sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues.clear()
    create_state_table(server)
    create_queue(server)
    return server
