"""Pure functions: read the custom resource's properties. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidPropertyError
from .names import MAX_DOMAIN_LENGTH, MAX_SET_NAME_LENGTH, is_set_name, labels_are_valid

__all__ = ["HTTPS_POLICIES", "TrackingProps", "parse_properties"]

HTTPS_POLICIES = ("REQUIRE", "REQUIRE_OPEN_ONLY", "OPTIONAL")
# CloudFormation adds these to every custom resource's properties.
_FRAMEWORK_KEYS = frozenset({"ServiceToken", "ServiceTimeout"})
_KNOWN_KEYS = frozenset({"ConfigurationSetName", "CustomRedirectDomain", "HttpsPolicy", "AdoptExisting"})
# CloudFormation sends booleans as these strings.
_BOOLEANS = {"true": True, "false": False}


@dataclass(frozen=True)
class TrackingProps:
    """What one TrackingOptions resource asks for."""

    configuration_set_name: str
    custom_redirect_domain: str
    https_policy: str | None = None
    # Take over options the set already has, and give them back as found on Delete.
    adopt_existing: bool = False

    def matches(self, domain: str | None, policy: str | None) -> bool:
        """True when SES already holds exactly these options (policy omitted means SES's OPTIONAL)."""
        if domain is None or domain.lower() != self.custom_redirect_domain.lower():
            return False
        return (policy or "OPTIONAL") == (self.https_policy or "OPTIONAL")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _string(props: Mapping[str, Any], key: str) -> str:
    if key not in props:
        raise InvalidPropertyError(f"{key} is missing: the TrackingOptions construct always sets it")
    value = props[key]
    if not isinstance(value, str):
        raise InvalidPropertyError(f"{key} must be a string, got {type(value).__name__} {_show(value)}")
    if not value:
        raise InvalidPropertyError(f"{key} is empty")
    if value != value.strip():
        raise InvalidPropertyError(f"{key} {_show(value)} has leading or trailing white space")
    return value


def validate_set_name(name: str) -> str:
    """Return name if SES accepts it as a configuration set name."""
    if len(name) > MAX_SET_NAME_LENGTH:
        raise InvalidPropertyError(
            f"ConfigurationSetName {_show(name)} is {len(name)} characters long; SES allows {MAX_SET_NAME_LENGTH}"
        )
    if not is_set_name(name):
        raise InvalidPropertyError(
            f"ConfigurationSetName {_show(name)} is not valid: use only letters, digits, '_' and '-'"
        )
    return name


def validate_domain(domain: str) -> str:
    """Return domain if it is a hostname SES can use as a custom redirect domain."""
    key = "CustomRedirectDomain"
    if not domain.isascii():
        raise InvalidPropertyError(f"{key} {_show(domain)} is not ASCII: give the punycode (xn--) form")
    if len(domain) > MAX_DOMAIN_LENGTH:
        raise InvalidPropertyError(
            f"{key} is {len(domain)} characters long; a hostname has at most {MAX_DOMAIN_LENGTH}"
        )
    if not labels_are_valid(domain):
        raise InvalidPropertyError(f"{key} {_show(domain)} is not a hostname such as click.example.com")
    return domain


def parse_properties(props: object) -> TrackingProps:
    """Validate ResourceProperties before anything reaches SES; every value arrives as a string."""
    if not isinstance(props, Mapping):
        raise InvalidPropertyError(f"ResourceProperties must be a map, got {type(props).__name__}")
    unknown = sorted(str(key) for key in props if key not in _KNOWN_KEYS | _FRAMEWORK_KEYS)
    if unknown:
        raise InvalidPropertyError(f"unknown propert{'y' if len(unknown) == 1 else 'ies'}: {', '.join(unknown)[:80]}")
    name = validate_set_name(_string(props, "ConfigurationSetName"))
    domain = validate_domain(_string(props, "CustomRedirectDomain"))
    policy: str | None = None
    if "HttpsPolicy" in props:
        policy = _string(props, "HttpsPolicy")
        if policy not in HTTPS_POLICIES:
            raise InvalidPropertyError(f"HttpsPolicy {_show(policy)} is not one of {', '.join(HTTPS_POLICIES)}")
    adopt = False
    if "AdoptExisting" in props:
        flag = _string(props, "AdoptExisting")
        if flag not in _BOOLEANS:
            raise InvalidPropertyError(f"AdoptExisting {_show(flag)} is not 'true' or 'false'")
        adopt = _BOOLEANS[flag]
    return TrackingProps(name, domain, policy, adopt)
