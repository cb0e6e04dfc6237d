"""The bundle ships its modules compiled for Lambda's Python (3.14): /var/task is read-only, so without bytecode
the runtime compiles every module at every cold start (docs/PERFORMANCE.md)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cdk_ses_tracking_options import _bundle
from tests.bytecode import compile_into, modules, python314
from tests.test_construct import synth_asset

# A checked-hash pyc (PEP 552): flags 0b11, then the source's hash.
CHECKED = (0b11).to_bytes(4, "little")


def test_the_bundle_ships_every_module_compiled_for_the_runtime_from_its_own_source(tmp_path: Path) -> None:
    _, asset = synth_asset(tmp_path)
    sources = sorted(asset.rglob("*.py"))
    assert len(sources) == len(modules())
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-314.pyc"
        assert pyc.is_file(), f"no bytecode for {source.relative_to(asset)}: run make bytecode"
        assert _bundle.bytecode_matches(pyc.read_bytes(), source.read_bytes()), (
            f"{pyc.relative_to(asset)} was compiled from another source: run make bytecode"
        )


def test_leaves_out_the_bytecode_of_a_module_changed_since_it_was_compiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a handler whose index.py differs from the one its bytecode was compiled from
    changed = tmp_path / "handler"
    shutil.copytree(_bundle.HANDLER_DIR, changed, ignore=shutil.ignore_patterns("__pycache__"))
    with (changed / "index.py").open("a") as file:
        file.write("# changed\n")
    monkeypatch.setattr(_bundle, "HANDLER_DIR", changed)
    # WHEN it is bundled
    _, asset = synth_asset(tmp_path / "synth")
    # THEN the runtime compiles that module, and takes the others' bytecode; the synth says so
    compiled = asset / "lambda_handler" / "__pycache__"
    assert not (compiled / "index.cpython-314.pyc").exists()
    assert (compiled / "entry.cpython-314.pyc").is_file()
    assert "no bytecode for python3.14 matches lambda_handler/index.py: " in capsys.readouterr().err


def test_ships_no_bytecode_from_a_python_without_the_importers_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a synth on a Python whose private _imp.source_hash is gone
    monkeypatch.setattr(_bundle, "_source_hash", None)
    # WHEN the function is bundled, THEN it still synthesizes, with its sources alone
    _, asset = synth_asset(tmp_path)
    assert len(list(asset.rglob("*.py"))) == len(modules())
    assert not list(asset.rglob("*.pyc"))
    assert "lambda_handler/index.py" in capsys.readouterr().err


def test_a_bundle_whose_modules_all_match_says_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synth_asset(tmp_path)
    assert "no bytecode" not in capsys.readouterr().err


def test_bytecode_matches_only_a_checked_hash_pyc_of_that_very_source() -> None:
    source = (_bundle.HANDLER_DIR / "names.py").read_bytes()
    pyc = (_bundle.BYTECODE_DIR / "lambda_handler" / "names.cpython-314.pyc").read_bytes()
    assert pyc[4:8] == CHECKED
    assert _bundle.bytecode_matches(pyc, source)
    assert not _bundle.bytecode_matches(pyc, source + b"\n")
    # Unchecked-hash (0b01) would run stale bytecode after a change; a timestamp pyc (0) depends on the zip's
    # modification times. Neither is shipped.
    assert not _bundle.bytecode_matches(pyc[:4] + (0b01).to_bytes(4, "little") + pyc[8:], source)
    assert not _bundle.bytecode_matches(pyc[:4] + bytes(4) + pyc[8:], source)
    assert not _bundle.bytecode_matches(pyc[:12], source)
    # The magic number names the bytecode's Python version: another version's is not the runtime's.
    other_version = (int.from_bytes(pyc[:2], "little") - 1).to_bytes(2, "little") + pyc[2:]
    assert not _bundle.bytecode_matches(other_version, source)


def test_the_shipped_bytecode_is_what_python_3_14_compiles_from_the_sources(tmp_path: Path) -> None:
    compiler = compile_into(tmp_path)
    assert compiler.version.startswith("3.14."), compiler.version
    assert compiler.magic == _bundle.RUNTIME_MAGIC.hex()
    fresh = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*.pyc"))
    shipped = sorted(str(path.relative_to(_bundle.BYTECODE_DIR)) for path in _bundle.BYTECODE_DIR.rglob("*.pyc"))
    assert shipped == fresh == sorted(str(_bundle.compiled_name(relative)) for _, relative in modules())
    for name in fresh:
        assert (tmp_path / name).read_bytes() == (_bundle.BYTECODE_DIR / name).read_bytes(), f"{name}: make bytecode"


_IMPORTED_WITHOUT_COMPILING = """
import importlib.machinery, json, pathlib, sys

compiled = []
class Loader(importlib.machinery.SourceFileLoader):
    def source_to_code(self, data, path, *, _optimize=-1):
        compiled.append(path)
        return super().source_to_code(data, path, _optimize=_optimize)

# What the import system does for each module of /var/task (a FileFinder's SourceFileLoader), short of running it:
# the module's code comes from its __pycache__ when the pyc there is valid, and is compiled otherwise.
codes = {}
for source in sorted(pathlib.Path("/host").rglob("*.py")):
    code = Loader(source.stem, str(source)).get_code(source.stem)
    codes[str(source.relative_to("/host"))] = code.co_filename
json.dumps({"version": sys.version, "compiled": compiled, "filenames": codes})
"""


def test_python_3_14_takes_each_modules_code_from_the_bundles_bytecode(tmp_path: Path) -> None:
    _, asset = synth_asset(tmp_path)
    report = json.loads(python314(_IMPORTED_WITHOUT_COMPILING, asset))
    assert report["version"].startswith("3.14."), report["version"]
    assert report["compiled"] == []
    assert len(report["filenames"]) == len(modules())
    # Tracebacks name the module where it is (the importer fixes up the compiled-in /var/task path).
    assert all(filename == f"/host/{name}" for name, filename in report["filenames"].items())
