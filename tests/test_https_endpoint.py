"""The HTTPS endpoint: a CloudFront distribution in front of SES's redirect host, its certificate, its
DNS records, and what scanners say of it."""

from __future__ import annotations

import json
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

from cdk_ses_tracking_options import TrackingOptions
from tests.redirect_host import ALL_VIEWER, ALL_VIEWER_EXCEPT_HOST_HEADER, RedirectHost, through_endpoint

DOMAIN = "click.example.com"
CERTIFICATE_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
# CloudFront's managed policies (the ids are fixed by the service).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
US_EAST_1 = cdk.Environment(account="123456789012", region="us-east-1")
EU_WEST_1 = cdk.Environment(account="123456789012", region="eu-west-1")


def stack_in(env: cdk.Environment | None, app: cdk.App | None = None, name: str = "Stack") -> cdk.Stack:
    return cdk.Stack(app or cdk.App(), name, env=env)


def zone_of(stack: cdk.Stack) -> route53.IHostedZone:
    return route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789ABCDEFGHIJ", zone_name="example.com"
    )


def tracking(stack: cdk.Stack, **kwargs: Any) -> TrackingOptions:
    marketing = ses.ConfigurationSet.from_configuration_set_name(stack, "Marketing", "marketing")
    return TrackingOptions(
        stack, "Tracking", configuration_set=marketing, custom_redirect_domain=DOMAIN, https_endpoint=True, **kwargs
    )


def imported_certificate(stack: cdk.Stack, arn: str = CERTIFICATE_ARN) -> acm.ICertificate:
    return acm.Certificate.from_certificate_arn(stack, "Certificate", arn)


def distribution_config(stack: cdk.Stack) -> dict[str, Any]:
    found = assertions.Template.from_stack(stack).find_resources("AWS::CloudFront::Distribution")
    assert len(found) == 1
    config: dict[str, Any] = next(iter(found.values()))["Properties"]["DistributionConfig"]
    return config


def test_the_distribution_passes_every_request_to_ses_over_https_and_caches_nothing() -> None:
    stack = stack_in(EU_WEST_1)
    tracking(stack, certificate=imported_certificate(stack))
    config = distribution_config(stack)
    # GIVEN SES's regional redirect host as the one origin, reached over HTTPS with TLS 1.2
    (origin,) = config["Origins"]
    assert origin["DomainName"] == {"Fn::Join": ["", ["r.", {"Ref": "AWS::Region"}, ".awstrack.me"]]}
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]
    # THEN every open and click reaches SES: nothing cached, every query string and header kept, Host included
    behavior = config["DefaultCacheBehavior"]
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert "CacheBehaviors" not in config
    # AND it answers for the tracking domain with its certificate and a modern TLS policy
    assert config["Aliases"] == [DOMAIN]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": CERTIFICATE_ARN,
        "MinimumProtocolVersion": "TLSv1.2_2021",
        "SslSupportMethod": "sni-only",
    }
    assert config["Enabled"] is True
    assert "Logging" not in config


def test_a_tracking_link_through_the_endpoint_reaches_ses_with_the_tracking_domain_as_host() -> None:
    # GIVEN the endpoint's distribution as synthesized, in front of a stand-in of SES's redirect host that knows
    # the stack's tracking domain
    stack = stack_in(EU_WEST_1)
    tracking(stack, certificate=imported_certificate(stack))
    config = distribution_config(stack)
    origin_domain = "r.eu-west-1.awstrack.me"
    link = "/CL0/https:%2F%2Fshop.example.com%2Fsale/1/0102abcd/xyz?to=https://shop.example.com/sale"
    with RedirectHost({DOMAIN}).running() as ses_host:
        # WHEN a recipient clicks a tracking link on the tracking domain
        clicked = through_endpoint(config, ses_host, origin_domain, DOMAIN, link)
        # THEN SES sees the tracking domain as Host, with the path and query, and redirects to the destination
        assert clicked.status == 302
        assert clicked.location == "https://shop.example.com/sale"
        assert ses_host.seen[-1]["host"] == DOMAIN
        assert ses_host.seen[-1][":path"] == link
        # AND a domain SES does not know is refused, as SES refuses it
        assert through_endpoint(config, ses_host, origin_domain, "other.example.com", link).status == 403
        # AND with the viewer's Host dropped (AllViewerExceptHostHeader, as 0.2 had it) every link is refused
        without_host = {**config, "DefaultCacheBehavior": {"OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST_HEADER}}
        refused = through_endpoint(without_host, ses_host, origin_domain, DOMAIN, link)
        assert refused.status == 403
        assert ses_host.seen[-1]["host"] == origin_domain


def test_https_policy_defaults_to_require_with_the_endpoint_and_stays_as_given() -> None:
    stack = stack_in(EU_WEST_1)
    tracking(stack, certificate=imported_certificate(stack))
    template = assertions.Template.from_stack(stack)
    template.has_resource_properties("Custom::SesTrackingOptions", {"HttpsPolicy": "REQUIRE"})
    other = stack_in(EU_WEST_1)
    tracking(other, certificate=imported_certificate(other), https_policy=ses.HttpsPolicy.REQUIRE_OPEN_ONLY)
    assertions.Template.from_stack(other).has_resource_properties(
        "Custom::SesTrackingOptions", {"HttpsPolicy": "REQUIRE_OPEN_ONLY"}
    )


def test_with_a_zone_alias_records_point_at_the_distribution_and_no_cname() -> None:
    stack = stack_in(EU_WEST_1)
    made = tracking(stack, certificate=imported_certificate(stack), hosted_zone=zone_of(stack))
    template = assertions.Template.from_stack(stack)
    template.resource_count_is("AWS::Route53::RecordSet", 2)
    distribution_id = stack.get_logical_id(made.distribution.node.default_child)  # type: ignore[union-attr,arg-type]
    for record_type in ("A", "AAAA"):
        template.has_resource_properties(
            "AWS::Route53::RecordSet",
            {
                "Type": record_type,
                "Name": f"{DOMAIN}.",
                "HostedZoneId": "Z0123456789ABCDEFGHIJ",
                "AliasTarget": {
                    "DNSName": {"Fn::GetAtt": [distribution_id, "DomainName"]},
                    "HostedZoneId": assertions.Match.any_value(),
                },
            },
        )
    assert made.cname_record is None
    assert made.alias_records is not None
    assert template.find_resources("AWS::Route53::RecordSet", {"Properties": {"Type": "CNAME"}}) == {}


@pytest.mark.parametrize("with_zone", [False, True], ids=["certificate-given", "zone-and-certificate-made"])
def test_ses_switches_to_the_domain_only_once_the_endpoint_serves_it_and_leaves_it_first(with_zone: bool) -> None:
    # GIVEN the endpoint, with a certificate given or (with the zone, in us-east-1) one made, and its records
    stack = stack_in(US_EAST_1)
    if with_zone:
        tracking(stack, hosted_zone=zone_of(stack))
    else:
        tracking(stack, certificate=imported_certificate(stack))
    resources = assertions.Template.from_stack(stack).to_json()["Resources"]
    (custom,) = (r for r in resources.values() if r["Type"] == "Custom::SesTrackingOptions")
    # THEN the tracking options depend on everything the links go through (CloudFormation creates those first
    # and deletes them after): SES never requires HTTPS on a domain that does not serve it yet
    served_by = {"AWS::CloudFront::Distribution"}
    if with_zone:
        served_by |= {"AWS::CertificateManager::Certificate", "AWS::Route53::RecordSet"}
    needed = {name for name, r in resources.items() if r["Type"] in served_by}
    assert needed <= set(custom["DependsOn"])
    assert len(needed) == (4 if with_zone else 1)


def test_retained_options_keep_what_their_links_need() -> None:
    # GIVEN options retained when the construct leaves the stack, with the endpoint, its certificate and records
    stack = stack_in(US_EAST_1)
    tracking(stack, hosted_zone=zone_of(stack), removal_policy=cdk.RemovalPolicy.RETAIN)
    resources = assertions.Template.from_stack(stack).to_json()["Resources"]
    # THEN the distribution, the certificate and the records stay with them: the retained set's links resolve
    kept = {"Custom::SesTrackingOptions", "AWS::CloudFront::Distribution", "AWS::CertificateManager::Certificate"}
    kept.add("AWS::Route53::RecordSet")
    for resource in resources.values():
        if resource["Type"] in kept:
            assert resource.get("DeletionPolicy") == "Retain", resource["Type"]
            assert resource.get("UpdateReplacePolicy") == "Retain", resource["Type"]


def test_dns_target_is_the_distribution_with_the_endpoint_and_ses_without() -> None:
    stack = stack_in(EU_WEST_1)
    made = tracking(stack, certificate=imported_certificate(stack))
    assert made.distribution is not None
    assert stack.resolve(made.dns_target) == stack.resolve(made.distribution.distribution_domain_name)
    plain = TrackingOptions(
        stack,
        "Plain",
        configuration_set=ses.ConfigurationSet.from_configuration_set_name(stack, "Other", "other"),
        custom_redirect_domain="links.example.com",
    )
    assert stack.resolve(plain.dns_target) == stack.resolve(plain.cname_target)


def test_in_us_east_1_with_a_zone_it_makes_a_dns_validated_certificate() -> None:
    stack = stack_in(US_EAST_1)
    tracking(stack, hosted_zone=zone_of(stack))
    template = assertions.Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::CertificateManager::Certificate",
        {
            "DomainName": DOMAIN,
            "ValidationMethod": "DNS",
            "DomainValidationOptions": [{"DomainName": DOMAIN, "HostedZoneId": "Z0123456789ABCDEFGHIJ"}],
        },
    )
    certificate_id = next(iter(template.find_resources("AWS::CertificateManager::Certificate")))
    assert distribution_config(stack)["ViewerCertificate"]["AcmCertificateArn"] == {"Ref": certificate_id}


@pytest.mark.parametrize("zone_name", ["example.com", "Example.COM."])
def test_the_zone_apex_is_served_by_alias_records_and_a_certificate_for_it(zone_name: str) -> None:
    # GIVEN the apex of the zone as the tracking domain: a CNAME is not allowed there, an alias is
    stack = stack_in(US_EAST_1)
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789ABCDEFGHIJ", zone_name=zone_name
    )
    made = TrackingOptions(
        stack,
        "Tracking",
        configuration_set=ses.ConfigurationSet.from_configuration_set_name(stack, "Marketing", "marketing"),
        custom_redirect_domain="example.com",
        hosted_zone=zone,
        https_endpoint=True,
    )
    # THEN A and AAAA aliases at the apex, no CNAME, and a certificate for the apex
    assert made.alias_records is not None
    assert made.cname_record is None
    records = assertions.Template.from_stack(stack).find_resources("AWS::Route53::RecordSet")
    assert sorted((r["Properties"]["Type"], r["Properties"]["Name"]) for r in records.values()) == [
        ("A", "example.com."),
        ("AAAA", "example.com."),
    ]
    assertions.Template.from_stack(stack).has_resource_properties(
        "AWS::CertificateManager::Certificate", {"DomainName": "example.com"}
    )
    assert distribution_config(stack)["Aliases"] == ["example.com"]


def test_fails_synth_for_one_domain_on_two_endpoints_even_in_other_accounts() -> None:
    # CloudFront's alternate domain names are unique in all of AWS (CNAMEAlreadyExists).
    app = cdk.App()
    first = stack_in(EU_WEST_1, app, "One")
    tracking(first, certificate=imported_certificate(first))
    second = stack_in(cdk.Environment(account="210987654321", region="eu-central-1"), app, "Two")
    with pytest.raises(ValueError, match="custom_redirect_domain") as raised:
        TrackingOptions(
            second,
            "Tracking",
            configuration_set=ses.ConfigurationSet.from_configuration_set_name(second, "Billing", "billing"),
            custom_redirect_domain=DOMAIN,
            https_endpoint=True,
            certificate=imported_certificate(second),
        )
    assert str(raised.value) == (
        "custom_redirect_domain 'click.example.com' already has an HTTPS endpoint, made by TrackingOptions "
        "'One/Tracking': one CloudFront distribution or tenant serves a domain, in all of AWS, so the second "
        "would fail to deploy (CNAMEAlreadyExists). Give each TrackingOptions its own custom_redirect_domain, such as "
        "'click.<tenant>.example.com'"
    )


@pytest.mark.parametrize(
    ("env", "zone", "where"),
    [
        (EU_WEST_1, True, "this stack is in eu-west-1"),
        (None, True, "this stack is environment-agnostic"),
        (US_EAST_1, False, "this stack is in us-east-1 but has no hosted_zone"),
    ],
    ids=["other-region", "agnostic", "no-zone"],
)
def test_fails_without_a_certificate_it_cannot_make_saying_how_to_bring_one(
    env: cdk.Environment | None, zone: bool, where: str
) -> None:
    stack = stack_in(env)
    with pytest.raises(ValueError, match=r"needs a certificate for click\.example\.com in us-east-1") as failed:
        tracking(stack, hosted_zone=zone_of(stack) if zone else None)
    assert where in str(failed.value)
    assert "cross_region_references=True" in str(failed.value)


def test_fails_with_a_certificate_from_another_region() -> None:
    stack = stack_in(EU_WEST_1)
    certificate = imported_certificate(stack, CERTIFICATE_ARN.replace("us-east-1", "eu-west-1"))
    with pytest.raises(ValueError, match="certificate is in eu-west-1; CloudFront needs one in us-east-1"):
        tracking(stack, certificate=certificate)


def test_a_certificate_from_a_us_east_1_stack_crosses_regions(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    certificates = cdk.Stack(app, "Certificates", env=US_EAST_1, cross_region_references=True)
    certificate = acm.Certificate(
        certificates,
        "Certificate",
        domain_name=DOMAIN,
        validation=acm.CertificateValidation.from_dns(zone_of(certificates)),
    )
    tracked = cdk.Stack(app, "Tracked", env=EU_WEST_1, cross_region_references=True)
    tracking(tracked, certificate=certificate)
    app.synth()
    arn = distribution_config(tracked)["ViewerCertificate"]["AcmCertificateArn"]
    assert "Fn::GetAtt" in json.dumps(arn)  # read from the us-east-1 stack through CDK's cross-region reader


@pytest.mark.parametrize("region", ["cn-north-1", "cn-northwest-1", "us-gov-west-1", "us-gov-east-1"])
def test_fails_at_synth_in_partitions_where_cloudfront_and_ses_differ(region: str) -> None:
    stack = stack_in(cdk.Environment(account="123456789012", region=region))
    with pytest.raises(ValueError, match=f"https_endpoint is not supported in aws-(cn|us-gov) \\({region}\\)"):
        tracking(stack, certificate=imported_certificate(stack))


def test_an_agnostic_stack_stops_at_deploy_outside_the_aws_partition() -> None:
    stack = stack_in(None)
    tracking(stack, certificate=imported_certificate(stack))
    rules = assertions.Template.from_stack(stack).to_json()["Rules"]
    (assertion,) = rules["SesTrackingHttpsEndpointPartition"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Partition"}, "aws"]}
    assert "aws-cn and aws-us-gov" in assertion["AssertDescription"]


def test_access_logs_go_to_the_bucket_given() -> None:
    stack = stack_in(EU_WEST_1)
    bucket = s3.Bucket.from_bucket_attributes(stack, "Logs", bucket_name="tracking-logs", region="eu-west-1")
    tracking(stack, certificate=imported_certificate(stack), access_log_bucket=bucket)
    logging = distribution_config(stack)["Logging"]
    assert logging["Prefix"] == f"{DOMAIN}/"
    assert "tracking-logs" in json.dumps(logging["Bucket"])


@pytest.mark.parametrize("prop", ["certificate", "access_log_bucket"])
def test_fails_when_endpoint_props_come_without_the_endpoint(prop: str) -> None:
    stack = stack_in(EU_WEST_1)
    value: Any = (
        imported_certificate(stack) if prop == "certificate" else s3.Bucket.from_bucket_name(stack, "B", "logs")
    )
    with pytest.raises(ValueError, match="used only with https_endpoint=True"):
        TrackingOptions(
            stack,
            "Tracking",
            configuration_set=ses.ConfigurationSet.from_configuration_set_name(stack, "Marketing", "marketing"),
            custom_redirect_domain=DOMAIN,
            **{prop: value},
        )


def test_no_https_warning_with_the_endpoint_and_the_warning_stays_without_it() -> None:
    stack = stack_in(US_EAST_1)
    tracking(stack, hosted_zone=zone_of(stack))
    assert assertions.Annotations.from_stack(stack).find_warning("*", assertions.Match.any_value()) == []
    bare = stack_in(US_EAST_1)
    TrackingOptions(
        bare,
        "Tracking",
        configuration_set=ses.ConfigurationSet.from_configuration_set_name(bare, "Marketing", "marketing"),
        custom_redirect_domain=DOMAIN,
        https_policy=ses.HttpsPolicy.REQUIRE,
        hosted_zone=zone_of(bare),
    )
    warnings = assertions.Annotations.from_stack(bare).find_warning("*", assertions.Match.string_like_regexp("https"))
    assert len(warnings) == 1


# --- Scanners ---------------------------------------------------------------------------------------


def nag_report(tmp_path: Path, *, logs: bool) -> list[dict[str, Any]]:
    app = cdk.App(outdir=str(tmp_path))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = stack_in(US_EAST_1, app)
    bucket = s3.Bucket.from_bucket_name(stack, "Logs", "tracking-logs") if logs else None
    tracking(stack, hosted_zone=zone_of(stack), access_log_bucket=bucket)
    app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    return [v for plugin in report["pluginReports"] for v in plugin.get("violations", [])]


@pytest.mark.parametrize("logs", [False, True], ids=["no-logs", "logs"])
def test_cdk_nag_aws_solutions_reports_nothing_for_the_endpoint(tmp_path: Path, logs: bool) -> None:
    assert nag_report(tmp_path, logs=logs) == []


def test_cfn_lint_reports_no_errors_for_the_endpoint(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = stack_in(US_EAST_1, app)
    tracking(stack, hosted_zone=zone_of(stack))
    template = app.synth().get_stack_by_name("Stack").template
    matches = lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"]))
    assert [f"{m.rule.id}: {m.message}" for m in matches if m.rule.id.startswith("E")] == []
