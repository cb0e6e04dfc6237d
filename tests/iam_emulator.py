"""IAM evaluated for the requests the provider makes, as AWS evaluates them: moto's access control (its
"IAM-like access control", switched on by `enforced()`), taught what moto 5.2.5 lacks for these services.

What moto does and AWS does not, each corrected here:
- It checks DynamoDB, SES and Lambda requests against the resource `*`: a policy scoped to a table or a
  configuration set never matches. Here each request names the resource the Service Authorization Reference
  gives its action ("Actions, resources, and condition keys for Amazon SES", "... for Amazon Simple Email
  Service v2", "... for Amazon DynamoDB", "... for AWS Lambda"):
  - SES v1 Create/Update/DeleteConfigurationSetTrackingOptions: no resource type, so `*`;
  - SES v2 GetConfigurationSet and PutConfigurationSetTrackingOptions: `configuration-set*`,
    `arn:${Partition}:ses:${Region}:${Account}:configuration-set/${ConfigurationSetName}`;
  - DynamoDB item actions: `table*`, `arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName}`;
    TransactWriteItems has no action of its own: each item is authorized as PutItem, UpdateItem, DeleteItem or
    ConditionCheckItem on its table ("Using IAM with DynamoDB transactions");
  - SQS actions: `queue*`, the queue's ARN, as moto already gives it; a batch action is authorized as its single
    action (SendMessageBatch as sqs:SendMessage, ...: "Amazon SQS API permissions: Actions and resource
    reference"), where moto asks for an action IAM does not have.
- It computes the signature of a request with an empty body over its query parameters (its request headers,
  for REST calls), so every SES v2 GET fails with SignatureDoesNotMatch: the empty body is signed as sent.
- It answers a denial in its own XML for every protocol; here DynamoDB answers `AccessDeniedException` (HTTP 400,
  JSON 1.0) and SES v2 and SQS `AccessDeniedException` (HTTP 403, JSON), as their API references list it.

moto evaluates identity policies only (an assumed role's inline and attached policies) and ignores Conditions;
nothing here needs more.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import boto3
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.responses import DynamoHandler
from moto.iam.access_control import IAMRequest, IAMRequestBase
from moto.sesv2.responses import SESV2Response
from werkzeug.exceptions import HTTPException

from tests.ses_emulator import REGION

ACCOUNT = DEFAULT_ACCOUNT_ID
PARTITION = "aws"
_SET_PATH = re.compile(r"/v2/email/configuration-sets/(?P<name>[^/?]+)")
_SQS_BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


class _Denied(HTTPException):
    """A denial in the service's own protocol: moto's call_action sends `description` with status `code`."""

    def __init__(self, status: int, body: dict[str, str]) -> None:
        super().__init__(description=json.dumps(body))
        self.code = status


def _table_arn(name: object) -> str:
    return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}" if isinstance(name, str) else "*"


def _dynamodb_resource(self: DynamoHandler) -> str:
    return _table_arn(json.loads(self.raw_body or b"{}").get("TableName"))


def _sesv2_resource(self: SESV2Response) -> str:
    found = _SET_PATH.match(self.raw_path)
    return f"arn:{PARTITION}:ses:{REGION}:{ACCOUNT}:configuration-set/{found['name']}" if found else "*"


def _checked(self: Any, action: str, resource: str) -> None:
    """moto's own check of one action on one resource, with the request's signature."""
    query = urlparse(self.uri).query
    path = self.raw_path + (f"?{query}" if query else "")
    request = IAMRequest(
        account_id=self.current_account,
        method=self.method,
        path=path,
        data=self.data,
        body=self.raw_body,
        headers=self.headers,
        action=action,
    )
    request.check_signature()
    request.check_action_permitted(resource)


_moto_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action


def _authorize(self: Any, resource: str = "*") -> None:
    try:
        if self.service_name == "dynamodb" and self._get_action() == "TransactWriteItems" and _enforced():
            for item in json.loads(self.raw_body or b"{}").get("TransactItems", []):
                ((kind, operation),) = item.items()
                _checked(self, _TRANSACT_ACTIONS[kind], _table_arn(operation.get("TableName")))
            return
        if self.service_name == "sqs" and self._get_action() in _SQS_BATCH_ACTIONS and _enforced():
            _checked(self, _SQS_BATCH_ACTIONS[self._get_action()], resource)
            return
        _moto_authorize(self, resource)
    except AccessDeniedError as denied:
        message = f"{denied.message} on resource: {resource}"
        if self.service_name == "dynamodb":
            raise _Denied(
                400, {"__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException", "message": message}
            ) from denied
        if self.service_name in {"sesv2", "sqs"}:
            raise _Denied(403, {"__type": "AccessDeniedException", "message": message}) from denied
        raise


def _aws_request(self: IAMRequestBase) -> Any:
    request = _moto_aws_request(self)
    form = "application/x-www-form-urlencoded" in str(self._headers.get("Content-Type", ""))
    if not self._body and not form:
        # Signed over the empty body as sent: moto would sign its parsed query parameters (for a REST call
        # without a query string, its headers) instead. A form's body is its parameters, which moto keeps.
        request.data = b""
    return request


_moto_aws_request = IAMRequestBase._create_aws_request


def teach_moto() -> None:
    DynamoHandler._determine_resource = _dynamodb_resource  # type: ignore[attr-defined]
    SESV2Response._determine_resource = _sesv2_resource  # type: ignore[attr-defined]
    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = _authorize  # type: ignore[method-assign]
    IAMRequestBase._create_aws_request = _aws_request  # type: ignore[method-assign]


def _enforced() -> bool:
    return bool(ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT)


@contextmanager
def enforced() -> Iterator[None]:
    """Every request to the loopback AWS is authenticated and authorized while this lasts."""
    previous = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    try:
        yield
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = previous


class Account:
    """Administrator credentials for the harness itself (once IAM is enforced, moto accepts only its own keys),
    and roles that the functions assume, as Lambda assumes an execution role."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        iam = boto3.client("iam", endpoint_url=endpoint, region_name=REGION)
        # One user per Account: IAM's state outlives a test on the shared server.
        user = f"harness-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=user)
        iam.put_user_policy(
            UserName=user,
            PolicyName="everything",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            ),
        )
        key = iam.create_access_key(UserName=user)["AccessKey"]
        self.admin = boto3.Session(
            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=REGION
        )

    def client(self, service: str) -> Any:
        return self.admin.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    def create_role(self, name: str) -> str:
        """A role any principal of the account may assume (moto cannot evaluate a service principal in a trust
        policy): the harness assumes it for the function, as Lambda does for its execution role."""
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
        }
        return str(
            self.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        )

    def credentials(self, role_arn: str) -> dict[str, str]:
        """The execution role's temporary credentials, as Lambda hands them to a function's environment."""
        found = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="function")["Credentials"]
        return {
            "AWS_ACCESS_KEY_ID": found["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": found["SecretAccessKey"],
            "AWS_SESSION_TOKEN": found["SessionToken"],
        }
