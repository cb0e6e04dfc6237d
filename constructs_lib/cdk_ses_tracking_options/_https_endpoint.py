"""The HTTPS endpoint in front of SES's redirect host: a CloudFront distribution for the tracking domain."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Arn, ArnFormat, Aws, CfnRule, CfnRuleAssertion, Fn, Stack, Token, Validations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_s3 as s3
from constructs import Construct

# CloudFront serves only certificates from this region.
CERTIFICATE_REGION = "us-east-1"
# Partitions whose CloudFront and SES redirect host differ from the commercial ones.
_UNSUPPORTED_REGION_PREFIXES = {"cn-": "aws-cn", "us-gov-": "aws-us-gov"}

_PARTITION_RULE = "SesTrackingHttpsEndpointPartition"
_CROSS_REGION = (
    "{prop} needs a certificate for {domain} in us-east-1, where CloudFront reads certificates; "
    "this stack is {where}. Create it in a us-east-1 stack (acm.Certificate with DNS validation) and pass it "
    "as certificate, with cross_region_references=True on both stacks (CDK's cross-region references), or "
    "pass one imported with acm.Certificate.from_certificate_arn"
)


def region_of(stack: Stack) -> str | None:
    """The stack's region, or None for an environment-agnostic stack (known only at deploy)."""
    return None if Token.is_unresolved(stack.region) else stack.region


def check_partition(stack: Stack, prop: str = "https_endpoint") -> None:
    """Fail at synth in a region known to be outside the commercial partition; else at deploy, first."""
    region = region_of(stack)
    for prefix, partition in _UNSUPPORTED_REGION_PREFIXES.items():
        if region is not None and region.startswith(prefix):
            msg = (
                f"{prop} is not supported in {partition} ({region}): CloudFront and SES's redirect host "
                f"differ there. Omit {prop} and front the domain yourself"
            )
            raise ValueError(msg)


def _certificate_region(certificate: acm.ICertificate) -> str | None:
    arn = certificate.certificate_arn
    if not Token.is_unresolved(arn):
        return Arn.split(arn, ArnFormat.SLASH_RESOURCE_NAME).region
    region = certificate.env.region
    return None if Token.is_unresolved(region) else region


def check_certificate_region(
    scope: Construct, domain: str, certificate: acm.ICertificate, prop: str = "https_endpoint"
) -> None:
    """A certificate CloudFront can serve: in us-east-1, when that can be told at synth."""
    region = _certificate_region(certificate)
    if region is not None and region != CERTIFICATE_REGION:
        msg = f"certificate is in {region}; CloudFront needs one in us-east-1. " + _CROSS_REGION.format(
            prop=prop, domain=domain, where=f"in {region_of(Stack.of(scope)) or 'an unknown region'}"
        )
        raise ValueError(msg)


def certificate_for(
    scope: Construct, domain: str, certificate: acm.ICertificate | None, zone: route53.IHostedZone | None
) -> acm.ICertificate:
    """The given certificate (checked to be in us-east-1 when that can be told), or a DNS-validated one
    made here when the stack is in us-east-1 and holds the domain's zone."""
    stack = Stack.of(scope)
    if certificate is not None:
        check_certificate_region(scope, domain, certificate)
        return certificate
    region = region_of(stack)
    if region == CERTIFICATE_REGION and zone is not None:
        return acm.Certificate(
            scope,
            "Certificate",
            domain_name=domain,
            validation=acm.CertificateValidation.from_dns(zone),
        )
    if region == CERTIFICATE_REGION:
        where = "in us-east-1 but has no hosted_zone to validate one with"
    else:
        where = f"in {region}" if region else "environment-agnostic"
    raise ValueError(_CROSS_REGION.format(prop="https_endpoint", domain=domain, where=where))


def partition_rule(stack: Stack) -> None:
    """In an environment-agnostic stack, which learns its partition at deploy: stop before anything is made."""
    if region_of(stack) is not None or stack.node.try_find_child(_PARTITION_RULE) is not None:
        return
    CfnRule(
        stack,
        _PARTITION_RULE,
        assertions=[
            CfnRuleAssertion(
                assert_=Fn.condition_equals(Aws.PARTITION, "aws"),
                assert_description=(
                    "TrackingOptions https_endpoint and SharedTrackingEndpoint work only in the aws partition: "
                    "CloudFront and SES's redirect host differ in aws-cn and aws-us-gov"
                ),
            )
        ],
    )


def distribution(
    scope: Construct, domain: str, certificate: acm.ICertificate, log_bucket: s3.IBucket | None
) -> cloudfront.Distribution:
    """CloudFront for the tracking domain, passing every open and click request to SES's redirect host."""
    partition_rule(Stack.of(scope))
    made = cloudfront.Distribution(
        scope,
        "Distribution",
        comment=f"SES open and click tracking for {domain}"[:128],
        domain_names=[domain],
        certificate=certificate,
        minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
        ssl_support_method=cloudfront.SSLMethod.SNI,
        http_version=cloudfront.HttpVersion.HTTP2_AND_3,
        enable_logging=log_bucket is not None,
        log_bucket=log_bucket,
        log_file_prefix=f"{domain}/" if log_bucket is not None else None,
        default_behavior=cloudfront.BehaviorOptions(
            origin=origins.HttpOrigin(
                Fn.join("", ["r.", Aws.REGION, ".awstrack.me"]),
                protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
                origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
            ),
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
            # Each open and click is an event SES must see: nothing is cached.
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            # Every query string, header and cookie goes on, the viewer's Host among them: SES's redirect host
            # tells which tracking domain (and configuration set) a request is for by its Host, and refuses
            # one it does not know (SES Developer Guide, "Configuring custom domains to handle open and click
            # tracking": "The CDN must pass the Host header supplied by the requester to the origin").
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER,
            compress=False,
        ),
    )
    acknowledged = [
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-CFR1",
            reason="Tracking links are opened by recipients anywhere in the world; a geo restriction would "
            "drop their opens and clicks, and the sender's audience is not known to the construct",
        ),
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-CFR2",
            reason="The distribution only forwards GET and HEAD to SES's redirect host and caches nothing; "
            "attach a WAF web ACL of your own through the distribution if your policy requires one",
        ),
    ]
    if log_bucket is None:
        acknowledged.append(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-CFR3",
                reason="SES records every open and click as an event; CloudFront access logs are written when "
                "access_log_bucket is given",
            )
        )
    for acknowledgment in acknowledged:
        Validations.of(made).acknowledge(acknowledgment)
    return made


def alias_records(
    scope: Construct, zone: route53.IHostedZone, record_name: str, target: cloudfront.IDistribution
) -> tuple[route53.ARecord, route53.AaaaRecord]:
    """A and AAAA alias records from the domain to the distribution."""
    alias = route53.RecordTarget.from_alias(targets.CloudFrontTarget(target))
    return (
        route53.ARecord(scope, "AliasA", zone=zone, record_name=record_name, target=alias, comment="SES tracking"),
        route53.AaaaRecord(
            scope, "AliasAaaa", zone=zone, record_name=record_name, target=alias, comment="SES tracking"
        ),
    )
