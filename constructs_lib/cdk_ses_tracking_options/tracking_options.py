"""The TrackingOptions construct."""

from __future__ import annotations

import functools

from aws_cdk import Annotations, Aws, CfnResource, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ses as ses
from constructs import Construct

from ._claims import Claims, Environment, Unique
from ._https_endpoint import alias_records, certificate_for, check_partition, distribution
from ._provider import SERVICE_TIMEOUT_SECONDS, LogSettings, TrackingOptionsProvider
from ._shared_endpoint import ISharedTrackingEndpoint, distribution_tenant
from .lambda_handler.names import is_hostname, is_set_name

__all__ = ["TrackingOptions"]

RESOURCE_TYPE = "Custom::SesTrackingOptions"
_HTTPS_POLICIES = (ses.HttpsPolicy.REQUIRE, ses.HttpsPolicy.REQUIRE_OPEN_ONLY)
# What a TrackingOptions claims in its app (_claims.py).
_SET = "configuration set"
_ENDPOINT = "CloudFront alternate domain name"
_RECORDS = "records in a hosted zone"
_EACH_ITS_OWN = "Give each TrackingOptions its own custom_redirect_domain, such as 'click.<tenant>.example.com'"


def _check_set_name(name: str) -> None:
    # A valid name cannot hold a token's characters, so the cheap check comes first.
    if not is_set_name(name) and not Token.is_unresolved(name):
        msg = f"configuration_set name {name!r} is not one SES accepts: use 1 to 64 letters, digits, '_' or '-'"
        raise ValueError(msg)


def _check_https_policy(policy: object) -> None:
    # Typed as the enum, but a string reaches here from untyped code (and used to fail on `.value`).
    if policy is None or isinstance(policy, ses.HttpsPolicy):
        return
    members = [member.name for member in ses.HttpsPolicy]
    if policy in members:
        hint = f"pass ses.HttpsPolicy.{policy}"
    else:
        hint = "pass one of " + ", ".join(f"ses.HttpsPolicy.{name}" for name in members)
    msg = f"https_policy {policy!r} is not a member of the enum aws_cdk.aws_ses.HttpsPolicy: {hint}"
    raise ValueError(msg)


def _check_domain(domain: str) -> None:
    if not is_hostname(domain) and not Token.is_unresolved(domain):
        msg = (
            f"custom_redirect_domain {domain!r} is not a hostname such as 'click.example.com' "
            "(ASCII letters, digits and '-', labels of 1 to 63 characters, internationalized names in xn-- form)"
        )
        raise ValueError(msg)


def _check_no_options_of_its_own(configuration_set: ses.IConfigurationSet) -> None:
    if not isinstance(configuration_set, ses.ConfigurationSet):
        return
    owned = configuration_set.node.default_child
    if isinstance(owned, ses.CfnConfigurationSet) and owned.tracking_options is not None:
        msg = (
            f"configuration_set {configuration_set.node.path!r} sets tracking options of its own "
            "(ses.ConfigurationSet's custom_tracking_redirect_domain): CloudFormation and this TrackingOptions would "
            "overwrite each other's. Drop custom_tracking_redirect_domain (and custom_tracking_https_policy) from "
            "the ConfigurationSet, or drop this TrackingOptions"
        )
        raise ValueError(msg)


def _zone_name(zone: route53.IHostedZone) -> str | None:
    """The zone's name, or None for a zone imported by id alone (CDK then cannot tell it)."""
    try:
        name = zone.zone_name
    except RuntimeError:
        return None
    return None if Token.is_unresolved(name) else name.rstrip(".")


def _check_in_zone(domain: str, zone: route53.IHostedZone, *, https_endpoint: bool) -> None:
    zone_name = _zone_name(zone)
    # After _check_domain, a domain that is not a hostname is a token, unknown until deploy.
    if zone_name is None or not is_hostname(domain):
        return
    if domain.lower() == zone_name.lower():
        if https_endpoint:
            return  # A and AAAA alias records may sit at the apex.
        # RFC 1034 3.6.2: a CNAME cannot share its name with other records, and the apex has SOA and NS. Route 53
        # refuses one there ("Choosing between alias and non-alias records").
        msg = (
            f"custom_redirect_domain {domain!r} is the apex of hosted_zone {zone_name!r}, where DNS allows no "
            "CNAME: pass https_endpoint=True (A and AAAA alias records to CloudFront, valid at the apex), or use a "
            f"subdomain such as 'click.{zone_name}'"
        )
        raise ValueError(msg)
    if not domain.lower().endswith("." + zone_name.lower()):
        msg = (
            f"custom_redirect_domain {domain!r} is not a subdomain of hosted_zone {zone_name!r}: "
            "pass the zone that holds the domain, or omit hosted_zone and create the CNAME yourself"
        )
        raise ValueError(msg)


def _check_endpoint_props(
    https_endpoint: bool | None,
    shared_endpoint: ISharedTrackingEndpoint | None,
    certificate: acm.ICertificate | None,
    access_log_bucket: s3.IBucket | None,
) -> None:
    if https_endpoint and shared_endpoint is not None:
        msg = (
            "https_endpoint=True and shared_endpoint are two HTTPS endpoints for one domain: pass shared_endpoint "
            "to put the domain on the shared one, or https_endpoint=True for a distribution of its own"
        )
        raise ValueError(msg)
    if shared_endpoint is not None and access_log_bucket is not None:
        msg = (
            "access_log_bucket is used only with https_endpoint=True: the shared endpoint's distribution is not "
            "this TrackingOptions' (connect logging to it where it is made)"
        )
        raise ValueError(msg)
    if not https_endpoint and shared_endpoint is None and (certificate is not None or access_log_bucket is not None):
        msg = (
            "certificate and access_log_bucket are used only with https_endpoint=True (certificate also with "
            "shared_endpoint): pass one, or drop them"
        )
        raise ValueError(msg)


def _set_key(configuration_set: ses.IConfigurationSet, name: str) -> tuple[str, str]:
    """What tells the set apart at synth, and how a message shows it: its name when known, else (a set owned in
    the app and named by CloudFormation) its name's token, the same wherever that set is used."""
    if is_set_name(name):
        return name, repr(name)
    if isinstance(configuration_set, ses.ConfigurationSet):
        # A set owned in the app and given a name: the same set as one imported by that name.
        owned = configuration_set.node.default_child
        if isinstance(owned, ses.CfnConfigurationSet) and owned.name is not None and is_set_name(owned.name):
            return owned.name, repr(owned.name)
    return name, f"{configuration_set.node.path!r} (named at deploy)"


def _unclaimed(
    claims: Claims,
    environment: Environment,
    *,
    configuration_set: ses.IConfigurationSet,
    name: str,
    domain: str,
    hosted_zone: route53.IHostedZone | None,
    https_endpoint: bool,
) -> list[tuple[str, str]]:
    """What a TrackingOptions would own that must have one owner, checked to have none yet in the app."""
    set_key, set_shown = _set_key(configuration_set, name)
    managed = claims.clash(_SET, set_key, environment, Unique.IN_REGION)
    if managed is not None:
        msg = (
            f"configuration_set {set_shown} already has a TrackingOptions, {managed.owner.node.path!r}, in a "
            f"stack that may deploy to the same account and region (this one: {environment}; that one: "
            f"{managed.environment}): SES keeps one set of tracking options per configuration set, so the two "
            "would overwrite each other, with or without adopt_existing. Give each set one TrackingOptions; "
            "if the two stacks deploy to different accounts or regions, give them an env that says so"
        )
        raise ValueError(msg)
    wanted = [(_SET, set_key)]
    domain_key = domain.lower()
    if https_endpoint:
        wanted.append((_ENDPOINT, domain_key))
        served = claims.clash(_ENDPOINT, domain_key, environment, Unique.IN_AWS)
        if served is not None:
            msg = (
                f"custom_redirect_domain {domain!r} already has an HTTPS endpoint, made by TrackingOptions "
                f"{served.owner.node.path!r}: one CloudFront distribution or tenant serves a domain, in all of AWS, "
                f"so the second would fail to deploy (CNAMEAlreadyExists). {_EACH_ITS_OWN}"
            )
            raise ValueError(msg)
    if hosted_zone is not None:
        # Zone ids are unique in all of AWS; one held as a token is the same zone wherever it is used.
        records_key = f"{hosted_zone.hosted_zone_id} {domain_key}"
        wanted.append((_RECORDS, records_key))
        recorded = claims.clash(_RECORDS, records_key, environment, Unique.IN_AWS)
        if recorded is not None:
            msg = (
                f"custom_redirect_domain {domain!r} already has its records in this hosted_zone, made by "
                f"TrackingOptions {recorded.owner.node.path!r}: a second record of the same name in a zone fails "
                f"to deploy. {_EACH_ITS_OWN}"
            )
            raise ValueError(msg)
    return wanted


class TrackingOptions(Construct):
    """Custom open and click tracking domain of an SES configuration set, owned or imported.

    Unlike ``ses.ConfigurationSet``'s own ``custom_tracking_redirect_domain``, this works on any
    configuration set, including one created elsewhere and imported by name. Deleting the
    construct removes the tracking options it created and never touches options it did not create.

    :param scope: the construct's scope.
    :param id_: the construct's id.
    :param configuration_set: the configuration set, defined in this stack or imported with
        ``ConfigurationSet.from_configuration_set_name``.
    :param custom_redirect_domain: the domain that open and click tracking links go through, such as
        ``click.example.com``. It, or a parent domain, must be a verified SES identity, and it must point
        to :attr:`dns_target`.
    :param https_policy: whether tracking links require HTTPS, a member of ``ses.HttpsPolicy`` (its value as a
        string, such as ``"REQUIRE"``, is refused at synth). When omitted, ``REQUIRE`` with ``https_endpoint`` or
        ``shared_endpoint``; otherwise the set keeps SES's default (``OPTIONAL``: open tracking over HTTP, click
        tracking keeps the link's protocol). ``REQUIRE`` and ``REQUIRE_OPEN_ONLY`` need an HTTPS endpoint in
        front of the domain: ``shared_endpoint``, ``https_endpoint``, or one of your own.
    :param removal_policy: what happens to the tracking options when the construct leaves the stack.
        When omitted, they are removed (``RemovalPolicy.DESTROY``, CloudFormation's default).
        ``RETAIN`` leaves them on the set, with what their links need to keep working: the DNS records,
        with ``https_endpoint`` the distribution and the certificate it made, with ``shared_endpoint`` the
        domain's distribution tenant. Not the shared endpoint itself, which is not this construct's: give it
        ``removal_policy=RETAIN`` of its own if retained options must outlive it.
    :param hosted_zone: the Route 53 zone that holds ``custom_redirect_domain``. When given, the
        construct also creates the records from the domain to :attr:`dns_target`: a CNAME (to SES's redirect
        host, or to the shared endpoint's routing endpoint), or with ``https_endpoint`` A and AAAA alias
        records (the only ones allowed when the domain is the zone's apex). When omitted, no DNS record is
        created: point the domain at :attr:`dns_target` wherever its DNS is served.
    :param adopt_existing: whether to take over tracking options the set already has. When true, a
        Create on a set with options switches them to the requested ones in place (never a moment
        without options), and deleting the construct gives the set back the domain and HTTPS policy it
        had, unless someone has changed its domain since. When omitted (false), a Create on a set that
        already has options fails and changes nothing. Do not adopt options that another stack or tool
        still manages: the two would overwrite each other.
    :param https_endpoint: whether to create the HTTPS endpoint for the domain: a CloudFront
        distribution that passes every open and click request to SES's regional redirect host over
        HTTPS (nothing cached, every query string and header kept, the viewer's Host among them, HTTP
        redirected to HTTPS, TLS 1.2 or newer). Only in the ``aws`` partition. When omitted, no endpoint: the
        domain points at SES's redirect host, which serves only HTTP for it.
    :param shared_endpoint: the shared HTTPS endpoint (:class:`SharedTrackingEndpoint`, made in this stack or
        another of the app, or imported) to put the domain on: the construct adds a distribution tenant for it,
        with ``certificate`` or a certificate CloudFront requests and validates over HTTP through the endpoint
        (so the domain must point at :attr:`dns_target` first: with ``hosted_zone`` the CNAME is made before the
        tenant). Only in the ``aws`` partition, and in the endpoint's region. When omitted, no tenant.
    :param certificate: the certificate for ``custom_redirect_domain``, in ``us-east-1`` (CloudFront's
        requirement), used with ``https_endpoint`` or ``shared_endpoint``. When omitted, with
        ``shared_endpoint`` CloudFront manages one; with ``https_endpoint`` a stack in ``us-east-1`` with
        ``hosted_zone`` creates a DNS-validated one, and anywhere else synthesis stops and says how to bring
        one from a ``us-east-1`` stack.
    :param access_log_bucket: where CloudFront writes access logs for ``https_endpoint`` (a bucket with
        ACLs enabled, as CloudFront's standard logs require). When omitted, no access logs are written.
    :param log_group_name: the name of the log group of the provider function, which every TrackingOptions
        in a stack shares: each of them must give the same (or omit it in each), or synthesis stops. When
        omitted, CloudFormation makes a name from the stack's; the stack output ending in ``LogGroupName``
        gives it either way. Changing it replaces the log group: the new one starts empty and the old one is
        kept with its logs. The log group is kept when the stack is deleted (``RemovalPolicy.RETAIN``), so a
        stack deployed again after a delete fails while a log group of its given name still exists: delete the
        log group first, or have it go with the stack through
        ``tracking.log_group.apply_removal_policy(RemovalPolicy.DESTROY)``.
    :param log_retention: how long the function's logs are kept, the same for every TrackingOptions in a
        stack. When omitted, one year (``logs.RetentionDays.ONE_YEAR``).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        configuration_set: ses.IConfigurationSet,
        custom_redirect_domain: str,
        https_policy: ses.HttpsPolicy | None = None,
        removal_policy: RemovalPolicy | None = None,
        hosted_zone: route53.IHostedZone | None = None,
        adopt_existing: bool | None = None,
        https_endpoint: bool | None = None,
        certificate: acm.ICertificate | None = None,
        access_log_bucket: s3.IBucket | None = None,
        shared_endpoint: ISharedTrackingEndpoint | None = None,
        log_group_name: str | None = None,
        log_retention: logs.RetentionDays | None = None,
    ) -> None:
        super().__init__(scope, id_)
        name = configuration_set.configuration_set_name
        _check_set_name(name)
        _check_no_options_of_its_own(configuration_set)
        _check_https_policy(https_policy)
        _check_domain(custom_redirect_domain)
        if hosted_zone is not None:
            _check_in_zone(custom_redirect_domain, hosted_zone, https_endpoint=bool(https_endpoint))
        _check_endpoint_props(https_endpoint, shared_endpoint, certificate, access_log_bucket)
        stack = Stack.of(self)
        if https_endpoint:
            check_partition(stack)
        if https_endpoint or shared_endpoint is not None:
            https_policy = https_policy or ses.HttpsPolicy.REQUIRE
        claims, environment = Claims.of(stack), Environment.of(stack)
        wanted = _unclaimed(
            claims,
            environment,
            configuration_set=configuration_set,
            name=name,
            domain=custom_redirect_domain,
            hosted_zone=hosted_zone,
            https_endpoint=bool(https_endpoint) or shared_endpoint is not None,
        )

        provider = TrackingOptionsProvider.of(self, LogSettings(log_group_name, log_retention), stack=stack)
        self.log_group: logs.LogGroup = provider.log_group
        """The log group of the function, shared by every TrackingOptions in the stack; the stack output
        ``SesTrackingOptionsProviderLogGroupName...`` gives its name."""
        properties = {
            "ServiceToken": provider.function_arn,
            "ServiceTimeout": SERVICE_TIMEOUT_SECONDS,
            "ConfigurationSetName": name,
            "CustomRedirectDomain": custom_redirect_domain,
        }
        if https_policy is not None:
            properties["HttpsPolicy"] = https_policy.value
        if adopt_existing:
            # Only when asked for: templates without it stay as they were.
            properties["AdoptExisting"] = "true"
        self._resource = CfnResource(self, "Resource", type=RESOURCE_TYPE, properties=properties)
        self._resource.node.add_dependency(*provider.used_by_events)
        if removal_policy is not None:
            self._resource.apply_removal_policy(removal_policy)

        self._shared_endpoint = shared_endpoint
        self.distribution: cloudfront.Distribution | None = None
        """The CloudFront distribution, with ``https_endpoint``; otherwise None."""
        if https_endpoint:
            endpoint_certificate = certificate_for(self, custom_redirect_domain, certificate, hosted_zone)
            self.distribution = distribution(self, custom_redirect_domain, endpoint_certificate, access_log_bucket)
            if isinstance(endpoint_certificate, Construct) and certificate is None:
                # Made here: the options need it too, and keep it when retained.
                self._links_need(endpoint_certificate, removal_policy)
            self._links_need(self.distribution, removal_policy)
        self.distribution_tenant: cloudfront.CfnDistributionTenant | None = None
        """The domain's distribution tenant on the shared endpoint, with ``shared_endpoint``; otherwise None."""
        if shared_endpoint is not None:
            self.distribution_tenant = distribution_tenant(self, shared_endpoint, custom_redirect_domain, certificate)
            self._links_need(self.distribution_tenant, removal_policy)
        self.cname_record: route53.CnameRecord | None = None
        """The CNAME record, with ``hosted_zone`` and without ``https_endpoint`` (to the shared endpoint's routing
        endpoint with ``shared_endpoint``, else to SES's redirect host); otherwise None."""
        self.alias_records: tuple[route53.ARecord, route53.AaaaRecord] | None = None
        """The A and AAAA alias records to the distribution, with ``hosted_zone`` and ``https_endpoint``."""
        if hosted_zone is not None:
            self._records(hosted_zone, custom_redirect_domain, https_policy, removal_policy)
        # Claimed once made: a construct that failed half-way claims nothing.
        for kind, key in wanted:
            claims.add(kind, key, self, environment)

    def _records(
        self,
        zone: route53.IHostedZone,
        domain: str,
        https_policy: ses.HttpsPolicy | None,
        removal_policy: RemovalPolicy | None,
    ) -> None:
        # Fully qualified, so that a zone imported by id alone works too; a token stays as given.
        record_name = f"{domain}." if is_hostname(domain) else domain
        if self.distribution is not None:
            self.alias_records = alias_records(self, zone, record_name, self.distribution)
            for record in self.alias_records:
                self._links_need(record, removal_policy)
            return
        if self.distribution_tenant is None and https_policy in _HTTPS_POLICIES:
            Annotations.of(self).add_warning_v2(
                "cdk-ses-tracking-options:cname-without-https",
                "hosted_zone points the domain at SES's redirect host, which has no certificate for it, while "
                f"https_policy is {https_policy.value}: HTTPS tracking links will fail. Pass shared_endpoint or "
                "https_endpoint=True to put CloudFront in front, or point the domain at an endpoint of your own.",
            )
        self.cname_record = route53.CnameRecord(
            self,
            "Cname",
            zone=zone,
            record_name=record_name,
            domain_name=self.dns_target,
            comment="SES open and click tracking",
        )
        if self.distribution_tenant is not None:
            # The managed certificate is validated over HTTP through the endpoint: the domain points there first.
            self.distribution_tenant.node.add_dependency(self.cname_record)
        self._links_need(self.cname_record, removal_policy)

    def _links_need(self, made: Construct, removal_policy: RemovalPolicy | None) -> None:
        """What the links through the domain need: SES switches the set to it only once `made` exists, and
        the options go before it on deletion; retained with them, so that retained options keep working."""
        self._resource.node.add_dependency(made)
        if removal_policy is not None:
            for child in made.node.find_all():
                if isinstance(child, CfnResource):
                    child.apply_removal_policy(removal_policy)

    # Attributes are made on first use: each costs synthesis a call into CDK's JavaScript.
    @functools.cached_property
    def configuration_set_name(self) -> str:
        """The configuration set's name, available once the tracking options exist."""
        return self._resource.get_att("ConfigurationSetName").to_string()

    @functools.cached_property
    def custom_redirect_domain(self) -> str:
        """The custom redirect domain, available once the tracking options exist."""
        return self._resource.get_att("CustomRedirectDomain").to_string()

    @functools.cached_property
    def dns_target(self) -> str:
        """Where ``custom_redirect_domain`` must point: the shared endpoint's routing endpoint with
        ``shared_endpoint`` (a CNAME), the distribution's domain name with ``https_endpoint`` (an alias, or a
        CNAME outside Route 53), otherwise SES's redirect host, :attr:`cname_target`."""
        if self._shared_endpoint is not None:
            return self._shared_endpoint.routing_endpoint
        return self.distribution.distribution_domain_name if self.distribution is not None else self.cname_target

    @functools.cached_property
    def cname_target(self) -> str:
        """SES's redirect host, ``r.<region>.awstrack.me`` (region resolved at deploy time): what the domain's CNAME
        record points to without an HTTPS endpoint, and the origin of both endpoints."""
        return Fn.join("", ["r.", Aws.REGION, ".awstrack.me"])
