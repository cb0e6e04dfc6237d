"""Runtime code of the SES tracking-options provider (runs in AWS Lambda, never imported by CDK apps)."""
