"""Builds the provider's code at synth time by copying files: no Docker, no network."""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

# The runtime code ships inside this package (in the repository, a link to lambda_handler/).
HANDLER_DIR = Path(__file__).resolve().parent / "lambda_handler"
RUNTIME = lambda_.Runtime.PYTHON_3_14
HANDLER = "lambda_handler.index.handler"
# Copied with the code they belong to: crhelper is Apache-2.0.
_LICENSE_FILES = ("LICENSE", "NOTICE")


def _copy_python_package(files: list[tuple[Path, Path]], output: Path) -> None:
    for source, relative in files:
        target = output / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def _handler_files() -> list[tuple[Path, Path]]:
    if not (HANDLER_DIR / "index.py").is_file():
        msg = f"The provider's code is missing from {HANDLER_DIR}: reinstall the package"
        raise FileNotFoundError(msg)
    return [(path, Path("lambda_handler", path.name)) for path in sorted(HANDLER_DIR.glob("*.py"))]


def _crhelper_files() -> list[tuple[Path, Path]]:
    """crhelper as installed beside aws-cdk-lib: its modules and license, nothing compiled."""
    dist = importlib.metadata.distribution("crhelper")
    files: list[tuple[Path, Path]] = []
    for entry in dist.files or []:
        path = Path(str(entry))
        if path.parts[0] == "crhelper" and path.suffix == ".py":
            files.append((Path(str(dist.locate_file(entry))), path))
        elif path.parts[0].endswith(".dist-info") and path.name in _LICENSE_FILES:
            files.append((Path(str(dist.locate_file(entry))), Path("crhelper", path.name)))
    if not any(relative.name == "resource_helper.py" for _, relative in files):
        msg = "crhelper is installed without its modules; reinstall it"
        raise FileNotFoundError(msg)
    return files


@jsii.implements(ILocalBundling)
class _CopyFiles:
    # jsii passes the bundling options as one positional struct.
    def try_bundle(self, output_dir: str, _options: Any) -> bool:
        output = Path(output_dir)
        _copy_python_package(_handler_files(), output)
        _copy_python_package(_crhelper_files(), output)
        return True


def provider_code() -> lambda_.Code:
    """The handler and crhelper; the asset hash is that of the output, so either changing changes it."""
    return lambda_.Code.from_asset(
        str(HANDLER_DIR),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(image=RUNTIME.bundling_image, local=cast("ILocalBundling", _CopyFiles())),
    )
