"""What platform teams' scanners check: cdk-nag's AwsSolutions pack, cfn-lint, least privilege, and
templates that work in any account, region and partition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_ses as ses
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

from cdk_ses_tracking_options import TrackingOptions

ENVIRONMENTS = {
    "agnostic": None,
    "aws": cdk.Environment(account="123456789012", region="eu-west-1"),
    "aws-us-gov": cdk.Environment(account="123456789012", region="us-gov-west-1"),
    "aws-cn": cdk.Environment(account="123456789012", region="cn-northwest-1"),
}


def full_stack(app: cdk.App, env: cdk.Environment | None) -> cdk.Stack:
    """Every way to use the construct: imported and owned sets, a policy, a hosted zone."""
    stack = cdk.Stack(app, "Tracking", env=env)
    imported = ses.ConfigurationSet.from_configuration_set_name(stack, "ImportedSet", "marketing")
    TrackingOptions(stack, "Imported", configuration_set=imported, custom_redirect_domain="click.example.com")
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789ABCDEFGHIJ", zone_name="example.com"
    )
    TrackingOptions(
        stack,
        "WithZone",
        configuration_set=ses.ConfigurationSet.from_configuration_set_name(stack, "Other", "transactional"),
        custom_redirect_domain="links.example.com",
        https_policy=ses.HttpsPolicy.REQUIRE,
        hosted_zone=zone,
    )
    return stack


def synth(tmp_path: Path, env: cdk.Environment | None, *, nag: bool = False, owned_set: bool = True) -> dict[str, Any]:
    app = cdk.App(outdir=str(tmp_path))
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = full_stack(app, env)
    if owned_set:
        owned = ses.ConfigurationSet(stack, "OwnedSet")
        TrackingOptions(stack, "Owned", configuration_set=owned, custom_redirect_domain="t.example.com")
    assembly = app.synth()
    template: dict[str, Any] = json.loads(Path(assembly.directory, "Tracking.template.json").read_text())
    return template


def test_cdk_nag_aws_solutions_reports_nothing(tmp_path: Path) -> None:
    # Synthesis fails on any unacknowledged finding; the report then lists it.
    synth(tmp_path, ENVIRONMENTS["aws"], nag=True)
    report = json.loads((tmp_path / "validation-report.json").read_text())
    violations = [v for plugin in report["pluginReports"] for v in plugin.get("violations", [])]
    assert violations == []


def test_cdk_nag_does_run_here_and_flags_an_unacknowledged_wildcard(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = full_stack(app, ENVIRONMENTS["aws"])
    loose = iam.Role(stack, "Loose", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    loose.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]}
    assert rules == {"AwsSolutions-IAM5[Resource::*]"}


def test_the_one_acknowledged_finding_is_the_unscopable_v1_actions(tmp_path: Path) -> None:
    template = synth(tmp_path, ENVIRONMENTS["aws"])
    wildcard = [
        statement
        for policy in template["Resources"].values()
        if policy["Type"] == "AWS::IAM::Policy"
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Resource"] == "*"
    ]
    assert wildcard == [
        {
            "Action": [
                "ses:CreateConfigurationSetTrackingOptions",
                "ses:UpdateConfigurationSetTrackingOptions",
                "ses:DeleteConfigurationSetTrackingOptions",
            ],
            "Effect": "Allow",
            "Resource": "*",
        }
    ]


def test_the_role_has_no_crhelper_polling_or_managed_permissions(tmp_path: Path) -> None:
    template = synth(tmp_path, ENVIRONMENTS["aws"])
    actions = {
        action
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy"
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "sqs:SendMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "ses:CreateConfigurationSetTrackingOptions",
        "ses:UpdateConfigurationSetTrackingOptions",
        "ses:DeleteConfigurationSetTrackingOptions",
        "ses:GetConfigurationSet",
        "ses:PutConfigurationSetTrackingOptions",
    }
    roles = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    assert [role["Properties"].get("ManagedPolicyArns") for role in roles] == [None]


@pytest.mark.parametrize("partition", list(ENVIRONMENTS))
def test_templates_name_no_fixed_partition_region_or_account(tmp_path: Path, partition: str) -> None:
    env = ENVIRONMENTS[partition]
    text = json.dumps(synth(tmp_path, env, owned_set=partition != "aws-cn"))
    assert "arn:aws:" not in text
    assert "arn:aws-" not in text
    if env is None:
        assert "123456789012" not in text
        for region in ("us-east-1", "eu-west-1"):
            assert region not in text


@pytest.mark.parametrize(
    ("partition", "regions"),
    [("agnostic", ["us-east-1", "eu-west-1", "ap-southeast-2"]), ("aws-us-gov", ["us-gov-west-1"])],
)
def test_cfn_lint_reports_no_errors(tmp_path: Path, partition: str, regions: list[str]) -> None:
    template = synth(tmp_path, ENVIRONMENTS[partition])
    matches = lint(json.dumps(template), config=ManualArgs(regions=regions))
    errors = [f"{match.rule.id}: {match.message}" for match in matches if match.rule.id.startswith("E")]
    assert errors == []


def test_cfn_lint_reports_no_errors_on_the_example_app(tmp_path: Path) -> None:
    app_dir = Path(__file__).resolve().parent.parent
    namespace: dict[str, Any] = {}
    source = (app_dir / "app.py").read_text().replace("app = cdk.App()", f"app = cdk.App(outdir={str(tmp_path)!r})")
    exec(compile(source, str(app_dir / "app.py"), "exec"), namespace)
    template = (tmp_path / "SesTrackingOptionsExample.template.json").read_text()
    matches = lint(template, config=ManualArgs(regions=["us-east-1"]))
    assert [f"{m.rule.id}: {m.message}" for m in matches if m.rule.id.startswith("E")] == []
