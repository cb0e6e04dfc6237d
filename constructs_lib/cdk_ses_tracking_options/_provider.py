"""The one provider function per stack that every TrackingOptions in it shares."""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass

from aws_cdk import Acknowledgment, CfnOutput, Duration, Fn, RemovalPolicy, Stack, Token, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ._bundle import HANDLER, RUNTIME, provider_code
from ._claims import Claims, Environment, Unique
from .lambda_handler.budget import FUNCTION_TIMEOUT, MAX_EVENT_AGE, QUEUE_VISIBILITY, SERVICE_TIMEOUT

# CloudFormation's longest wait for an answer, sent as CloudFormation sends it: hundreds of resources (and other
# stacks) share SES's one call a second, so a resource may wait its turn for most of an hour.
SERVICE_TIMEOUT_SECONDS = str(SERVICE_TIMEOUT)

# Each stack's provider, found without a lookup in the construct tree.
_BY_STACK: weakref.WeakKeyDictionary[Stack, TrackingOptionsProvider] = weakref.WeakKeyDictionary()

# The SES v1 tracking-options actions support no resource-level permissions.
V1_ACTIONS = (
    "ses:CreateConfigurationSetTrackingOptions",
    "ses:UpdateConfigurationSetTrackingOptions",
    "ses:DeleteConfigurationSetTrackingOptions",
)
# The SES v2 actions take a configuration set's ARN (Service Authorization Reference, "Actions, resources, and
# condition keys for Amazon Simple Email Service v2"). They are granted on every set of the stack's account and
# region, not on each managed set: a statement listing every set outgrows IAM's policy sizes (10,240 characters
# inline per role, 6,144 per managed policy: "IAM and AWS STS quotas") at about 100 sets, and CloudFormation's
# cleanup phase deletes a removed or moved resource under the new template's policies, which would no longer
# name its set. The v1 actions above already reach every set.
V2_ACTIONS = ("ses:GetConfigurationSet", "ses:PutConfigurationSetTrackingOptions")
SETS_ARN = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/*"


DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_YEAR
# CloudWatch Logs' CreateLogGroup: 1 to 512 of these characters, and not the prefix it reserves.
_LOG_GROUP_NAME = re.compile(r"[A-Za-z0-9_./#-]{1,512}")
_LOG_GROUP = "log group name"


@dataclass(frozen=True)
class LogSettings:
    """The function's log group as a TrackingOptions asks for it: None for the default."""

    name: str | None = None
    retention: logs.RetentionDays | None = None

    def check(self) -> None:
        name = self.name
        if name is None or Token.is_unresolved(name):
            return
        if not _LOG_GROUP_NAME.fullmatch(name) or name.startswith("aws/"):
            msg = (
                f"log_group_name {name!r} is not one CloudWatch Logs accepts: use 1 to 512 letters, digits, '_', "
                "'-', '/', '.' or '#', not starting with 'aws/', such as '/ses-tracking-options/my-stack'"
            )
            raise ValueError(msg)

    def differences(self, other: LogSettings) -> list[tuple[str, str, str]]:
        """Each prop on which the two disagree (omitted is the default), and how each gives it."""
        found = []
        if self.name != other.name:
            found.append(("log_group_name", _name_shown(self.name), _name_shown(other.name)))
        if (self.retention or DEFAULT_LOG_RETENTION) != (other.retention or DEFAULT_LOG_RETENTION):
            found.append(("log_retention", _retention_shown(self.retention), _retention_shown(other.retention)))
        return found


def _name_shown(name: str | None) -> str:
    return "none (a name CloudFormation makes)" if name is None else repr(name)


def _retention_shown(retention: logs.RetentionDays | None) -> str:
    shown = f"logs.RetentionDays.{(retention or DEFAULT_LOG_RETENTION).name}"
    return f"none (the default, {shown})" if retention is None else shown


class TrackingOptionsProvider(Construct):
    """Role, log group, table, queue and function; found again, not duplicated, by every construct in the stack."""

    ID = "SesTrackingOptionsProvider"

    @classmethod
    def of(
        cls, scope: Construct, log_settings: LogSettings | None = None, *, stack: Stack | None = None
    ) -> TrackingOptionsProvider:
        """The stack's provider (`stack`, when the caller knows it, is the scope's), made for the first construct
        that asks with its log settings; every later one must ask for the same."""
        log_settings = log_settings or LogSettings()
        if stack is None:
            stack = Stack.of(scope)
        found = _BY_STACK.get(stack)
        if found is None:
            existing = stack.node.try_find_child(cls.ID)
            found = existing if isinstance(existing, cls) else cls._made(stack, log_settings, scope)
            _BY_STACK[stack] = found
        for prop, mine, theirs in log_settings.differences(found.log_settings):
            msg = (
                f"{prop} differs between the TrackingOptions of one stack: {scope.node.path!r} gives {mine}, "
                f"{found.made_for!r} gives {theirs}. They share one function and its log group: pass the same "
                "log_group_name and log_retention to each, or omit them in each"
            )
            raise ValueError(msg)
        return found

    @classmethod
    def _made(cls, stack: Stack, log_settings: LogSettings, made_for: Construct) -> TrackingOptionsProvider:
        log_settings.check()
        name = log_settings.name
        claims, environment = Claims.of(stack), Environment.of(stack)
        named = None if name is None else claims.clash(_LOG_GROUP, name, environment, Unique.IN_REGION)
        if named is not None:
            msg = (
                f"log_group_name {name!r} is already the log group of {named.owner.node.path!r}, in a stack that may "
                f"deploy to the same account and region (this one: {environment}; that one: {named.environment}): "
                "CloudWatch Logs holds one log group of a name in each, so the second would fail to deploy. Give "
                "each stack its own log_group_name"
            )
            raise ValueError(msg)
        made = cls(stack, cls.ID, log_settings, made_for=made_for)
        if name is not None:
            claims.add(_LOG_GROUP, name, made, environment)
        return made

    def __init__(
        self, scope: Construct, id_: str, log_settings: LogSettings | None = None, *, made_for: Construct | None = None
    ) -> None:
        super().__init__(scope, id_)
        self.log_settings = log_settings or LogSettings()
        self.made_for = (made_for or self).node.path
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Manages SES configuration set tracking options for CloudFormation",
        )
        # Kept when the stack is deleted (RETAIN, LogGroup's default): the logs of a failed deletion stay readable.
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            log_group_name=self.log_settings.name,
            retention=self.log_settings.retention or DEFAULT_LOG_RETENTION,
        )
        CfnOutput(
            self,
            "LogGroupName",
            value=self.log_group.log_group_name,
            description="The log group of the function that manages this stack's SES tracking options",
        )
        self.log_group.grant_write(self.role)
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=list(V1_ACTIONS), resources=["*"]))
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=list(V2_ACTIONS), resources=[Fn.sub(SETS_ARN)]))
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason=(
                    "SES v1 Create/Update/DeleteConfigurationSetTrackingOptions support no resource-level "
                    "permissions, so they need Resource *"
                ),
            ),
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:"
                "<AWS::AccountId>:configuration-set/*]",
                reason=(
                    "GetConfigurationSet and PutConfigurationSetTrackingOptions on the sets of this account and "
                    "region only: the v1 actions (Resource *) already change any set's tracking options, a list of "
                    "sets outgrows IAM's policy size limits, and CloudFormation's cleanup Deletes of removed "
                    "resources run under the new policy, which no longer names their sets"
                ),
            ),
        )
        # The provider's state (lambda_handler/store.py): each CloudFormation request's record, so that every event
        # is answered once, and the lane in which its invocations take turns at SES.
        self.table = dynamodb.Table(
            self,
            "State",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            removal_policy=RemovalPolicy.DESTROY,
            # A request's record expires a day after its event (lambda_handler/budget.py, RECORD_LIFETIME).
            time_to_live_attribute="expires",
        )
        Validations.of(self.table).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-DDB3",
                reason="The table holds records of CloudFormation requests, which expire within a day, and the "
                "pacing of the next SES call: there is nothing to recover to a point in time",
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[self.table.table_arn],
            )
        )
        # Operations waiting for their turn at SES (lambda_handler/queue.py): one message group, drained by this
        # function; a message put back for a while is a wait that holds no execution.
        self.queue = sqs.Queue(
            self,
            "Queue",
            fifo=True,
            content_based_deduplication=False,
            visibility_timeout=Duration.seconds(QUEUE_VISIBILITY),
            retention_period=Duration.seconds(2 * SERVICE_TIMEOUT),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        Validations.of(self.queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SQS3",
                reason="A message stays until its CloudFormation request is answered, and the worker lets it go "
                "once the request's ServiceTimeout has passed: a dead-letter queue would hold requests "
                "CloudFormation still waits for, unanswered",
            )
        )
        # The function sends and delays messages; the event source mapping receives and deletes them with the
        # function's role (Lambda's "Using Lambda with Amazon SQS").
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "sqs:SendMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                ],
                resources=[self.queue.queue_arn],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            handler=HANDLER,
            code=provider_code(),
            role=self.role,
            timeout=Duration.seconds(FUNCTION_TIMEOUT),
            memory_size=256,
            architecture=lambda_.Architecture.ARM_64,
            log_group=self.log_group,
            # Lambda's JSON lines, each a record CloudWatch Logs Insights reads by field; the function's own log
            # level is set here (Lambda hands it to the runtime as AWS_LAMBDA_LOG_LEVEL, which crhelper is made to
            # keep), and the platform's START, END and REPORT lines are left out below WARN.
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            environment={"TABLE_NAME": self.table.table_name, "QUEUE_URL": self.queue.queue_url},
            description="CloudFormation provider for SES configuration set tracking options",
        )
        # CloudFormation invokes the function asynchronously. Lambda tries an event that fails twice more (an
        # invocation that crashed is resumed from the request's record), and drops one older than the longest
        # ServiceTimeout: CloudFormation no longer waits for it.
        self.invoke_config = lambda_.EventInvokeConfig(
            self,
            "AsyncInvoke",
            function=self.function,
            retry_attempts=2,
            max_event_age=Duration.seconds(MAX_EVENT_AGE),
        )
        # One message group: one batch at a time reaches the function. 2 is the least MaximumConcurrency allowed.
        self.mapping = lambda_.EventSourceMapping(
            self,
            "QueueMapping",
            target=self.function,
            event_source_arn=self.queue.queue_arn,
            batch_size=10,
            report_batch_item_failures=True,
            max_concurrency=2,
        )
        # Lambda checks the role's access to the queue when it creates the mapping.
        self.mapping.node.add_dependency(self.role)
        self.function_arn = self.function.function_arn
        # What the function uses during an event but does not itself depend on: every custom resource depends
        # on these, so that CloudFormation deletes them only after the last TrackingOptions (a resource is
        # deleted only once nothing left depends on it: the DependsOn attribute's documentation).
        self.used_by_events: list[Construct] = [self.mapping, self.invoke_config]
