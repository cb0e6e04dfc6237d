"""The published package: one import package named after the distribution, with the handler inside it,
installed into a clean virtualenv beside another library that ships its own `lambda_handler`, and used
by an app in another directory with no network beyond the package index and no Docker."""

from __future__ import annotations

import email
import json
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from cdk_ses_tracking_options._bundle import BYTECODE_DIR

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "cdk_ses_tracking_options"
HANDLER_MODULES = ("index", "entry", "worker", "lifecycle", "ses", "store", "queue", "operation", "helper", "delivery")
APP = """
import aws_cdk as cdk
from aws_cdk import aws_ses as ses
from cdk_ses_tracking_options import TrackingOptions

app = cdk.App(outdir="cdk.out")
stack = cdk.Stack(app, "Elsewhere")
shared = ses.ConfigurationSet.from_configuration_set_name(stack, "Shared", "shared")
TrackingOptions(stack, "Tracking", configuration_set=shared, custom_redirect_domain="click.example.com")
app.synth()
"""
# Another library on the same common layout: a top-level `lambda_handler` package of its own.
NEIGHBOUR_PYPROJECT = """
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "neighbour-cdk-construct"
version = "1.0.0"

[tool.setuptools]
packages = ["lambda_handler"]
"""
NEIGHBOUR_INDEX = "WHOSE = 'neighbour'\n"

# One group: the test workers (pytest-xdist) build the wheel and the virtualenv once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("package")]


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path


def pip_install(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args], check=True)


def site_packages(python: Path) -> Path:
    found = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        check=True,
        text=True,
    )
    return Path(found.stdout.strip())


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """The sdist, and the wheel built from it (so the sdist must hold everything the wheel needs)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], check=True, capture_output=True)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Dist(wheel, sdist)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, dist: Dist) -> tuple[Path, set[str], set[str]]:
    """A fresh virtualenv, then the wheel alone; site-packages before and after it. Its dependencies are the
    development environment's, installed from requirements.txt (`make` pins both): a `.pth` file puts that
    environment's site-packages after the virtualenv's own, where nothing of ours is importable (our editable
    install's finder is a `.pth` of its own, which Python runs only in a site directory), instead of
    installing aws-cdk-lib again, which takes a minute."""
    python = tmp_path_factory.mktemp("venv") / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", str(python.parent.parent)], check=True)
    (site_packages(python) / "dependencies.pth").write_text(f"{site_packages(Path(sys.executable))}\n")
    before = {path.name for path in site_packages(python).iterdir()}
    pip_install(python, "--no-deps", str(dist.wheel))
    after = {path.name for path in site_packages(python).iterdir()}
    return python, before, after


def test_the_wheel_is_one_package_with_the_handler_types_and_metadata(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as archive:
        names = set(archive.namelist())
        metadata_name = next(name for name in names if name.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(archive.read(metadata_name))
        top_level = archive.read(metadata_name.replace("METADATA", "top_level.txt")).decode().split()
    assert top_level == [PACKAGE]
    assert {name.split("/", 1)[0] for name in names} == {PACKAGE, metadata_name.split("/", 1)[0]}
    for module in HANDLER_MODULES:
        assert f"{PACKAGE}/lambda_handler/{module}.py" in names
        assert f"{PACKAGE}/_lambda_bytecode/lambda_handler/{module}.cpython-314.pyc" in names
    assert f"{PACKAGE}/py.typed" in names
    # Bytecode only for the function's runtime, shipped in its bundle; none of the build's own interpreter.
    assert not any("tests/" in name or "__pycache__" in name for name in names)
    assert {name for name in names if name.endswith(".pyc")} == {
        f"{PACKAGE}/_lambda_bytecode/{path.relative_to(BYTECODE_DIR).as_posix()}"
        for path in BYTECODE_DIR.rglob("*.pyc")
    }
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert "Framework :: AWS CDK" in classifiers
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Summary"]
    assert metadata.get_all("Project-URL")
    requires = " ".join(metadata.get_all("Requires-Dist") or [])
    for dependency in ("aws-cdk-lib", "constructs", "boto3", "crhelper"):
        assert dependency in requires


def test_the_sdist_carries_the_handler_as_files_not_links(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as archive:
        members = {member.name.split("/", 1)[1]: member for member in archive.getmembers() if "/" in member.name}
    handler = members[f"constructs_lib/{PACKAGE}/lambda_handler/index.py"]
    assert handler.isfile()
    assert "README.md" in members
    assert "LICENSE" in members


def test_installing_adds_exactly_one_package_and_its_dist_info(venv: tuple[Path, set[str], set[str]]) -> None:
    _, before, after = venv
    added = after - before
    assert len(added) == 2, added
    assert PACKAGE in added
    (dist_info,) = added - {PACKAGE}
    assert dist_info.startswith(f"{PACKAGE}-")
    assert dist_info.endswith(".dist-info")
    assert "lambda_handler" not in after
    assert "constructs_lib" not in after


def test_an_app_elsewhere_synthesizes_beside_another_library_with_its_own_lambda_handler(
    venv: tuple[Path, set[str], set[str]], tmp_path: Path
) -> None:
    python, _, _ = venv
    # GIVEN another distribution with a top-level lambda_handler package, installed after ours
    neighbour = tmp_path / "neighbour"
    (neighbour / "lambda_handler").mkdir(parents=True)
    (neighbour / "pyproject.toml").write_text(NEIGHBOUR_PYPROJECT)
    (neighbour / "lambda_handler" / "__init__.py").write_text("")
    (neighbour / "lambda_handler" / "index.py").write_text(NEIGHBOUR_INDEX)
    pip_install(python, "--no-deps", str(neighbour))
    installed = site_packages(python) / PACKAGE / "lambda_handler" / "index.py"
    # THEN neither shadows the other ...
    assert installed.read_text() == (ROOT / "lambda_handler" / "index.py").read_text()
    whose = subprocess.run(
        [str(python), "-c", "import lambda_handler.index as m; print(m.WHOSE)"],
        capture_output=True,
        check=True,
        text=True,
        cwd=tmp_path,
    )
    assert whose.stdout.strip() == "neighbour"
    # ... and an app in another directory synthesizes with our handler in its asset
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "app.py").write_text(APP)
    subprocess.run([str(python), "app.py"], check=True, cwd=elsewhere)
    template = json.loads((elsewhere / "cdk.out" / "Elsewhere.template.json").read_text())
    function = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    asset = elsewhere / "cdk.out" / f"asset.{function['Properties']['Code']['S3Key'].removesuffix('.zip')}"
    assert (asset / "lambda_handler" / "index.py").read_text() == (ROOT / "lambda_handler" / "index.py").read_text()
    assert (asset / "crhelper" / "resource_helper.py").is_file()
    # ... with the bytecode the wheel carries, for its modules and for crhelper's
    for compiled in ("lambda_handler/__pycache__/index.cpython-314.pyc", "crhelper/__pycache__/utils.cpython-314.pyc"):
        shipped = BYTECODE_DIR / compiled.replace("__pycache__/", "")
        assert (asset / compiled).read_bytes() == shipped.read_bytes()
