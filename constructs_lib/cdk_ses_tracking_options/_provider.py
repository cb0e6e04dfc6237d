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
# The SES v2 actions take a configuration set's ARN (Service Authorization Reference, "Actions, resources, and
# condition keys for Amazon Simple Email Service v2"). They are granted on every set of the stack's account and
# region, not on each managed set: a statement listing every set outgrows IAM's policy sizes (10,240 characters
# inline per role, 6,144 per managed policy: "IAM and AWS STS quotas") at about 100 sets, and CloudFormation's
# cleanup phase deletes a removed or moved resource under the new template's policies, which would no longer
# name its set. The v1 actions above already reach every set.
V2_ACTIONS = ("ses:GetConfigurationSet", "ses:PutConfigurationSetTrackingOptions")
SETS_ARN = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/*"


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
        # What the function uses during an event but does not itself depend on: every custom resource depends
        # on these, so that CloudFormation deletes them only after the last TrackingOptions (a resource is
        # deleted only once nothing left depends on it: the DependsOn attribute's documentation).
        self.used_by_events: list[Construct] = [self.hand_on_policy]
