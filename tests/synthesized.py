"""Stacks that use the construct, synthesized, and read back as CloudFormation would deploy them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ses as ses

from cdk_ses_tracking_options import TrackingOptions
from tests.lambda_runtime import FunctionSpec

RESOURCE_TYPE = "Custom::SesTrackingOptions"


def _only_of_type(template: dict[str, Any], resource_type: str) -> str:
    (name,) = [str(name) for name, resource in template["Resources"].items() if resource["Type"] == resource_type]
    return name


@dataclass(frozen=True)
class Synthesized:
    template: dict[str, Any]
    assembly_dir: Path

    def function(self) -> FunctionSpec:
        """The provider function as the template declares it, with its code from cdk.out."""
        functions = [r for r in self.template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
        assert len(functions) == 1
        props = functions[0]["Properties"]
        asset_hash = props["Code"]["S3Key"].removesuffix(".zip")
        variables = dict(props.get("Environment", {}).get("Variables", {}))
        # The stack's own table and queue, which the harness makes under its names (tests/loopback.py).
        assert variables.pop("TABLE_NAME") == {"Ref": _only_of_type(self.template, "AWS::DynamoDB::Table")}
        assert variables.pop("QUEUE_URL") == {"Ref": _only_of_type(self.template, "AWS::SQS::Queue")}
        return FunctionSpec(
            code_dir=self.assembly_dir / f"asset.{asset_hash}",
            handler=props["Handler"],
            timeout=float(props["Timeout"]),
            environment=variables,
            logging_config=dict(props.get("LoggingConfig", {})),
        )

    def resource_properties(self, construct_id: str) -> dict[str, Any]:
        """A custom resource's properties as CloudFormation resolves and sends them: all strings."""
        # CDK's logical id: the construct path, then an 8-character hash.
        logical_id = re.compile(rf"{re.escape(construct_id)}[0-9A-F]{{8}}")
        matches = [
            resource
            for name, resource in self.template["Resources"].items()
            if resource["Type"] == RESOURCE_TYPE and logical_id.fullmatch(name)
        ]
        assert len(matches) == 1, f"one {RESOURCE_TYPE} for construct {construct_id}"
        return {key: self._resolve(value) for key, value in matches[0]["Properties"].items()}

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Ref" in value:
            resource = self.template["Resources"][value["Ref"]]
            assert resource["Type"] == "AWS::SES::ConfigurationSet"
            return resource["Properties"]["Name"]
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            assert attribute == "Arn"
            return f"arn:aws:lambda:us-east-1:123456789012:function:{logical_id}"
        raise AssertionError(f"no resolver for {value!r}")


def synthesize(
    outdir: Path,
    *,
    set_name: str = "marketing",
    domain: str = "click.example.com",
    https_policy: ses.HttpsPolicy | None = None,
    count: int = 1,
    owned_set: bool = False,
    adopt_existing: bool | None = None,
    stack_name: str = "TrackingStack",
    construct_id: str = "Tracking",
) -> Synthesized:
    """A stack with `count` TrackingOptions, named Tracking0.. (or `construct_id`0..); set names get the index past
    the first."""
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, stack_name)
    for index in range(count):
        name = set_name if index == 0 else f"{set_name}{index}"
        config_set: ses.IConfigurationSet = (
            ses.ConfigurationSet(stack, f"Set{index}", configuration_set_name=name)
            if owned_set
            else ses.ConfigurationSet.from_configuration_set_name(stack, f"Set{index}", name)
        )
        TrackingOptions(
            stack,
            f"{construct_id}{index}",
            configuration_set=config_set,
            custom_redirect_domain=domain,
            https_policy=https_policy,
            adopt_existing=adopt_existing,
        )
    assembly = app.synth()
    template = json.loads(Path(assembly.directory, f"{stack_name}.template.json").read_text())
    return Synthesized(template, Path(assembly.directory))
