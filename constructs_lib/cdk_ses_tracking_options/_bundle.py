"""Builds the provider's code at synth time by copying files: no Docker, no network."""

from __future__ import annotations

import _imp
import importlib.metadata
import shutil
import sys
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
# The bundle's modules compiled by the runtime's Python (3.14), shipped in this package: /var/task is read-only,
# so without them Lambda compiles every module at every cold start. `make bytecode` writes them.
BYTECODE_DIR = Path(__file__).resolve().parent / "_lambda_bytecode"
CACHE_TAG = "cpython-" + RUNTIME.name.removeprefix("python").replace(".", "")
# Python 3.14's magic number (its importlib.util.MAGIC_NUMBER): it names 3.14's bytecode format, constant across
# its patch releases, and keys the hash of a pyc's source.
RUNTIME_MAGIC = bytes.fromhex("2b0e0d0a")
# PEP 552: a pyc whose flags are 0b11 carries the hash of its source, which the importer checks at each import
# (the default --check-hash-based-pycs): it never depends on the zip's modification times.
_CHECKED_HASH = 0b11
# The importer's own hash of a source (SipHash-1-3 keyed by a magic number; the same in 3.11 to 3.14). It is
# private to CPython: on a Python without it, the bundle ships no bytecode rather than failing the synth.
_source_hash = getattr(_imp, "source_hash", None)


def bytecode_matches(pyc: bytes, source: bytes) -> bool:
    """Whether a pyc is 3.14's checked-hash bytecode of this source. The hash is keyed by 3.14's magic number,
    as its importer keys it (importlib.util.source_hash knows only the running interpreter's)."""
    if len(pyc) < 16 or pyc[:4] != RUNTIME_MAGIC or int.from_bytes(pyc[4:8], "little") != _CHECKED_HASH:
        return False
    return _source_hash is not None and pyc[8:16] == _source_hash(int.from_bytes(RUNTIME_MAGIC, "little"), source)


def compiled_name(relative: Path) -> Path:
    """Where a module's bytecode for the runtime lies in BYTECODE_DIR (its __pycache__ name, in its package)."""
    return relative.parent / f"{relative.stem}.{CACHE_TAG}.pyc"


def _bytecode_of(source: Path, relative: Path) -> tuple[Path, Path] | None:
    """The shipped pyc of one module, and where the importer looks for it; None when the module has none, or
    has changed since it was compiled (the runtime would compile it anyway; a stale pyc is not shipped)."""
    compiled = BYTECODE_DIR / compiled_name(relative)
    if relative.suffix != ".py" or not compiled.is_file():
        return None
    if not bytecode_matches(compiled.read_bytes(), source.read_bytes()):
        return None
    return compiled, relative.parent / "__pycache__" / compiled.name


def _copy_python_package(files: list[tuple[Path, Path]], output: Path) -> list[Path]:
    """Copy the files and their modules' bytecode; the modules shipped without bytecode."""
    uncompiled = []
    for source, relative in files:
        copies = [(source, relative)]
        bytecode = _bytecode_of(source, relative)
        if bytecode is not None:
            copies.append(bytecode)
        elif relative.suffix == ".py":
            uncompiled.append(relative)
        for origin, destination in copies:
            target = output / destination
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(origin, target)
    return uncompiled


def _handler_files() -> list[tuple[Path, Path]]:
    if not (HANDLER_DIR / "index.py").is_file():
        msg = f"The provider's code is missing from {HANDLER_DIR}: reinstall the package"
        raise FileNotFoundError(msg)
    return [(path, Path("lambda_handler", path.name)) for path in sorted(HANDLER_DIR.glob("*.py"))]


def _crhelper_files() -> list[tuple[Path, Path]]:
    """crhelper as installed beside aws-cdk-lib: its modules and license, not its installation's bytecode."""
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
        uncompiled = [*_copy_python_package(_handler_files(), output), *_copy_python_package(_crhelper_files(), output)]
        if uncompiled:
            # Said where CDK says it bundles: the deploy works, each cold start compiles these modules.
            names = ", ".join(path.as_posix() for path in uncompiled)
            sys.stderr.write(
                f"cdk-ses-tracking-options: no bytecode for {RUNTIME.name} matches {names}: the function compiles "
                "them at every cold start (reinstall the package, or in its repository run make bytecode)\n"
            )
        return True


def provider_code() -> lambda_.Code:
    """The handler and crhelper, with their bytecode for the runtime; the asset hash is that of the output, so
    any of them changing changes it."""
    return lambda_.Code.from_asset(
        str(HANDLER_DIR),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(image=RUNTIME.bundling_image, local=cast("ILocalBundling", _CopyFiles())),
    )
