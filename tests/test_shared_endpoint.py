"""The shared HTTPS endpoint: one CloudFront multi-tenant distribution in front of SES's redirect host, a
distribution tenant per TrackingOptions, the records to its routing endpoint, its use across stacks, what is
refused at synth, and what scanners say of it.

CloudFormation's rules come from the resource schemas cfn-lint ships (AWS::CloudFront::Distribution,
DistributionTenant, ConnectionGroup) and the CloudFront API (botocore's model); tenant-only mode's refusals from
"Unsupported features for SaaS Manager for Amazon CloudFront"; the quotas from CloudFront's "Quotas" page.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ses as ses
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

from cdk_ses_tracking_options import ISharedTrackingEndpoint, SharedTrackingEndpoint, TrackingOptions
from cdk_ses_tracking_options._shared_endpoint import (
    DISTRIBUTION_TENANTS_PER_ACCOUNT,
    MULTI_TENANT_DISTRIBUTIONS_PER_ACCOUNT,
)
from tests.redirect_host import ALL_VIEWER, RedirectHost, through_endpoint

DOMAIN = "click.example.com"
CERTIFICATE_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
EU_WEST_1 = cdk.Environment(account="123456789012", region="eu-west-1")
US_EAST_1 = cdk.Environment(account="123456789012", region="us-east-1")
CUSTOM = "Custom::SesTrackingOptions"
TENANT = "AWS::CloudFront::DistributionTenant"
# What tenant-only mode refuses in a DistributionConfig and in its behaviours (IPv6 and Anycast are the
# connection group's).
REFUSED_IN_CONFIG = {
    "Aliases",
    "CNAMEs",
    "PriceClass",
    "Staging",
    "ContinuousDeploymentPolicyId",
    "IPV6Enabled",
    "AnycastIpListId",
}
REFUSED_IN_BEHAVIOR = {"DefaultTTL", "MinTTL", "MaxTTL", "SmoothStreaming", "TrustedSigners", "ForwardedValues"}
# CreateDistributionTenantRequestNameString in the CloudFront API.
TENANT_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9-.]{1,126}[a-zA-Z0-9]")


def zone_of(stack: cdk.Stack) -> route53.IHostedZone:
    return route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789ABCDEFGHIJ", zone_name="example.com"
    )


def tracking(
    stack: cdk.Stack, endpoint: ISharedTrackingEndpoint, domain: str = DOMAIN, id_: str = "Tracking", **kwargs: Any
) -> TrackingOptions:
    marketing = ses.ConfigurationSet.from_configuration_set_name(
        stack, f"{id_}Set", f"set-{stack.node.id.lower()}-{id_.lower()}"
    )
    return TrackingOptions(
        stack, id_, configuration_set=marketing, custom_redirect_domain=domain, shared_endpoint=endpoint, **kwargs
    )


def one_stack(
    env: cdk.Environment | None = EU_WEST_1, **endpoint_props: Any
) -> tuple[cdk.Stack, SharedTrackingEndpoint]:
    stack = cdk.Stack(cdk.App(), "Stack", env=env)
    return stack, SharedTrackingEndpoint(stack, "Endpoint", **endpoint_props)


def resources(stack: cdk.Stack) -> dict[str, Any]:
    found: dict[str, Any] = assertions.Template.from_stack(stack).to_json()["Resources"]
    return found


def of_type(found: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return {name: r for name, r in found.items() if r["Type"] == resource_type}


def distribution_config(stack: cdk.Stack) -> dict[str, Any]:
    (distribution,) = of_type(resources(stack), "AWS::CloudFront::Distribution").values()
    config: dict[str, Any] = distribution["Properties"]["DistributionConfig"]
    return config


def the_tenant(stack: cdk.Stack) -> dict[str, Any]:
    (tenant,) = of_type(resources(stack), TENANT).values()
    return tenant  # type: ignore[no-any-return]


# --- The endpoint --------------------------------------------------------------------------------------


def test_the_shared_distribution_passes_every_request_to_ses_over_https_and_caches_nothing() -> None:
    stack, _ = one_stack()
    config = distribution_config(stack)
    # GIVEN SES's regional redirect host as the one origin, reached over HTTPS with TLS 1.2
    (origin,) = config["Origins"]
    assert origin["DomainName"] == {"Fn::Join": ["", ["r.", {"Ref": "AWS::Region"}, ".awstrack.me"]]}
    assert origin["CustomOriginConfig"] == {"OriginProtocolPolicy": "https-only", "OriginSSLProtocols": ["TLSv1.2"]}
    # THEN every open and click reaches SES: nothing cached, every query string and header kept, Host included
    behavior = config["DefaultCacheBehavior"]
    assert behavior["TargetOriginId"] == origin["Id"]
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert behavior["Compress"] is False
    assert "CacheBehaviors" not in config
    # AND it is a multi-tenant distribution, with nothing tenant-only mode refuses
    assert config["ConnectionMode"] == "tenant-only"
    assert config["Enabled"] is True
    assert config["HttpVersion"] == "http2and3"
    assert REFUSED_IN_CONFIG.isdisjoint(config)
    assert REFUSED_IN_BEHAVIOR.isdisjoint(behavior)
    # AND no parameters: a tenant passes none (CloudFront allows 5 per distribution)
    assert "TenantConfig" not in config
    # AND without a certificate of its own, CloudFront's default one, and no security policy it would ignore
    assert config["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}


def test_the_connection_group_carries_ipv6_and_a_name_of_its_own() -> None:
    stack, endpoint = one_stack()
    (group,) = of_type(resources(stack), "AWS::CloudFront::ConnectionGroup").values()
    assert group["Properties"]["Enabled"] is True
    assert group["Properties"]["Ipv6Enabled"] is True
    assert re.fullmatch(r"[A-Za-z0-9-]{1,64}", group["Properties"]["Name"])
    assert stack.resolve(endpoint.routing_endpoint) == {
        "Fn::GetAtt": [stack.get_logical_id(endpoint.connection_group), "RoutingEndpoint"]
    }
    assert stack.resolve(endpoint.connection_group_id) == {
        "Fn::GetAtt": [stack.get_logical_id(endpoint.connection_group), "Id"]
    }


def test_with_a_certificate_the_distribution_holds_viewers_to_tls_1_2() -> None:
    stack = cdk.Stack(cdk.App(), "Stack", env=EU_WEST_1)
    shared = acm.Certificate.from_certificate_arn(stack, "Wildcard", CERTIFICATE_ARN)
    SharedTrackingEndpoint(stack, "Endpoint", certificate=shared)
    assert distribution_config(stack)["ViewerCertificate"] == {
        "AcmCertificateArn": CERTIFICATE_ARN,
        "MinimumProtocolVersion": "TLSv1.2_2021",
        "SslSupportMethod": "sni-only",
    }


def test_a_retained_endpoint_keeps_its_distribution_and_connection_group() -> None:
    stack, _ = one_stack(removal_policy=cdk.RemovalPolicy.RETAIN)
    for resource in resources(stack).values():
        assert resource["DeletionPolicy"] == "Retain"
        assert resource["UpdateReplacePolicy"] == "Retain"


# --- Tenants -------------------------------------------------------------------------------------------


def test_each_tracking_options_adds_a_tenant_with_a_certificate_cloudfront_manages() -> None:
    stack, endpoint = one_stack()
    tracking(stack, endpoint)
    tracking(stack, endpoint, domain="links.example.com", id_="Other")
    tenants = of_type(resources(stack), TENANT)
    assert len(tenants) == 2
    by_domain = {tuple(t["Properties"]["Domains"]): t["Properties"] for t in tenants.values()}
    tenant = by_domain[(DOMAIN,)]
    assert tenant["DistributionId"] == {"Ref": stack.get_logical_id(endpoint.distribution)}
    assert tenant["ConnectionGroupId"] == stack.resolve(endpoint.connection_group_id)
    assert tenant["Enabled"] is True
    # HTTP validation through the endpoint: CloudFront serves the token once the domain points at it
    assert tenant["ManagedCertificateRequest"] == {"ValidationTokenHost": "cloudfront"}
    assert "Customizations" not in tenant
    # One domain a tenant (CloudFront allows 100), named after it: a domain is on one tenant of the account
    assert tenant["Name"] == DOMAIN
    assert TENANT_NAME.fullmatch(tenant["Name"])
    assert "Parameters" not in tenant


def test_a_given_certificate_goes_on_the_tenant_and_no_managed_one_is_requested() -> None:
    stack, endpoint = one_stack()
    tracking(stack, endpoint, certificate=acm.Certificate.from_certificate_arn(stack, "Certificate", CERTIFICATE_ARN))
    tenant = the_tenant(stack)["Properties"]
    assert tenant["Customizations"] == {"Certificate": {"Arn": CERTIFICATE_ARN}}
    assert "ManagedCertificateRequest" not in tenant


def test_https_policy_defaults_to_require_with_the_shared_endpoint_and_stays_as_given() -> None:
    stack, endpoint = one_stack()
    tracking(stack, endpoint)
    tracking(stack, endpoint, domain="links.example.com", id_="Other", https_policy=ses.HttpsPolicy.REQUIRE_OPEN_ONLY)
    policies = {
        r["Properties"]["CustomRedirectDomain"]: r["Properties"]["HttpsPolicy"]
        for r in of_type(resources(stack), CUSTOM).values()
    }
    assert policies == {DOMAIN: "REQUIRE", "links.example.com": "REQUIRE_OPEN_ONLY"}


def test_with_a_zone_a_cname_points_at_the_routing_endpoint_and_is_made_before_the_tenant() -> None:
    stack, endpoint = one_stack()
    made = tracking(stack, endpoint, hosted_zone=zone_of(stack))
    found = resources(stack)
    (name, record) = next(iter(of_type(found, "AWS::Route53::RecordSet").items()))
    assert len(of_type(found, "AWS::Route53::RecordSet")) == 1
    assert record["Properties"]["Type"] == "CNAME"
    assert record["Properties"]["Name"] == f"{DOMAIN}."
    assert record["Properties"]["ResourceRecords"] == [stack.resolve(endpoint.routing_endpoint)]
    assert made.cname_record is not None
    assert made.alias_records is None
    # THEN the domain points at CloudFront before the tenant asks for its certificate (HTTP validation)
    (tenant,) = of_type(found, TENANT).values()
    assert name in tenant["DependsOn"]
    # AND no warning about HTTPS through SES's host: the CNAME goes to the endpoint
    assert assertions.Annotations.from_stack(stack).find_warning("*", assertions.Match.any_value()) == []


def test_dns_target_is_the_routing_endpoint() -> None:
    stack, endpoint = one_stack()
    made = tracking(stack, endpoint)
    assert stack.resolve(made.dns_target) == stack.resolve(endpoint.routing_endpoint)
    assert made.distribution is None
    assert made.distribution_tenant is not None


@pytest.mark.parametrize("with_zone", [False, True], ids=["no-zone", "zone"])
def test_ses_switches_to_the_domain_only_once_its_tenant_and_record_exist_and_leaves_it_first(
    with_zone: bool,
) -> None:
    stack, endpoint = one_stack()
    tracking(stack, endpoint, hosted_zone=zone_of(stack) if with_zone else None)
    found = resources(stack)
    (custom,) = of_type(found, CUSTOM).values()
    # THEN the options depend on the tenant and the record (CloudFormation creates those first, deletes them
    # after), and through the tenant on the distribution and connection group
    needed = set(of_type(found, TENANT)) | set(of_type(found, "AWS::Route53::RecordSet"))
    assert len(needed) == (2 if with_zone else 1)
    assert needed <= set(custom["DependsOn"])
    (tenant,) = of_type(found, TENANT).values()
    shared = set(of_type(found, "AWS::CloudFront::Distribution")) | set(
        of_type(found, "AWS::CloudFront::ConnectionGroup")
    )
    assert shared <= {ref for value in tenant["Properties"].values() for ref in _references(value)}


def _references(value: Any) -> set[str]:
    if isinstance(value, dict):
        if "Ref" in value:
            return {value["Ref"]}
        if "Fn::GetAtt" in value:
            return {value["Fn::GetAtt"][0]}
        return set().union(*(_references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value))
    return set()


def test_retained_options_keep_their_tenant_and_record_and_leave_the_shared_endpoint_to_its_own_policy() -> None:
    stack, endpoint = one_stack()
    tracking(stack, endpoint, hosted_zone=zone_of(stack), removal_policy=cdk.RemovalPolicy.RETAIN)
    for resource in resources(stack).values():
        if resource["Type"] in {CUSTOM, TENANT, "AWS::Route53::RecordSet"}:
            assert resource.get("DeletionPolicy") == "Retain", resource["Type"]
            assert resource.get("UpdateReplacePolicy") == "Retain", resource["Type"]
        elif resource["Type"].startswith("AWS::CloudFront::"):
            assert "DeletionPolicy" not in resource, resource["Type"]


def test_a_tenant_of_a_domain_known_only_at_deploy_gets_a_name_from_its_path() -> None:
    stack, endpoint = one_stack()
    domain = cdk.CfnParameter(stack, "Domain").value_as_string
    tracking(stack, endpoint, domain=domain)
    name = the_tenant(stack)["Properties"]["Name"]
    assert TENANT_NAME.fullmatch(name)
    assert name.startswith("Stack-Tracking")


def test_a_domain_too_long_for_a_tenant_name_gets_one_from_its_path() -> None:
    stack, endpoint = one_stack()
    domain = ".".join(["a" * 60, "b" * 60, "example.com"])  # 133 characters: over a tenant name's 128
    certificate = acm.Certificate.from_certificate_arn(stack, "Certificate", CERTIFICATE_ARN)
    tracking(stack, endpoint, domain=domain, certificate=certificate)
    tenant = the_tenant(stack)["Properties"]
    assert tenant["Domains"] == [domain]
    assert TENANT_NAME.fullmatch(tenant["Name"])


# --- Across stacks, and imported -----------------------------------------------------------------------


def three_stacks(app: cdk.App, *, with_zone: bool) -> tuple[cdk.Stack, list[cdk.Stack]]:
    home = cdk.Stack(app, "Endpoint", env=EU_WEST_1)
    endpoint = SharedTrackingEndpoint(home, "Shared")
    users = []
    for n in range(3):
        stack = cdk.Stack(app, f"Tenants{n}", env=EU_WEST_1)
        zone = zone_of(stack) if with_zone else None
        tracking(stack, endpoint, domain=f"click.tenant-{n}.example.com", hosted_zone=zone)
        users.append(stack)
    return home, users


def test_the_endpoint_of_one_stack_serves_tenants_of_three_others(tmp_path: Path) -> None:
    # GIVEN the endpoint in a stack of its own and TrackingOptions in three other stacks of the app
    app = cdk.App(outdir=str(tmp_path))
    home, users = three_stacks(app, with_zone=True)
    assembly = app.synth()
    # THEN the endpoint's stack exports its distribution, connection group and routing endpoint once
    exported = assembly.get_stack_by_name("Endpoint").template["Outputs"]
    export_names = {output["Export"]["Name"] for output in exported.values()}
    assert len(export_names) == 3
    for stack in users:
        template = assembly.get_stack_by_name(stack.stack_name).template
        (tenant,) = of_type(template["Resources"], TENANT).values()
        imported = {
            tenant["Properties"]["DistributionId"]["Fn::ImportValue"],
            tenant["Properties"]["ConnectionGroupId"]["Fn::ImportValue"],
        }
        (record,) = of_type(template["Resources"], "AWS::Route53::RecordSet").values()
        imported.add(record["Properties"]["ResourceRecords"][0]["Fn::ImportValue"])
        assert imported == export_names
        # AND each stack deploys after the endpoint's (and CloudFormation keeps the exports while imported)
        assert home in stack.dependencies


def test_an_endpoint_imported_by_its_attributes_takes_them_as_given() -> None:
    stack = cdk.Stack(cdk.App(), "Stack", env=EU_WEST_1)
    endpoint = SharedTrackingEndpoint.from_attributes(
        stack,
        "Endpoint",
        distribution_id="E2QWRUHEXAMPLE",
        connection_group_id="cg_2wjDWTBKTlRB87cAaUQFaakn1nM",
        routing_endpoint="d111111abcdef8.cloudfront.net",
        region="eu-west-1",
    )
    made = tracking(stack, endpoint, hosted_zone=zone_of(stack))
    found = resources(stack)
    (tenant,) = of_type(found, TENANT).values()
    assert tenant["Properties"]["DistributionId"] == "E2QWRUHEXAMPLE"
    assert tenant["Properties"]["ConnectionGroupId"] == "cg_2wjDWTBKTlRB87cAaUQFaakn1nM"
    (record,) = of_type(found, "AWS::Route53::RecordSet").values()
    assert record["Properties"]["ResourceRecords"] == ["d111111abcdef8.cloudfront.net"]
    assert made.dns_target == "d111111abcdef8.cloudfront.net"
    assert of_type(found, "AWS::CloudFront::Distribution") == {}


def test_an_endpoint_imported_from_another_stack_s_outputs() -> None:
    stack = cdk.Stack(cdk.App(), "Stack", env=EU_WEST_1)
    endpoint = SharedTrackingEndpoint.from_attributes(
        stack,
        "Endpoint",
        distribution_id=cdk.Fn.import_value("TrackingEndpoint-DistributionId"),
        connection_group_id=cdk.Fn.import_value("TrackingEndpoint-ConnectionGroupId"),
        routing_endpoint=cdk.Fn.import_value("TrackingEndpoint-RoutingEndpoint"),
    )
    tracking(stack, endpoint)
    tenant = the_tenant(stack)["Properties"]
    assert tenant["DistributionId"] == {"Fn::ImportValue": "TrackingEndpoint-DistributionId"}


# --- Refused at synth ----------------------------------------------------------------------------------


def test_fails_with_https_endpoint_and_shared_endpoint_together() -> None:
    stack, endpoint = one_stack()
    with pytest.raises(ValueError, match="https_endpoint=True and shared_endpoint are two HTTPS endpoints"):
        tracking(stack, endpoint, https_endpoint=True)


def test_fails_with_an_access_log_bucket_for_the_shared_endpoint() -> None:
    stack, endpoint = one_stack()
    bucket = s3.Bucket.from_bucket_name(stack, "Logs", "tracking-logs")
    with pytest.raises(ValueError, match="access_log_bucket is used only with https_endpoint=True"):
        tracking(stack, endpoint, access_log_bucket=bucket)


@pytest.mark.parametrize("region", ["cn-north-1", "us-gov-west-1"])
def test_fails_to_make_the_endpoint_in_partitions_where_cloudfront_and_ses_differ(region: str) -> None:
    with pytest.raises(ValueError, match=f"SharedTrackingEndpoint is not supported in aws-(cn|us-gov) \\({region}\\)"):
        one_stack(cdk.Environment(account="123456789012", region=region))


def test_fails_to_add_a_tenant_in_a_partition_where_cloudfront_and_ses_differ() -> None:
    stack = cdk.Stack(cdk.App(), "Stack", env=cdk.Environment(account="123456789012", region="cn-northwest-1"))
    endpoint = SharedTrackingEndpoint.from_attributes(
        stack, "Endpoint", distribution_id="E1", connection_group_id="cg_1", routing_endpoint="d1.cloudfront.net"
    )
    with pytest.raises(ValueError, match=r"shared_endpoint is not supported in aws-cn \(cn-northwest-1\)"):
        tracking(stack, endpoint)


def test_fails_from_a_stack_in_another_region_than_the_endpoint_s() -> None:
    # GIVEN an endpoint fronting eu-west-1's redirect host, and a stack in us-east-1
    app = cdk.App()
    endpoint = SharedTrackingEndpoint(cdk.Stack(app, "Endpoint", env=EU_WEST_1), "Shared")
    other = cdk.Stack(app, "Other", env=US_EAST_1)
    with pytest.raises(ValueError, match=r"fronts SES's redirect host of eu-west-1 \(r\.eu-west-1\.awstrack\.me\)"):
        tracking(other, endpoint)


def test_fails_from_a_stack_in_another_region_than_an_imported_endpoint_s() -> None:
    stack = cdk.Stack(cdk.App(), "Stack", env=US_EAST_1)
    endpoint = SharedTrackingEndpoint.from_attributes(
        stack,
        "Endpoint",
        distribution_id="E1",
        connection_group_id="cg_1",
        routing_endpoint="d1.cloudfront.net",
        region="eu-west-1",
    )
    with pytest.raises(ValueError, match="this stack is in us-east-1"):
        tracking(stack, endpoint)


def test_an_agnostic_stack_stops_at_deploy_outside_the_aws_partition() -> None:
    stack, endpoint = one_stack(None)
    tracking(stack, endpoint)
    rules = assertions.Template.from_stack(stack).to_json()["Rules"]
    (assertion,) = rules["SesTrackingHttpsEndpointPartition"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Partition"}, "aws"]}
    assert "SharedTrackingEndpoint" in assertion["AssertDescription"]


def test_fails_with_an_upper_case_domain() -> None:
    stack, endpoint = one_stack()
    with pytest.raises(ValueError, match=r"'Click\.Example\.com' has upper-case letters.*pass 'click\.example\.com'"):
        tracking(stack, endpoint, domain="Click.Example.com")


def test_fails_with_a_wildcard_domain() -> None:
    # A managed certificate is validated over HTTP, which covers no wildcard; SES takes no wildcard domain either.
    stack, endpoint = one_stack()
    with pytest.raises(ValueError, match=r"custom_redirect_domain '\*\.example\.com' is not a hostname"):
        tracking(stack, endpoint, domain="*.example.com")


def test_fails_with_a_domain_too_long_for_a_managed_certificate_and_takes_it_with_a_given_one() -> None:
    stack, endpoint = one_stack()
    domain = "c" * 50 + ".tenant.example.com"  # 69 characters
    with pytest.raises(ValueError, match=f"{domain}' has 69 characters.*takes at most 64"):
        tracking(stack, endpoint, domain=domain)
    certificate = acm.Certificate.from_certificate_arn(stack, "Certificate", CERTIFICATE_ARN)
    tracking(stack, endpoint, domain=domain, id_="Given", certificate=certificate)
    assert the_tenant(stack)["Properties"]["Domains"] == [domain]


def test_fails_with_a_tenant_certificate_from_another_region() -> None:
    stack, endpoint = one_stack()
    certificate = acm.Certificate.from_certificate_arn(
        stack, "Certificate", CERTIFICATE_ARN.replace("us-east-1", "eu-west-1")
    )
    with pytest.raises(ValueError, match="certificate is in eu-west-1; CloudFront needs one in us-east-1"):
        tracking(stack, endpoint, certificate=certificate)


def test_fails_with_an_endpoint_certificate_from_another_region() -> None:
    stack = cdk.Stack(cdk.App(), "Stack", env=EU_WEST_1)
    certificate = acm.Certificate.from_certificate_arn(
        stack, "Certificate", CERTIFICATE_ARN.replace("us-east-1", "eu-west-1")
    )
    with pytest.raises(ValueError, match="certificate is in eu-west-1; CloudFront needs one in us-east-1"):
        SharedTrackingEndpoint(stack, "Endpoint", certificate=certificate)


def test_fails_past_max_tenants_counting_every_stack_of_the_app() -> None:
    # GIVEN an endpoint whose quota is 2 tenants (CloudFront's default is 10,000 per account)
    assert DISTRIBUTION_TENANTS_PER_ACCOUNT == 10_000
    app = cdk.App()
    endpoint = SharedTrackingEndpoint(cdk.Stack(app, "Endpoint", env=EU_WEST_1), "Shared", max_tenants=2)
    assert SharedTrackingEndpoint(cdk.Stack(app, "Default", env=EU_WEST_1), "Shared").max_tenants == 10_000
    tracking(cdk.Stack(app, "A", env=EU_WEST_1), endpoint, domain="click.a.example.com")
    tracking(cdk.Stack(app, "B", env=EU_WEST_1), endpoint, domain="click.b.example.com")
    # THEN a third tenant, in a third stack, is refused
    with pytest.raises(ValueError, match=r"would hold 3 distribution tenants, more than max_tenants \(2;"):
        tracking(cdk.Stack(app, "C", env=EU_WEST_1), endpoint, domain="click.c.example.com")


def test_fails_with_max_tenants_below_one() -> None:
    with pytest.raises(ValueError, match="max_tenants 0 is not a quota"):
        one_stack(max_tenants=0)


def test_fails_with_an_imported_routing_endpoint_that_is_not_a_hostname() -> None:
    stack = cdk.Stack(cdk.App(), "Stack", env=EU_WEST_1)
    with pytest.raises(ValueError, match=r"routing_endpoint 'https://d1\.cloudfront\.net' is not a hostname"):
        SharedTrackingEndpoint.from_attributes(
            stack,
            "Endpoint",
            distribution_id="E1",
            connection_group_id="cg_1",
            routing_endpoint="https://d1.cloudfront.net",
        )


def test_warns_past_the_default_quota_of_multi_tenant_distributions_in_one_account() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Stack", env=EU_WEST_1)
    for n in range(MULTI_TENANT_DISTRIBUTIONS_PER_ACCOUNT + 1):
        SharedTrackingEndpoint(stack, f"Endpoint{n}")
    warnings = assertions.Annotations.from_stack(stack).find_warning(
        "*", assertions.Match.string_like_regexp("more than CloudFront's default quota of 20")
    )
    assert [w.id for w in warnings] == [f"/Stack/Endpoint{MULTI_TENANT_DISTRIBUTIONS_PER_ACCOUNT}"]


# --- The request path ----------------------------------------------------------------------------------


def test_tracking_links_of_every_tenant_reach_ses_with_their_own_domain_as_host() -> None:
    # GIVEN the shared distribution as synthesized, in front of a stand-in of SES's redirect host that knows two
    # tenants' tracking domains (tests/redirect_host.py names its sources)
    stack, endpoint = one_stack()
    tenants = ["click.shop-a.example.com", "click.shop-b.example.com"]
    for n, domain in enumerate(tenants):
        tracking(stack, endpoint, domain=domain, id_=f"Tenant{n}")
    config = distribution_config(stack)
    origin_domain = "r.eu-west-1.awstrack.me"
    link = "/CL0/https:%2F%2Fshop.example.com%2Fsale/1/0102abcd/xyz?to=https://shop.example.com/sale"
    with RedirectHost(set(tenants)).running() as ses_host:
        for domain in tenants:
            # WHEN a recipient clicks a link on a tenant's domain, THEN SES sees that domain as Host and redirects
            clicked = through_endpoint(config, ses_host, origin_domain, domain, link)
            assert clicked.status == 302
            assert clicked.location == "https://shop.example.com/sale"
            assert ses_host.seen[-1]["host"] == domain
            assert ses_host.seen[-1][":path"] == link
        # AND a domain SES does not know is refused, as SES refuses it
        assert through_endpoint(config, ses_host, origin_domain, "other.example.com", link).status == 403


# --- Scanners ------------------------------------------------------------------------------------------


def nag_violations(tmp_path: Path, *, certificate: bool) -> list[dict[str, Any]]:
    app = cdk.App(outdir=str(tmp_path))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    home = cdk.Stack(app, "Endpoint", env=EU_WEST_1)
    shared = acm.Certificate.from_certificate_arn(home, "Wildcard", CERTIFICATE_ARN) if certificate else None
    endpoint = SharedTrackingEndpoint(home, "Shared", certificate=shared)
    user = cdk.Stack(app, "Tenants", env=EU_WEST_1)
    tracking(user, endpoint, hosted_zone=zone_of(user))
    given = acm.Certificate.from_certificate_arn(user, "Certificate", CERTIFICATE_ARN)
    tracking(user, endpoint, domain="links.example.com", id_="Given", certificate=given)
    app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    return [v for plugin in report["pluginReports"] for v in plugin.get("violations", [])]


@pytest.mark.parametrize("certificate", [False, True], ids=["default-certificate", "certificate"])
def test_cdk_nag_aws_solutions_reports_nothing_for_the_shared_endpoint(tmp_path: Path, certificate: bool) -> None:
    assert nag_violations(tmp_path, certificate=certificate) == []


def test_cfn_lint_reports_no_errors_for_the_shared_endpoint_and_its_tenants(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    home, users = three_stacks(app, with_zone=True)
    shared = acm.Certificate.from_certificate_arn(home, "Wildcard", CERTIFICATE_ARN)
    SharedTrackingEndpoint(home, "WithCertificate", certificate=shared)
    given = acm.Certificate.from_certificate_arn(users[0], "Certificate", CERTIFICATE_ARN)
    endpoint = SharedTrackingEndpoint.from_attributes(
        users[0], "Imported", distribution_id="E1", connection_group_id="cg_1", routing_endpoint="d1.cloudfront.net"
    )
    tracking(users[0], endpoint, domain="links.example.com", id_="Given", certificate=given)
    assembly = app.synth()
    for stack in (home, *users):
        template = assembly.get_stack_by_name(stack.stack_name).template
        matches = lint(json.dumps(template), config=ManualArgs(regions=["eu-west-1"]))
        assert [f"{m.rule.id}: {m.message}" for m in matches if m.rule.id.startswith("E")] == [], stack.stack_name


def test_three_stacks_synthesize_in_seconds(tmp_path: Path, record_property: Any) -> None:
    app = cdk.App(outdir=str(tmp_path))
    started = time.monotonic()
    three_stacks(app, with_zone=True)
    assembly = app.synth()
    elapsed = time.monotonic() - started
    sizes = {
        stack.stack_name: (
            len(stack.template["Resources"]),
            Path(assembly.directory, stack.template_file).stat().st_size,
        )
        for stack in assembly.stacks
    }
    record_property("resources_and_bytes", repr(sizes))
    record_property("seconds", f"{elapsed:.1f}")
    assert sizes["Endpoint"][0] == 2
    assert all(count == 9 + 3 for name, (count, _) in sizes.items() if name != "Endpoint")
    assert elapsed < 60
