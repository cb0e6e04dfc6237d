"""CDK constructs for Amazon SES configuration set tracking options."""

from .tracking_options import TrackingOptions

__all__ = ["TrackingOptions"]
