"""What a real account enforces that the emulators here do not, checked on synthesized templates: IAM's policy
sizes, CloudFormation's quotas and deletion order, Lambda's environment size (tests/account_limits.py names
each page). Every combination of props, from one TrackingOptions to a full stack."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_ses as ses

from cdk_ses_tracking_options import ISharedTrackingEndpoint, SharedTrackingEndpoint, TrackingOptions
from tests.account_limits import RESOURCES_PER_STACK, measure
from tests.cloudformation import dependencies

ENV = cdk.Environment(account="123456789012", region="us-east-1")
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
CUSTOM = "Custom::SesTrackingOptions"
Tenant = Callable[[cdk.Stack, int], None]


def _zone(stack: cdk.Stack) -> route53.IHostedZone:
    found = stack.node.try_find_child("Zone")
    if found is not None:
        return found  # type: ignore[return-value]
    return route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789ABCDEFGHIJ", zone_name="example.com"
    )


def _imported(stack: cdk.Stack, index: int) -> ses.IConfigurationSet:
    return ses.ConfigurationSet.from_configuration_set_name(stack, f"Set{index}", f"tenant-{index:04d}")


def _domain(index: int) -> str:
    return f"click.tenant-{index:04d}.example.com"


def imported(stack: cdk.Stack, index: int) -> None:
    TrackingOptions(
        stack, f"Tenant{index}", configuration_set=_imported(stack, index), custom_redirect_domain=_domain(index)
    )


def owned(stack: cdk.Stack, index: int) -> None:
    made = ses.ConfigurationSet(stack, f"Set{index}", configuration_set_name=f"tenant-{index:04d}")
    TrackingOptions(stack, f"Tenant{index}", configuration_set=made, custom_redirect_domain=_domain(index))


def hosted_zone(stack: cdk.Stack, index: int) -> None:
    TrackingOptions(
        stack,
        f"Tenant{index}",
        configuration_set=_imported(stack, index),
        custom_redirect_domain=_domain(index),
        hosted_zone=_zone(stack),
    )


def adopt_existing(stack: cdk.Stack, index: int) -> None:
    TrackingOptions(
        stack,
        f"Tenant{index}",
        configuration_set=_imported(stack, index),
        custom_redirect_domain=_domain(index),
        adopt_existing=True,
    )


def https_endpoint(stack: cdk.Stack, index: int) -> None:
    TrackingOptions(
        stack,
        f"Tenant{index}",
        configuration_set=_imported(stack, index),
        custom_redirect_domain=_domain(index),
        hosted_zone=_zone(stack),
        https_endpoint=True,
    )


def https_endpoint_with_a_certificate(stack: cdk.Stack, index: int) -> None:
    TrackingOptions(
        stack,
        f"Tenant{index}",
        configuration_set=_imported(stack, index),
        custom_redirect_domain=_domain(index),
        https_endpoint=True,
        certificate=acm.Certificate.from_certificate_arn(stack, f"Certificate{index}", CERTIFICATE),
    )


def _shared_endpoint(stack: cdk.Stack, *, here: bool = False) -> ISharedTrackingEndpoint:
    """The app's shared endpoint: in a stack of its own (the README's layout), or in the tenants' stack."""
    app = stack.node.root
    assert isinstance(app, cdk.App)
    home = stack if here else app.node.try_find_child("SharedEndpoint")
    if not isinstance(home, cdk.Stack):
        home = cdk.Stack(app, "SharedEndpoint", env=ENV)
    found = home.node.try_find_child("Endpoint")
    return found if isinstance(found, SharedTrackingEndpoint) else SharedTrackingEndpoint(home, "Endpoint")


def shared_endpoint(stack: cdk.Stack, index: int) -> None:
    TrackingOptions(
        stack,
        f"Tenant{index}",
        configuration_set=_imported(stack, index),
        custom_redirect_domain=_domain(index),
        shared_endpoint=_shared_endpoint(stack),
    )


def shared_endpoint_with_hosted_zone(stack: cdk.Stack, index: int) -> None:
    TrackingOptions(
        stack,
        f"Tenant{index}",
        configuration_set=_imported(stack, index),
        custom_redirect_domain=_domain(index),
        hosted_zone=_zone(stack),
        shared_endpoint=_shared_endpoint(stack),
    )


def shared_endpoint_in_the_stack_with_hosted_zone(stack: cdk.Stack, index: int) -> None:
    TrackingOptions(
        stack,
        f"Tenant{index}",
        configuration_set=_imported(stack, index),
        custom_redirect_domain=_domain(index),
        hosted_zone=_zone(stack),
        shared_endpoint=_shared_endpoint(stack, here=True),
    )


def everything(stack: cdk.Stack, index: int) -> None:
    made = ses.ConfigurationSet(stack, f"Set{index}", configuration_set_name=f"tenant-{index:04d}")
    TrackingOptions(
        stack,
        f"Tenant{index}",
        configuration_set=made,
        custom_redirect_domain=_domain(index),
        https_policy=ses.HttpsPolicy.REQUIRE_OPEN_ONLY,
        hosted_zone=_zone(stack),
        adopt_existing=True,
        https_endpoint=True,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )


TENANTS: dict[str, Tenant] = {
    tenant.__name__: tenant
    for tenant in (
        imported,
        owned,
        hosted_zone,
        adopt_existing,
        https_endpoint,
        https_endpoint_with_a_certificate,
        shared_endpoint,
        shared_endpoint_with_hosted_zone,
        shared_endpoint_in_the_stack_with_hosted_zone,
        everything,
    )
}


def synth(tenant: Tenant, count: int, outdir: Path) -> tuple[dict[str, Any], int]:
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Tenants", env=ENV)
    for index in range(count):
        tenant(stack, index)
    path = Path(app.synth().directory, "Tenants.template.json")
    return json.loads(path.read_text()), path.stat().st_size


def resources_per_tenant(tenant: Tenant, tmp_path: Path) -> tuple[int, int]:
    """The provider's own resources, and each TrackingOptions' (the construct and what it makes)."""
    one, _ = synth(tenant, 1, tmp_path / "one")
    two, _ = synth(tenant, 2, tmp_path / "two")
    per = len(two["Resources"]) - len(one["Resources"])
    return len(one["Resources"]) - per, per


_FULL: dict[str, int] = {}


def full(tenant: Tenant, tmp_path: Path) -> int:
    """How many TrackingOptions of this kind one stack holds."""
    if tenant.__name__ not in _FULL:
        fixed, per = resources_per_tenant(tenant, tmp_path)
        _FULL[tenant.__name__] = (RESOURCES_PER_STACK - fixed) // per
    return _FULL[tenant.__name__]


SIZES = (1, 20, 100, 200, "full")


@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize("name", list(TENANTS))
def test_every_template_fits_the_accounts_limits(
    name: str, size: int | str, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    tenant = TENANTS[name]
    largest = full(tenant, tmp_path)
    count = largest if size == "full" else int(size)
    if count > largest:
        pytest.skip(f"a stack holds {largest} TrackingOptions with {name}")
    template, size_bytes = synth(tenant, count, tmp_path / "stack")
    measured = measure(template, size_bytes)
    record_property("measured", repr(measured))
    assert list(measured.violations()) == []


def test_a_full_stack_is_the_largest_cdk_synthesizes(tmp_path: Path) -> None:
    largest = full(imported, tmp_path)
    template, _ = synth(imported, largest, tmp_path / "full")
    assert len(template["Resources"]) <= RESOURCES_PER_STACK
    with pytest.raises(RuntimeError, match="TooManyResourcesInStack"):
        synth(imported, largest + 1, tmp_path / "over")


@pytest.mark.parametrize(("name", "exports"), [("shared_endpoint", 2), ("shared_endpoint_with_hosted_zone", 3)])
def test_the_shared_endpoint_s_stack_exports_the_same_values_whatever_its_tenants(
    name: str, exports: int, tmp_path: Path
) -> None:
    # GIVEN a full stack of tenants on an endpoint made in a stack of its own
    count = full(TENANTS[name], tmp_path)
    app = cdk.App(outdir=str(tmp_path / "app"))
    stack = cdk.Stack(app, "Tenants", env=ENV)
    for index in range(count):
        TENANTS[name](stack, index)
    assembly = app.synth()
    home = assembly.get_stack_by_name("SharedEndpoint").template
    # THEN the endpoint's stack holds its two resources and exports the ids (and with records the routing
    # endpoint) once, whatever the number of importers: far from a stack's 200 outputs
    assert len(home["Resources"]) == 2
    assert len(home["Outputs"]) == exports
    template = assembly.get_stack_by_name("Tenants").template
    assert sum(r["Type"] == "AWS::CloudFront::DistributionTenant" for r in template["Resources"].values()) == count


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for found in graph[todo.pop()] - seen:
            seen.add(found)
            todo.append(found)
    return seen


@pytest.mark.parametrize("name", list(TENANTS))
def test_what_the_function_uses_is_deleted_only_after_every_tracking_options(name: str, tmp_path: Path) -> None:
    # GIVEN a stack's template: CloudFormation deletes a resource only after everything that depends on it
    template, _ = synth(TENANTS[name], 2, tmp_path / "stack")
    graph = dependencies(template)
    resources = template["Resources"]
    (role,) = [logical_id for logical_id, r in resources.items() if r["Type"] == "AWS::IAM::Role"]
    # WHAT the function uses during an event: its role, every policy granting the role, and what they grant
    policies = {
        logical_id
        for logical_id, r in resources.items()
        if r["Type"].startswith("AWS::IAM::") and {"Ref": role} in r["Properties"].get("Roles", [])
    }
    used = {role} | policies | set().union(*(graph[policy] for policy in policies))
    used |= {logical_id for logical_id, r in resources.items() if r["Type"].startswith("AWS::Lambda::")}
    # THEN every TrackingOptions depends on all of it, so a stack's deletion removes it only after the last one
    for custom in (logical_id for logical_id, r in resources.items() if r["Type"] == CUSTOM):
        assert used <= _closure(graph, custom), used - _closure(graph, custom)
