"""The integration test's snapshot: the integ app synthesized offline, reduced to the files reviewed
like code (templates, asset manifests, the integ and cloud assembly manifests).

`python -m tests.integ_snapshot` (or `make integ-snapshot`) writes it anew; review the diff before committing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INTEG_APP = ROOT / "tests" / "integ" / "integ.tracking_options.py"
SNAPSHOT = INTEG_APP.parent / f"{INTEG_APP.name}.snapshot"
# Asset directories are named by their hash in these files; metadata and tree carry local paths.
KEPT = ("*.template.json", "*.assets.json", "integ.json", "manifest.json")


def synthesize(outdir: Path) -> dict[str, Any]:
    """Run the integ app as the CLI would, without it; the kept files, parsed, by name."""
    node_bin = ROOT / "node_modules" / ".bin"
    env = {**os.environ, "CDK_OUTDIR": str(outdir), "PATH": f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("CDK_CONTEXT_JSON", None)
    subprocess.run([sys.executable, str(INTEG_APP)], check=True, cwd=ROOT, env=env, capture_output=True)
    return read(outdir)


# Each assertion carries the synthesis time as a salt, so that it runs again on every deploy; the
# assertion stack's template, and so its asset hash, change with it. Every other hash is compared.
SALT = "<synthesis time>"
TEMPLATE_HASH = "<template hash>"


def _without_salt(content: Any) -> Any:
    for resource in (content.get("Resources") or {}).values():
        if str(resource.get("Type", "")).startswith("Custom::DeployAssert@") and "salt" in resource["Properties"]:
            resource["Properties"]["salt"] = SALT
    return content


def _template_hashes(assets: dict[str, Any]) -> set[str]:
    files = assets.get("files") or {}
    return {key for key, entry in files.items() if str(entry["source"].get("path", "")).endswith(".template.json")}


def _normalized(name: str, text: str, salted: set[str]) -> Any:
    for digest in salted:
        text = text.replace(digest, TEMPLATE_HASH)
    content = json.loads(text)
    if name.endswith(".template.json"):
        return _without_salt(content)
    if name.endswith(".assets.json") and TEMPLATE_HASH in content.get("files", {}):
        # The destination's id is a hash of the destination, object key included.
        entry = content["files"][TEMPLATE_HASH]
        (destination,) = entry["destinations"].values()
        entry["destinations"] = {TEMPLATE_HASH: destination}
    return content


def read(directory: Path) -> dict[str, Any]:
    paths = [path for pattern in KEPT for path in sorted(directory.glob(pattern)) if path.is_file()]
    salted = {
        digest
        for path in paths
        if path.name.endswith(".assets.json") and "DeployAssert" in path.name
        for digest in _template_hashes(json.loads(path.read_text()))
    }
    return {path.name: _normalized(path.name, path.read_text(), salted) for path in paths}


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        files = synthesize(Path(directory))
    shutil.rmtree(SNAPSHOT, ignore_errors=True)
    SNAPSHOT.mkdir()
    for name, content in files.items():
        (SNAPSHOT / name).write_text(json.dumps(content, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(files)} files to {SNAPSHOT.relative_to(ROOT)}; review the diff before committing")


if __name__ == "__main__":
    main()
