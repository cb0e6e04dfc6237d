"""Deploying by the README, as far as this machine can without an AWS account: the make targets run the
pinned CLI, plain `npx cdk` works, and without credentials each stops at once with the CLI's own error."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NO_ACCOUNT = "Unable to resolve AWS account to use"
# A hang guard, not a speed goal: the CLI answers in seconds.
HANG = 180

# One group: the CDK CLI locks the repository's cdk.out, so two test workers must not run it at once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cdk-cli")]


def without_credentials() -> dict[str, str]:
    """No AWS credentials at all, and no look-up of the EC2 metadata service (off this machine)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CDK_"))}
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    return env


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=ROOT,
        env=without_credentials(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )


@pytest.mark.parametrize("target", ["deploy", "diff", "bootstrap"])
def test_without_credentials_make_stops_with_the_clis_own_error(target: str) -> None:
    done = run("make", target)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert NO_ACCOUNT in output or "credentials" in output.lower(), output[-2000:]
    assert "Traceback" not in output


def test_make_integ_destroys_even_when_the_deploy_failed() -> None:
    done = run("make", "integ", "DOMAIN=example.com")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert NO_ACCOUNT in output, output[-2000:]
    # the destroy ran after the failed deploy
    assert "destroy" in output.split(NO_ACCOUNT, 1)[1]
    assert "Traceback" not in output


def test_make_integ_asks_for_the_verified_domain() -> None:
    done = run("make", "integ")
    assert done.returncode == 2
    assert "DOMAIN=" in done.stdout + done.stderr


def test_plain_npx_cdk_synthesizes_the_example_app(tmp_path: Path) -> None:
    done = run("npx", "--no-install", "cdk", "synth", "--quiet", "--output", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    template = json.loads((tmp_path / "SesTrackingOptionsExample.template.json").read_text())
    assert sum(r["Type"] == "Custom::SesTrackingOptions" for r in template["Resources"].values()) == 2
    # the CLI ran on the pinned Node.js, not the machine's end-of-life one
    assert "Node 20 is end-of-life" not in done.stderr
