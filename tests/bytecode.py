"""The bundle's bytecode for Lambda's Python: every module the bundle holds, compiled by CPython 3.14 (Pyodide,
tests/python314.mjs) into the package's _lambda_bytecode/, which the bundler ships beside the sources.

`python -m tests.bytecode` (or `make bytecode`) writes it anew after a change to lambda_handler/ or crhelper's pin;
tests/test_bytecode.py fails until it has been.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cdk_ses_tracking_options import _bundle

ROOT = Path(__file__).resolve().parent.parent
PYTHON314 = Path(__file__).resolve().parent / "python314.mjs"
NODE = ROOT / "node_modules" / ".bin" / "node"
# Where Lambda puts the function's code: the path the code objects name (the importer renames them to the
# module's real path when it loads them, importlib._bootstrap_external._compile_bytecode).
TASK_ROOT = PurePosixPath("/var/task")


@dataclass(frozen=True)
class Compiler:
    version: str
    cache_tag: str
    magic: str


def python314(code: str, host: Path) -> str:
    """What Python code run by CPython 3.14 (tests/python314.mjs) evaluates to, with host mounted at /host."""
    done = subprocess.run(
        [str(NODE), str(PYTHON314), str(host)], input=code, capture_output=True, text=True, check=True, cwd=ROOT
    )
    return done.stdout.strip().splitlines()[-1]


def modules() -> list[tuple[Path, Path]]:
    """Each module the bundle holds: its source, and its path in the bundle."""
    files = [*_bundle._handler_files(), *_bundle._crhelper_files()]  # the bundler's own lists
    return [(source, relative) for source, relative in files if relative.suffix == ".py"]


_COMPILE = """
import importlib.util, json, py_compile, sys

# Checked-hash (PEP 552): valid whatever the zip's modification times, and checked against the source at each
# import, so that a changed module is compiled again rather than run stale.
for relative, compiled in json.loads(JOBS):
    py_compile.compile(
        f"/host/src/{relative}",
        cfile=f"/host/out/{compiled}",
        dfile=f"TASK_ROOT/{relative}",
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )
magic = importlib.util.MAGIC_NUMBER.hex()
json.dumps({"version": sys.version, "cache_tag": sys.implementation.cache_tag, "magic": magic})
"""


def compile_into(directory: Path) -> Compiler:
    """Compile every module with the runtime's Python into directory, laid out as _lambda_bytecode/ is."""
    found = modules()
    jobs = [(relative.as_posix(), _bundle.compiled_name(relative).as_posix()) for _, relative in found]
    with tempfile.TemporaryDirectory() as work:
        host = Path(work)
        for source, relative in found:
            (host / "src" / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, host / "src" / relative)
        code = _COMPILE.replace("JOBS", repr(json.dumps(jobs))).replace("TASK_ROOT", str(TASK_ROOT))
        compiler = Compiler(**json.loads(python314(code, host)))
        shutil.copytree(host / "out", directory, dirs_exist_ok=True)
    if (compiler.cache_tag, compiler.magic) != (_bundle.CACHE_TAG, _bundle.RUNTIME_MAGIC.hex()):
        msg = f"Pyodide's Python is {compiler.cache_tag}, the function's runtime {_bundle.CACHE_TAG}: update pyodide"
        raise RuntimeError(msg)
    return compiler


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        compiler = compile_into(Path(work))
        shutil.rmtree(_bundle.BYTECODE_DIR, ignore_errors=True)
        shutil.copytree(work, _bundle.BYTECODE_DIR)
    count = len(list(_bundle.BYTECODE_DIR.rglob("*.pyc")))
    print(f"{count} modules compiled by Python {compiler.version.split()[0]} into {_bundle.BYTECODE_DIR}")


if __name__ == "__main__":
    main()
