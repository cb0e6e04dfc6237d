"""CDK constructs for Amazon SES configuration set tracking options."""

from ._shared_endpoint import ISharedTrackingEndpoint, SharedTrackingEndpoint
from .tracking_options import TrackingOptions

__all__ = ["ISharedTrackingEndpoint", "SharedTrackingEndpoint", "TrackingOptions"]
