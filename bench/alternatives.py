"""Stacks with N TrackingOptions, and the same SES calls made with CDK's AwsCustomResource."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ses as ses
from aws_cdk import custom_resources as cr

from cdk_ses_tracking_options import TrackingOptions


def _set(stack: cdk.Stack, index: int) -> ses.IConfigurationSet:
    return ses.ConfigurationSet.from_configuration_set_name(stack, f"Set{index}", f"set{index}")


def with_tracking_options(stack: cdk.Stack, count: int) -> None:
    for index in range(count):
        TrackingOptions(
            stack, f"Tracking{index}", configuration_set=_set(stack, index), custom_redirect_domain="c.example.com"
        )


def with_aws_custom_resource(stack: cdk.Stack, count: int) -> None:
    for index in range(count):
        name = _set(stack, index).configuration_set_name
        options = {"ConfigurationSetName": name, "TrackingOptions": {"CustomRedirectDomain": "c.example.com"}}
        cr.AwsCustomResource(
            stack,
            f"Tracking{index}",
            on_create=cr.AwsSdkCall(
                service="SES",
                action="CreateConfigurationSetTrackingOptions",
                parameters=options,
                physical_resource_id=cr.PhysicalResourceId.of(name),
            ),
            on_update=cr.AwsSdkCall(
                service="SES",
                action="UpdateConfigurationSetTrackingOptions",
                parameters=options,
                physical_resource_id=cr.PhysicalResourceId.of(name),
            ),
            on_delete=cr.AwsSdkCall(
                service="SES",
                action="DeleteConfigurationSetTrackingOptions",
                parameters={"ConfigurationSetName": name},
            ),
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=cr.AwsCustomResourcePolicy.ANY_RESOURCE),
            install_latest_aws_sdk=False,
        )


BUILDERS = {"TrackingOptions": with_tracking_options, "AwsCustomResource": with_aws_custom_resource}


def synthesize(kind: str, count: int, outdir: Path) -> int:
    """Build and synthesize a stack of `count` resources; the template's size in bytes."""
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Bench")
    BUILDERS[kind](stack, count)
    assembly = app.synth()
    return Path(assembly.directory, "Bench.template.json").stat().st_size
