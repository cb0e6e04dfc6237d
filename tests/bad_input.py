"""Invalid resource properties, each with the start of the reason the provider must give."""

from __future__ import annotations

from typing import Any

import pytest

# CloudFormation shows reasons shorter than this.
MAX_REASON = 256


def props(name: Any = "marketing", domain: Any = "click.example.com", policy: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"ConfigurationSetName": name, "CustomRedirectDomain": domain}
    if policy is not None:
        found["HttpsPolicy"] = policy
    return found


BAD_INPUT = [
    pytest.param({}, "ConfigurationSetName is missing", id="empty-properties"),
    pytest.param({"CustomRedirectDomain": "click.example.com"}, "ConfigurationSetName is missing", id="no-set"),
    pytest.param({"ConfigurationSetName": "marketing"}, "CustomRedirectDomain is missing", id="no-domain"),
    pytest.param(props(name=""), "ConfigurationSetName is empty", id="empty-set"),
    pytest.param(props(domain=""), "CustomRedirectDomain is empty", id="empty-domain"),
    pytest.param(props(name=["marketing"]), "ConfigurationSetName must be a string, got list", id="list-set"),
    pytest.param(props(domain={"a": "b"}), "CustomRedirectDomain must be a string, got dict", id="map-domain"),
    pytest.param(props(name="m" * 65), "ConfigurationSetName 'mmmmmmmmm", id="set-too-long"),
    pytest.param(props(name="../marketing"), "ConfigurationSetName '../marketing' is not valid", id="path-set"),
    pytest.param(props(name="market ing"), "ConfigurationSetName 'market ing' is not valid", id="space-set"),
    pytest.param(props(domain="click"), "CustomRedirectDomain 'click' is not a hostname", id="one-label"),
    pytest.param(
        props(domain="https://click.example.com"), "CustomRedirectDomain 'https://click.example.com'", id="url"
    ),
    pytest.param(props(domain="click.example.com/x"), "CustomRedirectDomain 'click.example.com/x'", id="path-domain"),
    pytest.param(props(domain="-click.example.com"), "CustomRedirectDomain '-click.example.com'", id="hyphen"),
    pytest.param(props(domain="10.0.0.1"), "CustomRedirectDomain '10.0.0.1' is not a hostname", id="ip"),
    pytest.param(
        props(domain="klick.bücher.example"), "CustomRedirectDomain 'klick.bücher.example' is not ASCII", id="unicode"
    ),
    pytest.param(
        props(domain=("a" * 63 + ".") * 4 + "com"), "CustomRedirectDomain is 259 characters long", id="long-domain"
    ),
    pytest.param(
        props(domain=" click.example.com"), "CustomRedirectDomain ' click.example.com' has leading", id="white-space"
    ),
    pytest.param(
        props(policy="ALWAYS"), "HttpsPolicy 'ALWAYS' is not one of REQUIRE, REQUIRE_OPEN_ONLY, OPTIONAL", id="policy"
    ),
    pytest.param(props(policy="require"), "HttpsPolicy 'require' is not one of", id="policy-case"),
    pytest.param(
        {**props(), "CustomRedirectDomian": "x.example.com"}, "unknown property: CustomRedirectDomian", id="typo"
    ),
    pytest.param({**props(), "AdoptExisting": "yes"}, "AdoptExisting 'yes' is not 'true' or 'false'", id="adopt-flag"),
]
