"""The construct, synthesized in-process and asserted on its template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_ses as ses

from cdk_ses_tracking_options import TrackingOptions, _bundle

RESOURCE_TYPE = "Custom::SesTrackingOptions"


def make_stack(**env: str) -> cdk.Stack:
    app = cdk.App()
    return cdk.Stack(app, "Stack", env=cdk.Environment(**env) if env else None)


def imported(stack: cdk.Stack, name: str = "marketing", id_: str | None = None) -> ses.IConfigurationSet:
    return ses.ConfigurationSet.from_configuration_set_name(stack, id_ or f"Set-{name}", name)


def tracking(stack: cdk.Stack, **props: Any) -> TrackingOptions:
    """One TrackingOptions on the imported set 'marketing', with these props besides."""
    return TrackingOptions(
        stack, "Tracking", configuration_set=imported(stack), custom_redirect_domain="click.example.com", **props
    )


def template_of(stack: cdk.Stack) -> assertions.Template:
    return assertions.Template.from_stack(stack)


def only(template: assertions.Template, resource_type: str) -> dict[str, Any]:
    found = template.find_resources(resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return dict(next(iter(found.values())))


def test_declares_a_custom_resource_with_the_properties_ses_needs() -> None:
    stack = make_stack()
    TrackingOptions(stack, "Tracking", configuration_set=imported(stack), custom_redirect_domain="click.example.com")
    template = template_of(stack)
    template.has_resource(
        RESOURCE_TYPE,
        {
            "Properties": {
                "ServiceToken": {"Fn::GetAtt": [assertions.Match.any_value(), "Arn"]},
                "ServiceTimeout": "3600",
                "ConfigurationSetName": "marketing",
                "CustomRedirectDomain": "click.example.com",
            },
        },
    )
    resource = only(template, RESOURCE_TYPE)
    assert "HttpsPolicy" not in resource["Properties"]
    # CloudFormation's default for a resource without a DeletionPolicy is to delete it.
    assert "DeletionPolicy" not in resource


def test_the_custom_resource_has_construct_id_resource() -> None:
    stack = make_stack()
    tracking = TrackingOptions(
        stack, "Tracking", configuration_set=imported(stack), custom_redirect_domain="click.example.com"
    )
    assert isinstance(tracking.node.default_child, cdk.CfnResource)
    assert tracking.node.default_child.node.path == "Stack/Tracking/Resource"


@pytest.mark.parametrize("policy", list(ses.HttpsPolicy))
def test_passes_the_https_policy(policy: ses.HttpsPolicy) -> None:
    stack = make_stack()
    TrackingOptions(
        stack,
        "Tracking",
        configuration_set=imported(stack),
        custom_redirect_domain="click.example.com",
        https_policy=policy,
    )
    template_of(stack).has_resource_properties(RESOURCE_TYPE, {"HttpsPolicy": policy.value})


ANY_POLICY = "pass one of ses.HttpsPolicy.REQUIRE, ses.HttpsPolicy.REQUIRE_OPEN_ONLY, ses.HttpsPolicy.OPTIONAL"


@pytest.mark.parametrize(
    ("given", "hint"),
    [
        ("REQUIRE", "pass ses.HttpsPolicy.REQUIRE"),
        ("REQUIRE_OPEN_ONLY", "pass ses.HttpsPolicy.REQUIRE_OPEN_ONLY"),
        ("required", ANY_POLICY),
        ("require", ANY_POLICY),
        (True, ANY_POLICY),
    ],
)
def test_fails_synth_for_an_https_policy_that_is_not_the_enum(given: object, hint: str) -> None:
    # The enum's values are not accepted as strings: one way to say it, which mypy checks.
    stack = make_stack()
    with pytest.raises(ValueError, match="https_policy") as raised:
        tracking(stack, https_policy=given)
    enum = "the enum aws_cdk.aws_ses.HttpsPolicy"
    assert str(raised.value) == f"https_policy {given!r} is not a member of {enum}: {hint}"


@pytest.mark.parametrize(
    ("policy", "written"), [(cdk.RemovalPolicy.RETAIN, "Retain"), (cdk.RemovalPolicy.DESTROY, "Delete")]
)
def test_a_removal_policy_given_is_written(policy: cdk.RemovalPolicy, written: str) -> None:
    stack = make_stack()
    TrackingOptions(
        stack,
        "Tracking",
        configuration_set=imported(stack),
        custom_redirect_domain="click.example.com",
        removal_policy=policy,
    )
    template_of(stack).has_resource(RESOURCE_TYPE, {"DeletionPolicy": written, "UpdateReplacePolicy": written})


def test_a_set_owned_by_the_stack_is_referenced_so_it_exists_first() -> None:
    stack = make_stack()
    owned = ses.ConfigurationSet(stack, "Owned")
    TrackingOptions(stack, "Tracking", configuration_set=owned, custom_redirect_domain="click.example.com")
    logical_id = stack.get_logical_id(owned.node.default_child)  # type: ignore[arg-type]
    template = template_of(stack)
    template.has_resource_properties(RESOURCE_TYPE, {"ConfigurationSetName": {"Ref": logical_id}})


def default_policy(template: assertions.Template) -> list[dict[str, Any]]:
    """The statements of the role's default policy (the other policy is the hand-on one)."""
    found = template.find_resources("AWS::IAM::Policy")
    (name,) = [name for name in found if "DefaultPolicy" in name]
    statements: list[dict[str, Any]] = found[name]["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_one_provider_function_serves_every_tracking_options_in_a_stack() -> None:
    stack = make_stack()
    for index, name in enumerate(["a", "b", "c"]):
        TrackingOptions(
            stack, f"Tracking{index}", configuration_set=imported(stack, name), custom_redirect_domain="t.example.com"
        )
    template = template_of(stack)
    template.resource_count_is(RESOURCE_TYPE, 3)
    template.resource_count_is("AWS::Lambda::Function", 1)
    template.resource_count_is("AWS::IAM::Role", 1)
    template.resource_count_is("AWS::Logs::LogGroup", 1)
    template.resource_count_is("AWS::DynamoDB::Table", 1)


def test_the_function_runs_python_3_14_and_cloudformation_waits_its_longest_for_a_turn_at_ses() -> None:
    stack = make_stack()
    tracking(stack)
    template = template_of(stack)
    function = only(template, "AWS::Lambda::Function")["Properties"]
    assert function["Runtime"] == "python3.14"
    assert function["Handler"] == "lambda_handler.index.handler"
    assert function["Timeout"] == 60
    table = next(iter(template.find_resources("AWS::DynamoDB::Table")))
    queue = next(iter(template.find_resources("AWS::SQS::Queue")))
    # The log level is Lambda's logging configuration, not a variable: the handler falls back to INFO.
    assert function["Environment"] == {"Variables": {"TABLE_NAME": {"Ref": table}, "QUEUE_URL": {"Ref": queue}}}
    log_group = next(iter(template.find_resources("AWS::Logs::LogGroup")))
    assert function["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "WARN",
        "LogGroup": {"Ref": log_group},
    }
    # A resource waits its turn at SES in the queue for as long as CloudFormation waits: its maximum.
    assert only(template, RESOURCE_TYPE)["Properties"]["ServiceTimeout"] == "3600"


def test_the_table_is_on_demand_and_goes_with_the_stack() -> None:
    stack = make_stack()
    tracking(stack)
    table = only(template_of(stack), "AWS::DynamoDB::Table")
    assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["Properties"]["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["DeletionPolicy"] == "Delete"
    # The records of requests expire by themselves (lambda_handler/store.py).
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}


def test_waits_for_ses_are_a_fifo_queue_the_function_drains_one_batch_at_a_time() -> None:
    stack = make_stack()
    tracking(stack)
    template = template_of(stack)
    queue = only(template, "AWS::SQS::Queue")
    assert queue["Properties"] == {
        "FifoQueue": True,
        "ContentBasedDeduplication": False,
        # Six times the function's timeout, as Lambda advises for an SQS event source.
        "VisibilityTimeout": 360,
        "MessageRetentionPeriod": 7200,
        "SqsManagedSseEnabled": True,
    }
    mapping = only(template, "AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"]["BatchSize"] == 10
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 2}
    # Lambda tries a failed event twice more, and drops one CloudFormation no longer waits for.
    invoke_config = only(template, "AWS::Lambda::EventInvokeConfig")["Properties"]
    assert (invoke_config["MaximumRetryAttempts"], invoke_config["MaximumEventAgeInSeconds"]) == (2, 3600)
    # No reserved concurrency: an account at the default quota of 10 can set none.
    assert "ReservedConcurrentExecutions" not in only(template, "AWS::Lambda::Function")["Properties"]


def test_the_role_holds_exactly_the_actions_the_handler_uses() -> None:
    stack = make_stack(account="123456789012", region="eu-west-1")
    TrackingOptions(stack, "A", configuration_set=imported(stack, "marketing"), custom_redirect_domain="a.example.com")
    TrackingOptions(stack, "B", configuration_set=imported(stack, "billing"), custom_redirect_domain="b.example.com")
    TrackingOptions(
        stack, "C", configuration_set=imported(stack, "transactional"), custom_redirect_domain="c.example.com"
    )
    template = template_of(stack)
    role = only(template, "AWS::IAM::Role")["Properties"]
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]
    statements = default_policy(template)
    log_group = next(iter(template.find_resources("AWS::Logs::LogGroup")))
    table = next(iter(template.find_resources("AWS::DynamoDB::Table")))
    queue = next(iter(template.find_resources("AWS::SQS::Queue")))

    assert statements == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [log_group, "Arn"]},
        },
        {
            "Action": [
                "ses:CreateConfigurationSetTrackingOptions",
                "ses:UpdateConfigurationSetTrackingOptions",
                "ses:DeleteConfigurationSetTrackingOptions",
            ],
            "Effect": "Allow",
            "Resource": "*",
        },
        {
            # Every set of the account and region: the cleanup phase's Deletes run under the new template's
            # policy, which no longer names a removed resource's set (tests/test_cloudformation.py).
            "Action": ["ses:GetConfigurationSet", "ses:PutConfigurationSetTrackingOptions"],
            "Effect": "Allow",
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/*"},
        },
        {
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [table, "Arn"]},
        },
        {
            "Action": [
                "sqs:SendMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            ],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [queue, "Arn"]},
        },
    ]
    # One policy: the function invokes nothing, and the queue's mapping polls with the role.
    template.resource_count_is("AWS::IAM::Policy", 1)


def test_attributes_come_from_the_resource_and_the_cname_target_from_the_deploy_region() -> None:
    stack = make_stack()
    tracking = TrackingOptions(
        stack, "Tracking", configuration_set=imported(stack), custom_redirect_domain="click.example.com"
    )
    cdk.CfnOutput(stack, "Name", value=tracking.configuration_set_name)
    cdk.CfnOutput(stack, "Domain", value=tracking.custom_redirect_domain)
    cdk.CfnOutput(stack, "Target", value=tracking.cname_target)
    outputs = template_of(stack).to_json()["Outputs"]
    logical_id = next(iter(template_of(stack).find_resources(RESOURCE_TYPE)))
    assert outputs["Name"]["Value"] == {"Fn::GetAtt": [logical_id, "ConfigurationSetName"]}
    assert outputs["Domain"]["Value"] == {"Fn::GetAtt": [logical_id, "CustomRedirectDomain"]}
    assert outputs["Target"]["Value"] == {"Fn::Join": ["", ["r.", {"Ref": "AWS::Region"}, ".awstrack.me"]]}


BAD_NAMES = ["", "market ing", "a" * 65, "../etc", "naïve", "set.name"]
BAD_DOMAINS = [
    "",
    "click",
    "click..example.com",
    "-click.example.com",
    "click-.example.com",
    "https://click.example.com",
    "click.example.com/path",
    "10.0.0.1",
    "klick.bücher.example",
    "*.example.com",
    ("a" * 63 + ".") * 4 + "com",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_fails_synth_for_a_set_name_ses_rejects(name: str) -> None:
    stack = make_stack()
    with pytest.raises(ValueError, match=r"configuration_set name .* is not one SES accepts") as raised:
        TrackingOptions(
            stack, "Tracking", configuration_set=imported(stack, name), custom_redirect_domain="c.example.com"
        )
    assert repr(name) in str(raised.value)


@pytest.mark.parametrize("domain", BAD_DOMAINS)
def test_fails_synth_for_a_domain_that_is_not_a_hostname(domain: str) -> None:
    stack = make_stack()
    with pytest.raises(ValueError, match=r"custom_redirect_domain .* is not a hostname") as raised:
        TrackingOptions(stack, "Tracking", configuration_set=imported(stack), custom_redirect_domain=domain)
    assert repr(domain) in str(raised.value)


def test_unresolved_tokens_are_left_for_deploy_time() -> None:
    stack = make_stack()
    name = cdk.CfnParameter(stack, "SetName").value_as_string
    domain = cdk.CfnParameter(stack, "Domain").value_as_string
    TrackingOptions(stack, "Tracking", configuration_set=imported(stack, name, "Set"), custom_redirect_domain=domain)
    template_of(stack).has_resource_properties(
        RESOURCE_TYPE, {"ConfigurationSetName": {"Ref": "SetName"}, "CustomRedirectDomain": {"Ref": "Domain"}}
    )


# --- The bundled code -------------------------------------------------------------------------------


def synth_asset(tmp_path: Path) -> tuple[str, Path]:
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Stack")
    TrackingOptions(stack, "Tracking", configuration_set=imported(stack), custom_redirect_domain="click.example.com")
    assembly = app.synth()
    template = json.loads(Path(assembly.directory, "Stack.template.json").read_text())
    function = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    return asset_hash, Path(assembly.directory) / f"asset.{asset_hash}"


def test_the_bundle_holds_the_handler_and_crhelper_and_their_bytecode_for_the_runtime(tmp_path: Path) -> None:
    _, asset = synth_asset(tmp_path)
    files = sorted(str(path.relative_to(asset)) for path in asset.rglob("*") if path.is_file())
    crhelper = ["__init__", "log_helper", "resource_helper", "utils"]
    handler = [
        "__init__",
        "budget",
        "delivery",
        "entry",
        "environment",
        "errors",
        "grants",
        "helper",
        "index",
        "lifecycle",
        "log_context",
        "long_lived",
        "names",
        "operation",
        "ownership",
        "pacing",
        "physical_ids",
        "properties",
        "queue",
        "redaction",
        "run",
        "ses",
        "store",
        "worker",
    ]
    # Bytecode for Lambda's Python only (python3.14): none for the interpreter that synthesized it.
    assert files == sorted(
        [
            "crhelper/LICENSE",
            "crhelper/NOTICE",
            *(f"crhelper/{module}.py" for module in crhelper),
            *(f"crhelper/__pycache__/{module}.cpython-314.pyc" for module in crhelper),
            *(f"lambda_handler/{module}.py" for module in handler),
            *(f"lambda_handler/__pycache__/{module}.cpython-314.pyc" for module in handler),
        ]
    )
    source = Path(_bundle.HANDLER_DIR, "index.py").read_text()
    assert (asset / "lambda_handler" / "index.py").read_text() == source


def test_the_asset_hash_follows_the_handler_and_the_crhelper_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original, _ = synth_asset(tmp_path / "original")
    again, _ = synth_asset(tmp_path / "again")
    assert again == original

    changed_handler = tmp_path / "handler"
    changed_handler.mkdir()
    for path in _bundle.HANDLER_DIR.glob("*.py"):
        (changed_handler / path.name).write_text(path.read_text())
    with (changed_handler / "index.py").open("a") as file:
        file.write("# changed\n")
    monkeypatch.setattr(_bundle, "HANDLER_DIR", changed_handler)
    handler_changed, _ = synth_asset(tmp_path / "handler-changed")
    monkeypatch.undo()

    other_crhelper = tmp_path / "resource_helper.py"
    real_files = _bundle._crhelper_files()
    other_crhelper.write_text("# crhelper 2.0.13\n")
    monkeypatch.setattr(
        _bundle,
        "_crhelper_files",
        lambda: [(other_crhelper, rel) if rel.name == "resource_helper.py" else (src, rel) for src, rel in real_files],
    )
    crhelper_changed, _ = synth_asset(tmp_path / "crhelper-changed")
    assert len({original, handler_changed, crhelper_changed}) == 3


# --- The CNAME record -------------------------------------------------------------------------------


def example_zone(stack: cdk.Stack, name: str = "example.com") -> route53.IHostedZone:
    return route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789ABCDEFGHIJ", zone_name=name
    )


def test_with_a_hosted_zone_it_creates_the_cname_to_the_regional_tracking_host() -> None:
    stack = make_stack()
    zone = example_zone(stack)
    tracking = TrackingOptions(
        stack,
        "Tracking",
        configuration_set=imported(stack),
        custom_redirect_domain="click.example.com",
        hosted_zone=zone,
    )
    assert tracking.cname_record is not None
    template_of(stack).has_resource_properties(
        "AWS::Route53::RecordSet",
        {
            "Type": "CNAME",
            "Name": "click.example.com.",
            "HostedZoneId": "Z0123456789ABCDEFGHIJ",
            "ResourceRecords": [{"Fn::Join": ["", ["r.", {"Ref": "AWS::Region"}, ".awstrack.me"]]}],
        },
    )


@pytest.mark.parametrize("retain", [False, True], ids=["destroy", "retain"])
def test_the_options_come_after_the_cname_and_are_retained_with_it(retain: bool) -> None:
    # GIVEN a CNAME made for the domain, and options retained or not
    stack = make_stack()
    TrackingOptions(
        stack,
        "Tracking",
        configuration_set=imported(stack),
        custom_redirect_domain="click.example.com",
        hosted_zone=example_zone(stack),
        removal_policy=cdk.RemovalPolicy.RETAIN if retain else None,
    )
    resources = template_of(stack).to_json()["Resources"]
    (cname,) = (name for name, r in resources.items() if r["Type"] == "AWS::Route53::RecordSet")
    (custom,) = (r for r in resources.values() if r["Type"] == "Custom::SesTrackingOptions")
    # THEN SES switches the set to the domain once it resolves, and the options go before the record
    assert cname in custom["DependsOn"]
    # AND retained options keep the record their links resolve through
    assert resources[cname].get("DeletionPolicy") == ("Retain" if retain else None)


def test_without_a_hosted_zone_no_record_is_created() -> None:
    stack = make_stack()
    tracking = TrackingOptions(
        stack, "Tracking", configuration_set=imported(stack), custom_redirect_domain="click.example.com"
    )
    assert tracking.cname_record is None
    template_of(stack).resource_count_is("AWS::Route53::RecordSet", 0)


def test_a_zone_imported_by_id_alone_still_gets_the_record() -> None:
    stack = make_stack()
    zone = route53.HostedZone.from_hosted_zone_id(stack, "Zone", "Z0123456789ABCDEFGHIJ")
    TrackingOptions(
        stack,
        "Tracking",
        configuration_set=imported(stack),
        custom_redirect_domain="click.example.com",
        hosted_zone=zone,
    )
    template_of(stack).resource_count_is("AWS::Route53::RecordSet", 1)


def test_fails_synth_when_the_domain_is_outside_the_hosted_zone() -> None:
    stack = make_stack()
    zone = example_zone(stack, "example.org")
    with pytest.raises(ValueError, match=r"'click.example.com' is not a subdomain of hosted_zone 'example.org'"):
        TrackingOptions(
            stack,
            "Tracking",
            configuration_set=imported(stack),
            custom_redirect_domain="click.example.com",
            hosted_zone=zone,
        )


def test_fails_synth_for_a_cname_at_the_zone_apex_saying_to_use_the_endpoint_or_a_subdomain() -> None:
    stack = make_stack()
    with pytest.raises(ValueError, match="custom_redirect_domain") as raised:
        TrackingOptions(
            stack,
            "Tracking",
            configuration_set=imported(stack),
            custom_redirect_domain="example.com",
            hosted_zone=example_zone(stack),
        )
    assert str(raised.value) == (
        "custom_redirect_domain 'example.com' is the apex of hosted_zone 'example.com', where DNS allows no CNAME: "
        "pass https_endpoint=True (A and AAAA alias records to CloudFront, valid at the apex), or use a subdomain "
        "such as 'click.example.com'"
    )


def test_fails_synth_for_a_domain_that_only_ends_like_the_zone_name() -> None:
    stack = make_stack()
    with pytest.raises(ValueError, match=r"'myexample\.com' is not a subdomain of hosted_zone 'example\.com'"):
        TrackingOptions(
            stack,
            "Tracking",
            configuration_set=imported(stack),
            custom_redirect_domain="myexample.com",
            hosted_zone=example_zone(stack),
        )


@pytest.mark.parametrize(
    ("policy", "warned"),
    [(ses.HttpsPolicy.REQUIRE, True), (ses.HttpsPolicy.REQUIRE_OPEN_ONLY, True), (ses.HttpsPolicy.OPTIONAL, False)],
)
def test_warns_when_a_cname_to_ses_would_have_to_serve_https(policy: ses.HttpsPolicy, warned: bool) -> None:
    stack = make_stack()
    TrackingOptions(
        stack,
        "Tracking",
        configuration_set=imported(stack),
        custom_redirect_domain="click.example.com",
        https_policy=policy,
        hosted_zone=example_zone(stack),
    )
    warnings = assertions.Annotations.from_stack(stack).find_warning("*", assertions.Match.any_value())
    assert [("HTTPS tracking links will fail" in str(w.entry.data)) for w in warnings] == ([True] if warned else [])


@pytest.mark.parametrize(("adopt", "expected"), [(None, None), (False, None), (True, "true")])
def test_adopt_existing_is_sent_only_when_asked_for(adopt: bool | None, expected: str | None) -> None:
    stack = make_stack()
    tracking(stack, adopt_existing=adopt)
    properties = only(template_of(stack), RESOURCE_TYPE)["Properties"]
    assert properties.get("AdoptExisting") == expected


def test_adopting_with_retain_leaves_our_options_in_place() -> None:
    # CloudFormation sends no Delete for a retained resource: the set keeps our options.
    stack = make_stack()
    tracking(stack, adopt_existing=True, removal_policy=cdk.RemovalPolicy.RETAIN)
    resource = only(template_of(stack), RESOURCE_TYPE)
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"
    assert resource["Properties"]["AdoptExisting"] == "true"


# --- One TrackingOptions per configuration set, across the app ------------------------------------------

EU_WEST_1 = cdk.Environment(account="123456789012", region="eu-west-1")
ONE_OPTIONS_PER_SET = (
    "SES keeps one set of tracking options per configuration set, so the two would overwrite each other, with or "
    "without adopt_existing. Give each set one TrackingOptions; if the two stacks deploy to different accounts or "
    "regions, give them an env that says so"
)


def on_marketing(stack: cdk.Stack, id_: str = "Tracking", domain: str = "click.example.com", **props: Any) -> None:
    TrackingOptions(
        stack, id_, configuration_set=imported(stack, id_=f"Set-{id_}"), custom_redirect_domain=domain, **props
    )


def test_fails_synth_for_a_second_tracking_options_on_one_set_in_a_stack() -> None:
    stack = make_stack()
    on_marketing(stack, "First")
    with pytest.raises(ValueError, match="configuration_set") as raised:
        on_marketing(stack, "Second", adopt_existing=True)
    assert str(raised.value) == (
        "configuration_set 'marketing' already has a TrackingOptions, 'Stack/First', in a stack that may deploy to "
        "the same account and region (this one: environment-agnostic; that one: environment-agnostic): "
        + ONE_OPTIONS_PER_SET
    )


@pytest.mark.parametrize(
    ("first", "second", "where"),
    [
        (None, None, "this one: environment-agnostic; that one: environment-agnostic"),
        (EU_WEST_1, EU_WEST_1, "this one: account 123456789012, region eu-west-1; that one: account 123456789012"),
        # Unknown at synth: an environment-agnostic stack may deploy anywhere, the other's place among them.
        (EU_WEST_1, None, "this one: environment-agnostic; that one: account 123456789012, region eu-west-1"),
        (cdk.Environment(region="eu-west-1"), EU_WEST_1, "this one: account 123456789012, region eu-west-1; that"),
    ],
)
def test_fails_synth_for_one_set_in_two_stacks_that_may_deploy_to_one_place(
    first: cdk.Environment | None, second: cdk.Environment | None, where: str
) -> None:
    app = cdk.App()
    on_marketing(cdk.Stack(app, "One", env=first))
    with pytest.raises(ValueError, match="already has a TrackingOptions, 'One/Tracking'") as raised:
        on_marketing(cdk.Stack(app, "Two", env=second))
    assert where in str(raised.value)


@pytest.mark.parametrize(
    "second",
    [
        cdk.Environment(account="123456789012", region="us-east-1"),
        cdk.Environment(account="210987654321", region="eu-west-1"),
        cdk.Environment(account="210987654321"),
    ],
    ids=["another-region", "another-account", "another-account-any-region"],
)
def test_one_set_name_in_other_accounts_or_regions_is_another_set(second: cdk.Environment) -> None:
    app = cdk.App()
    on_marketing(cdk.Stack(app, "One", env=EU_WEST_1))
    on_marketing(cdk.Stack(app, "Two", env=second))
    template_of(cdk.Stack.of(app.node.find_child("Two"))).resource_count_is(RESOURCE_TYPE, 1)


def test_stages_with_their_own_accounts_each_manage_their_set() -> None:
    app = cdk.App()
    for stage_id, account in (("Dev", "111111111111"), ("Prod", "222222222222")):
        stage = cdk.Stage(app, stage_id, env=cdk.Environment(account=account, region="eu-west-1"))
        on_marketing(cdk.Stack(stage, "Tenants"))
    app.synth()


def test_another_app_is_not_seen() -> None:
    on_marketing(make_stack())
    on_marketing(make_stack())


def test_a_construct_replaced_under_another_id_in_one_synth_is_no_clash() -> None:
    # GIVEN a refactor: the old construct removed from the tree, a new one on the same set under another id
    stack = make_stack()
    on_marketing(stack, "Old")
    assert stack.node.try_remove_child("Old")
    on_marketing(stack, "New")
    # THEN one resource, the new one
    (logical_id,) = template_of(stack).find_resources(RESOURCE_TYPE)
    assert logical_id.startswith("New")


def test_fails_synth_for_a_set_owned_in_the_app_and_given_to_two_tracking_options() -> None:
    # GIVEN a set CloudFormation names, owned by one stack and used from another
    app = cdk.App()
    owner = cdk.Stack(app, "Owner")
    owned = ses.ConfigurationSet(owner, "Owned")
    TrackingOptions(owner, "Here", configuration_set=owned, custom_redirect_domain="a.example.com")
    with pytest.raises(ValueError, match=r"configuration_set 'Owner/Owned' \(named at deploy\) already has a "):
        TrackingOptions(
            cdk.Stack(app, "User"), "There", configuration_set=owned, custom_redirect_domain="b.example.com"
        )


def test_fails_synth_for_a_named_set_owned_here_and_the_same_name_imported() -> None:
    stack = make_stack()
    owned = ses.ConfigurationSet(stack, "Owned", configuration_set_name="marketing")
    TrackingOptions(stack, "OwnedTracking", configuration_set=owned, custom_redirect_domain="a.example.com")
    with pytest.raises(ValueError, match="configuration_set 'marketing' already has a TrackingOptions, 'Stack/OwnedTr"):
        on_marketing(stack, "Imported")


def test_two_sets_owned_here_and_named_by_cloudformation_are_two_sets() -> None:
    stack = make_stack()
    for id_ in ("A", "B"):
        owned = ses.ConfigurationSet(stack, f"Set{id_}")
        TrackingOptions(stack, id_, configuration_set=owned, custom_redirect_domain="click.example.com")
    template_of(stack).resource_count_is(RESOURCE_TYPE, 2)


# --- A domain's records: one owner -----------------------------------------------------------------------


def test_fails_synth_for_a_second_record_of_one_domain_in_one_hosted_zone() -> None:
    app = cdk.App()
    first, second = cdk.Stack(app, "One"), cdk.Stack(app, "Two", env=EU_WEST_1)
    on_marketing(first, hosted_zone=example_zone(first))
    with pytest.raises(ValueError, match="custom_redirect_domain") as raised:
        TrackingOptions(
            second,
            "Tracking",
            configuration_set=imported(second, "billing"),
            custom_redirect_domain="Click.Example.com",
            hosted_zone=example_zone(second),
        )
    assert str(raised.value) == (
        "custom_redirect_domain 'Click.Example.com' already has its records in this hosted_zone, made by "
        "TrackingOptions 'One/Tracking': a second record of the same name in a zone fails to deploy. Give each "
        "TrackingOptions its own custom_redirect_domain, such as 'click.<tenant>.example.com'"
    )


def test_one_domain_without_records_or_in_other_zones_is_no_clash() -> None:
    # GIVEN one domain on two sets, the construct making no record for it, or one in each of two zones
    stack = make_stack()
    on_marketing(stack, "Marketing")
    TrackingOptions(
        stack, "Billing", configuration_set=imported(stack, "billing"), custom_redirect_domain="click.example.com"
    )
    for index, zone_id in enumerate(["Z0123456789ABCDEFGHIJ", "Z9876543210ABCDEFGHIJ"]):
        zone = route53.HostedZone.from_hosted_zone_attributes(
            stack, f"Zone{index}", hosted_zone_id=zone_id, zone_name="example.com"
        )
        TrackingOptions(
            stack,
            f"Zoned{index}",
            configuration_set=imported(stack, f"zoned{index}"),
            custom_redirect_domain="links.example.com",
            hosted_zone=zone,
        )
    template_of(stack).resource_count_is("AWS::Route53::RecordSet", 2)


def test_fails_synth_for_a_set_with_cdks_own_tracking_options() -> None:
    stack = make_stack()
    owned = ses.ConfigurationSet(stack, "Owned", custom_tracking_redirect_domain="old.example.com")
    with pytest.raises(ValueError, match="configuration_set") as raised:
        TrackingOptions(stack, "Tracking", configuration_set=owned, custom_redirect_domain="click.example.com")
    assert str(raised.value) == (
        "configuration_set 'Stack/Owned' sets tracking options of its own (ses.ConfigurationSet's "
        "custom_tracking_redirect_domain): CloudFormation and this TrackingOptions would overwrite each other's. "
        "Drop custom_tracking_redirect_domain (and custom_tracking_https_policy) from the ConfigurationSet, or drop "
        "this TrackingOptions"
    )


# --- The function's log group ------------------------------------------------------------------------------


def log_group_of(template: assertions.Template) -> tuple[str, dict[str, Any]]:
    (found,) = template.find_resources("AWS::Logs::LogGroup").items()
    return found[0], dict(found[1])


def test_the_log_group_keeps_a_year_outlives_the_stack_and_its_name_is_an_output() -> None:
    stack = make_stack()
    first = tracking(stack)
    second = TrackingOptions(
        stack, "Second", configuration_set=imported(stack, "billing"), custom_redirect_domain="click.example.com"
    )
    template = template_of(stack)
    logical_id, log_group = log_group_of(template)
    # The construct id is unchanged: a new one would replace the log group in deployed stacks.
    assert logical_id == "SesTrackingOptionsProviderLogGroup28DBCBD9"
    assert log_group == {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"RetentionInDays": 365},
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
    }
    assert first.log_group is second.log_group
    assert stack.resolve(first.log_group.log_group_name) == {"Ref": logical_id}
    function = only(template, "AWS::Lambda::Function")["Properties"]
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": logical_id}
    assert template.to_json()["Outputs"] == {
        "SesTrackingOptionsProviderLogGroupNameED49614F": {
            "Description": "The log group of the function that manages this stack's SES tracking options",
            "Value": {"Ref": logical_id},
        }
    }


def test_the_log_group_takes_the_name_and_retention_given_and_can_go_with_the_stack() -> None:
    stack = make_stack()
    for index, name in enumerate(["marketing", "billing"]):
        made = TrackingOptions(
            stack,
            f"Tracking{index}",
            configuration_set=imported(stack, name),
            custom_redirect_domain="click.example.com",
            log_group_name="/ses-tracking-options/stack",
            log_retention=logs.RetentionDays.THREE_MONTHS,
        )
    made.log_group.apply_removal_policy(cdk.RemovalPolicy.DESTROY)
    _, log_group = log_group_of(template_of(stack))
    assert log_group["Properties"] == {"LogGroupName": "/ses-tracking-options/stack", "RetentionInDays": 90}
    assert log_group["DeletionPolicy"] == "Delete"


def test_log_retention_omitted_is_the_year_given_elsewhere() -> None:
    stack = make_stack()
    tracking(stack)
    TrackingOptions(
        stack,
        "Second",
        configuration_set=imported(stack, "billing"),
        custom_redirect_domain="click.example.com",
        log_retention=logs.RetentionDays.ONE_YEAR,
    )
    assert log_group_of(template_of(stack))[1]["Properties"] == {"RetentionInDays": 365}


@pytest.mark.parametrize(
    ("props", "message"),
    [
        (
            {"log_retention": logs.RetentionDays.THREE_MONTHS},
            "log_retention differs between the TrackingOptions of one stack: 'Stack/Second' gives "
            "logs.RetentionDays.THREE_MONTHS, 'Stack/Tracking' gives none (the default, logs.RetentionDays.ONE_YEAR)",
        ),
        (
            {"log_group_name": "/tenants"},
            "log_group_name differs between the TrackingOptions of one stack: 'Stack/Second' gives '/tenants', "
            "'Stack/Tracking' gives none (a name CloudFormation makes)",
        ),
    ],
)
def test_fails_synth_for_log_settings_that_differ_within_a_stack(props: dict[str, Any], message: str) -> None:
    stack = make_stack()
    tracking(stack)
    with pytest.raises(ValueError, match="differs between") as raised:
        TrackingOptions(
            stack,
            "Second",
            configuration_set=imported(stack, "billing"),
            custom_redirect_domain="click.example.com",
            **props,
        )
    assert str(raised.value) == (
        message + ". They share one function and its log group: pass the same log_group_name and log_retention to "
        "each, or omit them in each"
    )


@pytest.mark.parametrize("name", ["", "aws/ses", "ses tracking", "/ses/tracking:logs", "a" * 513])
def test_fails_synth_for_a_log_group_name_cloudwatch_logs_rejects(name: str) -> None:
    stack = make_stack()
    with pytest.raises(ValueError, match="log_group_name") as raised:
        tracking(stack, log_group_name=name)
    assert str(raised.value) == (
        f"log_group_name {name!r} is not one CloudWatch Logs accepts: use 1 to 512 letters, digits, '_', '-', '/', "
        "'.' or '#', not starting with 'aws/', such as '/ses-tracking-options/my-stack'"
    )


def test_fails_synth_for_one_log_group_name_in_two_stacks_that_may_deploy_to_one_place() -> None:
    app = cdk.App()
    on_marketing(cdk.Stack(app, "One", env=EU_WEST_1), log_group_name="/ses-tracking")
    two = cdk.Stack(app, "Two")
    with pytest.raises(ValueError, match="log_group_name") as raised:
        TrackingOptions(
            two,
            "Tracking",
            configuration_set=imported(two, "billing"),
            custom_redirect_domain="b.example.com",
            log_group_name="/ses-tracking",
        )
    assert str(raised.value) == (
        "log_group_name '/ses-tracking' is already the log group of 'One/SesTrackingOptionsProvider', in a stack "
        "that may deploy to the same account and region (this one: environment-agnostic; that one: account "
        "123456789012, region eu-west-1): CloudWatch Logs holds one log group of a name in each, so the second would "
        "fail to deploy. Give each stack its own log_group_name"
    )


def test_one_log_group_name_in_two_regions_is_two_log_groups() -> None:
    app = cdk.App()
    on_marketing(cdk.Stack(app, "One", env=EU_WEST_1), log_group_name="/ses-tracking")
    other = cdk.Stack(app, "Two", env=cdk.Environment(account="123456789012", region="us-east-1"))
    on_marketing(other, log_group_name="/ses-tracking")
    assert log_group_of(template_of(other))[1]["Properties"]["LogGroupName"] == "/ses-tracking"


def test_the_output_does_not_collide_with_the_stacks_own() -> None:
    stack = make_stack()
    cdk.CfnOutput(stack, "LogGroupName", value="mine")
    tracking(stack)
    outputs = template_of(stack).to_json()["Outputs"]
    assert sorted(outputs) == ["LogGroupName", "SesTrackingOptionsProviderLogGroupNameED49614F"]
