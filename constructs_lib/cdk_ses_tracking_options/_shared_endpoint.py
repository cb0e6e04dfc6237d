"""The shared HTTPS endpoint: one CloudFront multi-tenant distribution in front of SES's redirect host, and the
distribution tenant each tracking domain on it adds."""

from __future__ import annotations

import collections
import weakref
from typing import Protocol

from aws_cdk import Acknowledgment, Annotations, Aws, Fn, Names, RemovalPolicy, Stack, Token, Validations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from constructs import Construct, IConstruct

from ._https_endpoint import check_certificate_region, check_partition, partition_rule, region_of
from .lambda_handler.names import is_hostname

# CloudFront's default quotas (CloudFront Developer Guide, "Quotas", section "Quotas on multi-tenant
# distributions"). The two below are checked at synth where one app can tell them. The others cannot bind
# first: each endpoint makes one connection group (100 per account), each tenant holds one domain (100 per
# tenant), and the distribution defines no parameters (5 per distribution).
DISTRIBUTION_TENANTS_PER_ACCOUNT = 10_000
MULTI_TENANT_DISTRIBUTIONS_PER_ACCOUNT = 20
# ACM puts a certificate's first domain name in its subject, at most 64 characters (ACM User Guide, "Request a
# public certificate"); a CloudFront-managed certificate is requested for the tenant's one domain.
MANAGED_CERTIFICATE_DOMAIN_LENGTH = 64
# CreateDistributionTenant's Name: 3 to 128 letters, digits, '-' and '.', starting and ending with a letter or digit
# (the CloudFront API's CreateDistributionTenantRequestNameString).
_TENANT_NAME_LENGTH = 128
_ORIGIN_ID = "SesRedirectHost"

# What one app has put on each endpoint, and how many endpoints it makes in each account.
_TENANTS: weakref.WeakKeyDictionary[ISharedTrackingEndpoint, int] = weakref.WeakKeyDictionary()
_ENDPOINTS: weakref.WeakKeyDictionary[IConstruct, collections.Counter[str]] = weakref.WeakKeyDictionary()


class ISharedTrackingEndpoint(Protocol):
    """A shared HTTPS endpoint for tracking domains: made by :class:`SharedTrackingEndpoint` (in this stack or
    another of the app), or imported with :meth:`SharedTrackingEndpoint.from_attributes`."""

    @property
    def distribution_id(self) -> str:
        """The multi-tenant distribution's id."""
        ...

    @property
    def connection_group_id(self) -> str:
        """The connection group's id: the tenants' routing."""
        ...

    @property
    def routing_endpoint(self) -> str:
        """The connection group's routing endpoint, such as ``d111111abcdef8.cloudfront.net``: where each tenant's
        domain points."""
        ...

    @property
    def region(self) -> str:
        """The region whose SES redirect host (``r.<region>.awstrack.me``) the endpoint fronts; a token when the
        stack that made it is environment-agnostic."""
        ...

    @property
    def max_tenants(self) -> int:
        """How many distribution tenants synthesis lets this app put on the endpoint."""
        ...


class SharedTrackingEndpoint(Construct):
    """One HTTPS endpoint for the tracking domains of many configuration sets: a CloudFront multi-tenant
    distribution (CloudFront SaaS Manager) that passes every open and click to SES's redirect host of the stack's
    region, and the connection group its tenants' domains point to.

    Make it once and pass it as ``shared_endpoint`` to any number of :class:`TrackingOptions`, in this stack or in
    other stacks of the same app, account and region (CDK's cross-stack references), or import it with
    :meth:`from_attributes`. Each ``TrackingOptions`` adds a distribution tenant for its domain. Settings as
    ``https_endpoint``'s: nothing cached (``CachingDisabled``), every query string and header passed on, the
    viewer's ``Host`` among them (``AllViewer``), HTTPS to the origin with TLS 1.2, HTTP redirected to HTTPS, GET
    and HEAD only, no compression. Only in the ``aws`` partition.

    :param scope: the construct's scope.
    :param id_: the construct's id.
    :param certificate: a certificate in ``us-east-1`` that every tenant inherits, such as a wildcard for the
        tracking domains' parent domain; the distribution then holds viewers to TLS 1.2 (``TLSv1.2_2021``,
        SNI). When omitted, the distribution has CloudFront's default certificate (a tenant-only distribution
        serves no domain of its own, so it is never presented), and each tenant presents its own: CloudFront sets
        the security policy of a default certificate to TLSv1, and its documentation does not say which policy
        tenants' domains are then held to.
    :param removal_policy: what happens to the distribution and the connection group when the endpoint leaves its
        stack. When omitted, they are deleted (``RemovalPolicy.DESTROY``, CloudFormation's default).
        ``TrackingOptions(removal_policy=RETAIN)`` keeps its own tenant and record, not this shared endpoint:
        retain the endpoint too if retained options must keep working once it is gone.
    :param max_tenants: how many distribution tenants synthesis lets this app put on the endpoint. When omitted,
        10,000: CloudFront's default quota of distribution tenants per account. Pass your account's quota if it
        is raised.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        certificate: acm.ICertificate | None = None,
        removal_policy: RemovalPolicy | None = None,
        max_tenants: int | None = None,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        check_partition(stack, "SharedTrackingEndpoint")
        if certificate is not None:
            check_certificate_region(self, "its tenants", certificate, prop="SharedTrackingEndpoint")
        self.max_tenants: int = _checked_max_tenants(max_tenants)
        partition_rule(stack)
        self.connection_group = cloudfront.CfnConnectionGroup(
            self,
            "ConnectionGroup",
            name=Names.unique_resource_name(self, max_length=64, separator="-"),
            enabled=True,
            ipv6_enabled=True,
        )
        """The connection group: the tenants' domains point at its routing endpoint."""
        self.distribution = cloudfront.CfnDistribution(
            self, "Distribution", distribution_config=_distribution_config(certificate)
        )
        """The multi-tenant distribution (``ConnectionMode`` ``tenant-only``)."""
        _acknowledge(self.distribution, has_certificate=certificate is not None)
        if removal_policy is not None:
            self.connection_group.apply_removal_policy(removal_policy)
            self.distribution.apply_removal_policy(removal_policy)
        self.distribution_id: str = self.distribution.ref
        """The multi-tenant distribution's id."""
        self.connection_group_id: str = self.connection_group.attr_id
        """The connection group's id."""
        self.routing_endpoint: str = self.connection_group.attr_routing_endpoint
        """The connection group's routing endpoint: where each tenant's domain points."""
        self.region: str = stack.region
        """The region whose SES redirect host the endpoint fronts: its stack's."""
        _count_endpoint(self, stack)

    @staticmethod
    def from_attributes(
        scope: Construct,
        id_: str,
        *,
        distribution_id: str,
        connection_group_id: str,
        routing_endpoint: str,
        region: str | None = None,
        max_tenants: int | None = None,
    ) -> ISharedTrackingEndpoint:
        """A shared endpoint made elsewhere (another app, or a stack whose outputs you pass by hand).

        :param scope: the construct's scope.
        :param id_: the construct's id.
        :param distribution_id: the multi-tenant distribution's id.
        :param connection_group_id: the connection group's id.
        :param routing_endpoint: the connection group's routing endpoint, such as ``d111111abcdef8.cloudfront.net``.
        :param region: the region of the stack that made it, whose SES redirect host it fronts. When omitted,
            the region of the stack that imports it (so not checked).
        :param max_tenants: how many distribution tenants synthesis lets this app put on it. When omitted, 10,000,
            CloudFront's default quota per account; tenants other apps put on it are not counted.
        """
        return _ImportedSharedTrackingEndpoint(
            scope,
            id_,
            distribution_id=distribution_id,
            connection_group_id=connection_group_id,
            routing_endpoint=routing_endpoint,
            region=region,
            max_tenants=max_tenants,
        )


class _ImportedSharedTrackingEndpoint(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        distribution_id: str,
        connection_group_id: str,
        routing_endpoint: str,
        region: str | None,
        max_tenants: int | None,
    ) -> None:
        super().__init__(scope, id_)
        if not Token.is_unresolved(routing_endpoint) and not is_hostname(routing_endpoint):
            msg = (
                f"routing_endpoint {routing_endpoint!r} is not a hostname: pass the connection group's "
                "RoutingEndpoint, such as 'd111111abcdef8.cloudfront.net'"
            )
            raise ValueError(msg)
        self.distribution_id = distribution_id
        self.connection_group_id = connection_group_id
        self.routing_endpoint = routing_endpoint
        self.region = region if region is not None else Stack.of(self).region
        self.max_tenants = _checked_max_tenants(max_tenants)


def _checked_max_tenants(max_tenants: int | None) -> int:
    if max_tenants is None:
        return DISTRIBUTION_TENANTS_PER_ACCOUNT
    if max_tenants < 1:
        msg = f"max_tenants {max_tenants} is not a quota: pass your account's quota of distribution tenants"
        raise ValueError(msg)
    return max_tenants


def _count_endpoint(endpoint: SharedTrackingEndpoint, stack: Stack) -> None:
    """Warn past CloudFront's default quota of multi-tenant distributions in one account (adjustable, so not an
    error): one endpoint holds thousands of tenants, and more than a few are seldom meant."""
    if Token.is_unresolved(stack.account):
        return
    counts = _ENDPOINTS.setdefault(endpoint.node.root, collections.Counter())
    counts[stack.account] += 1
    if counts[stack.account] > MULTI_TENANT_DISTRIBUTIONS_PER_ACCOUNT:
        Annotations.of(endpoint).add_warning_v2(
            "cdk-ses-tracking-options:multi-tenant-distributions",
            f"This app makes {counts[stack.account]} SharedTrackingEndpoints in account {stack.account}, more than "
            f"CloudFront's default quota of {MULTI_TENANT_DISTRIBUTIONS_PER_ACCOUNT} multi-tenant distributions per "
            "account: share one endpoint between stacks (it holds up to 10,000 tenants), or raise the quota first.",
        )


def _distribution_config(certificate: acm.ICertificate | None) -> cloudfront.CfnDistribution.DistributionConfigProperty:
    """``https_endpoint``'s settings in tenant-only mode, which refuses Aliases, PriceClass, IPV6Enabled (the
    connection group's), Staging, ContinuousDeploymentPolicyId, IAM certificates and the legacy TTLs, smooth
    streaming and trusted signers of a behaviour ("Unsupported features for SaaS Manager for Amazon CloudFront")."""
    if certificate is not None:
        viewer_certificate = cloudfront.CfnDistribution.ViewerCertificateProperty(
            acm_certificate_arn=certificate.certificate_arn,
            minimum_protocol_version="TLSv1.2_2021",
            ssl_support_method="sni-only",
        )
    else:
        # CloudFront ignores a security policy given with its default certificate (it sets TLSv1): none is given.
        viewer_certificate = cloudfront.CfnDistribution.ViewerCertificateProperty(cloud_front_default_certificate=True)
    return cloudfront.CfnDistribution.DistributionConfigProperty(
        enabled=True,
        connection_mode="tenant-only",
        comment="SES open and click tracking, shared by its distribution tenants",
        http_version="http2and3",
        origins=[
            cloudfront.CfnDistribution.OriginProperty(
                id=_ORIGIN_ID,
                domain_name=Fn.join("", ["r.", Aws.REGION, ".awstrack.me"]),
                custom_origin_config=cloudfront.CfnDistribution.CustomOriginConfigProperty(
                    origin_protocol_policy="https-only",
                    origin_ssl_protocols=["TLSv1.2"],
                ),
            )
        ],
        default_cache_behavior=cloudfront.CfnDistribution.DefaultCacheBehaviorProperty(
            target_origin_id=_ORIGIN_ID,
            viewer_protocol_policy="redirect-to-https",
            allowed_methods=["GET", "HEAD"],
            cached_methods=["GET", "HEAD"],
            # Each open and click is an event SES must see: nothing is cached.
            cache_policy_id=cloudfront.CachePolicy.CACHING_DISABLED.cache_policy_id,
            # The viewer's Host tells SES's redirect host the tracking domain (see _https_endpoint.distribution).
            origin_request_policy_id=cloudfront.OriginRequestPolicy.ALL_VIEWER.origin_request_policy_id,
            compress=False,
        ),
        viewer_certificate=viewer_certificate,
    )


def _acknowledge(distribution: cloudfront.CfnDistribution, *, has_certificate: bool) -> None:
    acknowledged = [
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-CFR1",
            reason="Tracking links are opened by recipients anywhere in the world; a geo restriction would "
            "drop their opens and clicks, and the senders' audiences are not known to the construct",
        ),
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-CFR2",
            reason="The distribution only forwards GET and HEAD to SES's redirect host and caches nothing; "
            "attach a WAF web ACL of your own through the distribution if your policy requires one",
        ),
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-CFR3",
            reason="SES records every open and click as an event; connect CloudFront's standard logging to the "
            "distribution if your policy requires access logs",
        ),
    ]
    if not has_certificate:
        acknowledged.append(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-CFR4",
                reason="A tenant-only distribution has no domain of its own, so its default certificate is never "
                "presented: each tenant presents its own certificate. Pass the endpoint a certificate to set the "
                "distribution's security policy to TLSv1.2_2021",
            )
        )
    for acknowledgment in acknowledged:
        Validations.of(distribution).acknowledge(acknowledgment)


def distribution_tenant(
    scope: Construct, endpoint: ISharedTrackingEndpoint, domain: str, certificate: acm.ICertificate | None
) -> cloudfront.CfnDistributionTenant:
    """The tenant of `domain` on the endpoint, with the given certificate or one CloudFront manages."""
    stack = Stack.of(scope)
    check_partition(stack, "shared_endpoint")
    _check_region(stack, endpoint)
    _check_tenant_domain(domain, managed_certificate=certificate is None)
    if certificate is not None:
        check_certificate_region(scope, domain, certificate, prop="shared_endpoint")
    _count_tenant(endpoint)
    partition_rule(stack)
    return cloudfront.CfnDistributionTenant(
        scope,
        "Tenant",
        distribution_id=endpoint.distribution_id,
        connection_group_id=endpoint.connection_group_id,
        name=_tenant_name(scope, domain),
        domains=[domain],
        enabled=True,
        customizations=(
            cloudfront.CfnDistributionTenant.CustomizationsProperty(
                certificate=cloudfront.CfnDistributionTenant.CertificateProperty(arn=certificate.certificate_arn)
            )
            if certificate is not None
            else None
        ),
        # CloudFront serves the HTTP validation token itself once the domain points at the routing endpoint. The
        # other host, "self-hosted", would need the token on the domain's current server: SES's redirect host.
        managed_certificate_request=(
            cloudfront.CfnDistributionTenant.ManagedCertificateRequestProperty(
                validation_token_host="cloudfront"  # noqa: S106 (a host's name, not a secret)
            )
            if certificate is None
            else None
        ),
    )


def _check_region(stack: Stack, endpoint: ISharedTrackingEndpoint) -> None:
    here = region_of(stack)
    fronted = None if Token.is_unresolved(endpoint.region) else endpoint.region
    if here is not None and fronted is not None and here != fronted:
        msg = (
            f"shared_endpoint fronts SES's redirect host of {fronted} (r.{fronted}.awstrack.me), and this stack is "
            f"in {here}: a region's redirect host knows only that region's tracking domains. Use a "
            f"SharedTrackingEndpoint made in a {here} stack"
        )
        raise ValueError(msg)


def _check_tenant_domain(domain: str, *, managed_certificate: bool) -> None:
    # After TrackingOptions' own check, a domain that is not a hostname is a token, known only at deploy.
    if not is_hostname(domain):
        return
    if domain != domain.lower():
        msg = (
            f"custom_redirect_domain {domain!r} has upper-case letters, and CloudFront takes a tenant's domains in "
            f"lower case only: pass {domain.lower()!r}"
        )
        raise ValueError(msg)
    if managed_certificate and len(domain) > MANAGED_CERTIFICATE_DOMAIN_LENGTH:
        msg = (
            f"custom_redirect_domain {domain!r} has {len(domain)} characters, and the certificate CloudFront would "
            f"request for it (ACM) takes at most {MANAGED_CERTIFICATE_DOMAIN_LENGTH}: pass a certificate that "
            "covers it, or use a shorter domain"
        )
        raise ValueError(msg)


def _count_tenant(endpoint: ISharedTrackingEndpoint) -> None:
    count = _TENANTS.get(endpoint, 0) + 1
    if count > endpoint.max_tenants:
        msg = (
            f"shared_endpoint would hold {count} distribution tenants, more than max_tenants "
            f"({endpoint.max_tenants}; CloudFront's default quota is {DISTRIBUTION_TENANTS_PER_ACCOUNT:,} per "
            "account): raise the account's quota and pass it as max_tenants"
        )
        raise ValueError(msg)
    _TENANTS[endpoint] = count


def _tenant_name(scope: Construct, domain: str) -> str:
    """The domain itself (unique in the account: a domain is on one tenant at most), or a name from the construct's
    path when the domain is a token or too long for a tenant's name."""
    if is_hostname(domain) and len(domain) <= _TENANT_NAME_LENGTH:
        return domain
    return Names.unique_resource_name(scope, max_length=_TENANT_NAME_LENGTH, separator="-")
