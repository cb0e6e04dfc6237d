"""The one provider function per stack that every TrackingOptions in it shares."""

from __future__ import annotations

import weakref

from aws_cdk import Acknowledgment, Duration, Fn, RemovalPolicy, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ._bundle import HANDLER, RUNTIME, provider_code
from .lambda_handler.names import is_set_name

# One invocation gives up on SES, or hands its wait for a turn on, in time to answer before this.
FUNCTION_TIMEOUT_SECONDS = 120
# CloudFormation's longest wait for an answer. Hundreds of resources (and other stacks) share SES's
# one call a second, so a resource may wait its turn for most of an hour, over many invocations.
# Sent as CloudFormation sends it.
SERVICE_TIMEOUT_SECONDS = "3600"

# Each stack's provider, found without a lookup in the construct tree.
_BY_STACK: weakref.WeakKeyDictionary[Stack, TrackingOptionsProvider] = weakref.WeakKeyDictionary()

# The SES v1 tracking-options actions support no resource-level permissions.
V1_ACTIONS = (
    "ses:CreateConfigurationSetTrackingOptions",
    "ses:UpdateConfigurationSetTrackingOptions",
    "ses:DeleteConfigurationSetTrackingOptions",
)
# The SES v2 actions are scoped to each configuration set's ARN.
V2_ACTIONS = ("ses:GetConfigurationSet", "ses:PutConfigurationSetTrackingOptions")


class TrackingOptionsProvider(Construct):
    """Role, log group and function; found again, not duplicated, by every construct in the stack."""

    ID = "SesTrackingOptionsProvider"

    @classmethod
    def of(cls, scope: Construct) -> TrackingOptionsProvider:
        stack = Stack.of(scope)
        found = _BY_STACK.get(stack)
        if found is None:
            existing = stack.node.try_find_child(cls.ID)
            found = existing if isinstance(existing, cls) else cls(stack, cls.ID)
            _BY_STACK[stack] = found
        return found

    def __init__(self, scope: Construct, id_: str) -> None:
        super().__init__(scope, id_)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Manages SES configuration set tracking options for CloudFormation",
        )
        self.log_group = logs.LogGroup(self, "LogGroup", retention=logs.RetentionDays.ONE_YEAR)
        self.log_group.grant_write(self.role)
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=list(V1_ACTIONS), resources=["*"]))
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason=(
                    "SES v1 Create/Update/DeleteConfigurationSetTrackingOptions support no resource-level "
                    "permissions, so they need Resource *; the SES v2 actions are scoped to each set's ARN"
                ),
            )
        )
        # The schedule on which this provider's invocations take turns at SES (lambda_handler/pacing.py).
        self.schedule = dynamodb.Table(
            self,
            "Schedule",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            removal_policy=RemovalPolicy.DESTROY,
            # Hand-on claims (lambda_handler/schedule.py) expire once no duplicate delivery can come.
            time_to_live_attribute="expires",
        )
        Validations.of(self.schedule).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-DDB3",
                reason="The table holds the provider's pacing schedule, rebuilt by the next SES call, and "
                "claims on hand-ons that expire within a day: there is nothing to recover to a point in time",
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[self.schedule.table_arn]
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            handler=HANDLER,
            code=provider_code(),
            role=self.role,
            timeout=Duration.seconds(FUNCTION_TIMEOUT_SECONDS),
            memory_size=256,
            architecture=lambda_.Architecture.ARM_64,
            log_group=self.log_group,
            environment={"LOG_LEVEL": "INFO", "SCHEDULE_TABLE": self.schedule.table_name},
            description="CloudFormation provider for SES configuration set tracking options",
        )
        # An invocation hands a long wait on to a fresh one of itself. A policy of its own, not the
        # role's default one, which the function depends on: that would make a cycle.
        self.hand_on_policy = iam.Policy(
            self,
            "HandOnPolicy",
            roles=[self.role],
            statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])],
        )
        self.function_arn = self.function.function_arn
        self._allowed: set[str] = set()
        self._per_set: iam.PolicyStatement | None = None

    def allow(self, configuration_set_name: str) -> None:
        """Let the function read and set the HTTPS policy of one more configuration set."""
        if configuration_set_name in self._allowed:
            return
        self._allowed.add(configuration_set_name)
        # Fn::Sub keeps the template small; a set defined in the stack has a token for a name.
        prefix = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/"
        arn = (
            Fn.sub(prefix + configuration_set_name)
            if is_set_name(configuration_set_name)
            else Fn.sub(prefix + "${Name}", {"Name": configuration_set_name})
        )
        # One statement whose resources grow with the sets: a set costs the template one ARN.
        if self._per_set is None:
            self._per_set = iam.PolicyStatement(actions=list(V2_ACTIONS), resources=[arn])
            self.role.add_to_principal_policy(self._per_set)
        else:
            self._per_set.add_resources(arn)
