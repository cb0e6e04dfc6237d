"""The limits a real account puts on a deployed template, which no emulator here enforces, and a template's
measure against each, resolved as the largest deployment would resolve it.

Each limit is taken from the AWS page named beside it. Sizes are measured on the template with every reference
resolved to the longest value a real account gives it: the partition `aws-us-gov`, a 14-character region, a
12-digit account, and each generated physical name at the longest its service allows (a table name 255
characters, a function name 64, a log group name 512, ...), so that no account, region or stack name can make a
deployed policy larger than measured.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# "IAM and AWS STS quotas" (IAM User Guide): the inline policies of one role, in all; one managed policy;
# managed policies attached to one role (the default quota; 20 at most). IAM does not count white space.
ROLE_INLINE_POLICY_CHARACTERS = 10_240
MANAGED_POLICY_CHARACTERS = 6_144
MANAGED_POLICIES_PER_ROLE = 10
# "Understand CloudFormation quotas" (CloudFormation User Guide): resources declared in one template; a template
# body in an S3 object (the CDK CLI uploads any template over 51,200 bytes), read here as a million bytes;
# outputs of one stack.
RESOURCES_PER_STACK = 500
TEMPLATE_BYTES = 1_000_000
OUTPUTS_PER_STACK = 200
# "Lambda quotas" (Lambda Developer Guide): every environment variable of a function, in aggregate.
LAMBDA_ENVIRONMENT_BYTES = 4_096

LONGEST_PARTITION = "aws-us-gov"
LONGEST_REGION = "ap-southeast-5"
ACCOUNT = "123456789012"
LONGEST_URL_SUFFIX = "amazonaws.com.cn"
# The longest physical name each service allows for a name CloudFormation generates.
_LONGEST_NAME = {
    "AWS::IAM::Role": 64,
    "AWS::IAM::Policy": 128,
    "AWS::IAM::ManagedPolicy": 128,
    "AWS::Lambda::Function": 64,
    "AWS::DynamoDB::Table": 255,
    "AWS::Logs::LogGroup": 512,
    "AWS::SQS::Queue": 80,
    "AWS::SES::ConfigurationSet": 64,
}
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


def _name(resource_type: str) -> str:
    return "n" * _LONGEST_NAME.get(resource_type, 255)


def _arn(resource_type: str) -> str:
    head = f"arn:{LONGEST_PARTITION}"
    name = _name(resource_type)
    return {
        "AWS::IAM::Role": f"{head}:iam::{ACCOUNT}:role/{name}",
        "AWS::Lambda::Function": f"{head}:lambda:{LONGEST_REGION}:{ACCOUNT}:function:{name}",
        "AWS::DynamoDB::Table": f"{head}:dynamodb:{LONGEST_REGION}:{ACCOUNT}:table/{name}",
        "AWS::Logs::LogGroup": f"{head}:logs:{LONGEST_REGION}:{ACCOUNT}:log-group:{name}:*",
        "AWS::SQS::Queue": f"{head}:sqs:{LONGEST_REGION}:{ACCOUNT}:{name}",
    }.get(resource_type, f"{head}:service:{LONGEST_REGION}:{ACCOUNT}:resource/{name}")


@dataclass(frozen=True)
class Resolver:
    """Resolves references in a template to their longest values."""

    template: dict[str, Any]

    def _type(self, logical_id: str) -> str:
        return str(self.template["Resources"][logical_id]["Type"])

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Partition": LONGEST_PARTITION,
            "AWS::Region": LONGEST_REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": LONGEST_URL_SUFFIX,
            "AWS::StackName": "s" * 128,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            return "p" * 255
        return _name(self._type(name))

    def attribute(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return _arn(self._type(logical_id))
        return "a" * 255

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            return self.ref(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            logical_id, attribute = target if isinstance(target, list) else target.split(".", 1)
            return self.attribute(logical_id, attribute)
        if "Fn::Join" in value:
            separator, items = value["Fn::Join"]
            return separator.join(str(self.resolve(item)) for item in items)
        if "Fn::Sub" in value:
            text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            resolved = {name: self.resolve(item) for name, item in variables.items()}

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in resolved:
                    return str(resolved[name])
                if "." in name:
                    return self.attribute(*name.split(".", 1))
                return self.ref(name)

            return _SUB.sub(substitute, text)
        if "Fn::Select" in value:
            return "s" * 64
        return {key: self.resolve(item) for key, item in value.items()}


def policy_characters(document: Any) -> int:
    """A policy's size as IAM counts it: its JSON without white space."""
    return len(json.dumps(document, separators=(",", ":")))


@dataclass(frozen=True)
class Measure:
    """One template against every limit above."""

    resources: int
    template_bytes: int
    outputs: int
    # For each role: its inline policies in all, and each managed policy attached to it.
    inline_characters: dict[str, int]
    managed_characters: dict[str, list[int]]
    environment_bytes: dict[str, int]

    def violations(self) -> Iterator[str]:
        if self.resources > RESOURCES_PER_STACK:
            yield f"{self.resources} resources, more than {RESOURCES_PER_STACK}"
        if self.template_bytes > TEMPLATE_BYTES:
            yield f"{self.template_bytes} template bytes, more than {TEMPLATE_BYTES}"
        if self.outputs > OUTPUTS_PER_STACK:
            yield f"{self.outputs} outputs, more than {OUTPUTS_PER_STACK}"
        for role, size in self.inline_characters.items():
            if size > ROLE_INLINE_POLICY_CHARACTERS:
                yield f"role {role}: inline policies of {size} characters, more than {ROLE_INLINE_POLICY_CHARACTERS}"
        for role, sizes in self.managed_characters.items():
            if len(sizes) > MANAGED_POLICIES_PER_ROLE:
                yield f"role {role}: {len(sizes)} managed policies, more than {MANAGED_POLICIES_PER_ROLE}"
            yield from (
                f"role {role}: a managed policy of {size} characters, more than {MANAGED_POLICY_CHARACTERS}"
                for size in sizes
                if size > MANAGED_POLICY_CHARACTERS
            )
        for function, size in self.environment_bytes.items():
            if size > LAMBDA_ENVIRONMENT_BYTES:
                yield f"function {function}: environment of {size} bytes, more than {LAMBDA_ENVIRONMENT_BYTES}"


def measure(template: dict[str, Any], template_bytes: int) -> Measure:
    resolver = Resolver(template)
    resources = template["Resources"]
    roles = [logical_id for logical_id, r in resources.items() if r["Type"] == "AWS::IAM::Role"]
    inline = dict.fromkeys(roles, 0)
    managed: dict[str, list[int]] = {role: [] for role in roles}
    for role in roles:
        properties = resources[role].get("Properties", {})
        inline[role] += sum(
            policy_characters(resolver.resolve(p["PolicyDocument"])) for p in properties.get("Policies", [])
        )
        managed[role] += [MANAGED_POLICY_CHARACTERS] * len(properties.get("ManagedPolicyArns", []))
    for resource in resources.values():
        properties = resource.get("Properties", {})
        attached = [str(ref["Ref"]) for ref in properties.get("Roles", []) if isinstance(ref, dict) and "Ref" in ref]
        size = policy_characters(resolver.resolve(properties.get("PolicyDocument", {})))
        for role in attached:
            if resource["Type"] == "AWS::IAM::Policy":
                inline[role] += size
            elif resource["Type"] == "AWS::IAM::ManagedPolicy":
                managed[role].append(size)
    environment = {
        logical_id: sum(
            len(key) + len(str(value))
            for key, value in resolver.resolve(r["Properties"].get("Environment", {}).get("Variables", {})).items()
        )
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function"
    }
    return Measure(
        resources=len(resources),
        template_bytes=template_bytes,
        outputs=len(template.get("Outputs", {})),
        inline_characters=inline,
        managed_characters=managed,
        environment_bytes=environment,
    )
