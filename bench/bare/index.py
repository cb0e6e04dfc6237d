"""The baseline: a bare handler making the same SES call with nothing but boto3 and the standard library."""

import json
import urllib.request

import boto3

ses = boto3.client("ses")


def handler(event, context):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201
    props = event["ResourceProperties"]
    status, reason = "SUCCESS", ""
    try:
        ses.create_configuration_set_tracking_options(
            ConfigurationSetName=props["ConfigurationSetName"],
            TrackingOptions={"CustomRedirectDomain": props["CustomRedirectDomain"]},
        )
    except Exception as error:
        status, reason = "FAILED", str(error)[:200]
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason,
            "PhysicalResourceId": props["ConfigurationSetName"],
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - the event's https ResponseURL
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310
        pass
