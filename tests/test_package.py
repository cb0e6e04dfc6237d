"""The published package: a wheel that carries the handler, installed into a clean virtualenv, used
by an app in another directory with no network beyond the package index and no Docker."""

from __future__ import annotations

import email
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = """
import aws_cdk as cdk
from aws_cdk import aws_ses as ses
from constructs_lib import TrackingOptions

app = cdk.App(outdir="cdk.out")
stack = cdk.Stack(app, "Elsewhere")
shared = ses.ConfigurationSet.from_configuration_set_name(stack, "Shared", "shared")
TrackingOptions(stack, "Tracking", configuration_set=shared, custom_redirect_domain="click.example.com")
app.synth()
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)],
        check=True,
        cwd=out,
    )
    (found,) = out.glob("*.whl")
    return found


def test_the_wheel_carries_the_handler_types_and_metadata(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata_name = next(name for name in names if name.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(archive.read(metadata_name))
    for module in ("index", "errors", "properties", "provider", "ses"):
        assert f"lambda_handler/{module}.py" in names
    assert "constructs_lib/py.typed" in names
    assert not any("tests/" in name or name.endswith(".pyc") for name in names)
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert "Framework :: AWS CDK" in classifiers
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Summary"]
    assert metadata.get_all("Project-URL")
    requires = " ".join(metadata.get_all("Requires-Dist") or [])
    for dependency in ("aws-cdk-lib", "constructs", "boto3", "crhelper"):
        assert dependency in requires


def test_an_app_in_another_directory_synthesizes_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)], check=True
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "app.py").write_text(APP)
    subprocess.run([str(python), "app.py"], check=True, cwd=elsewhere)
    template = json.loads((elsewhere / "cdk.out" / "Elsewhere.template.json").read_text())
    function = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    asset = elsewhere / "cdk.out" / f"asset.{function['Properties']['Code']['S3Key'].removesuffix('.zip')}"
    assert (asset / "lambda_handler" / "index.py").read_text() == (ROOT / "lambda_handler" / "index.py").read_text()
    assert (asset / "crhelper" / "resource_helper.py").is_file()
