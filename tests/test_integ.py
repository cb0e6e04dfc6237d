"""The integration test in CDK's form, offline: the integ app synthesizes to exactly the committed snapshot,
and asserts what matters through SES v2 GetConfigurationSet."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.integ_snapshot import SNAPSHOT, read, synthesize


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synthesize(tmp_path_factory.mktemp("integ"))


def _lines(content: Any) -> list[str]:
    return json.dumps(content, indent=1, sort_keys=True).splitlines()


def test_the_integ_app_matches_its_committed_snapshot(synthesized: dict[str, Any]) -> None:
    committed = read(SNAPSHOT)
    assert sorted(synthesized) == sorted(committed), "files added or gone: run `make integ-snapshot` and review"
    for name, content in committed.items():
        diff = "\n".join(difflib.unified_diff(_lines(content), _lines(synthesized[name]), name, "synthesized", n=2))
        assert not diff, f"{name} differs from the snapshot; if intended, run `make integ-snapshot`:\n{diff[:3000]}"


def test_the_integ_app_deploys_the_construct_and_an_assertion_on_ses(synthesized: dict[str, Any]) -> None:
    integ = synthesized["integ.json"]
    (case,) = integ["testCases"].values()
    assert case["stacks"] == ["SesTrackingOptionsInteg"]
    tested = synthesized["SesTrackingOptionsInteg.template.json"]["Resources"]
    (tracking,) = [r for r in tested.values() if r["Type"] == "Custom::SesTrackingOptions"]
    assert tracking["Properties"]["CustomRedirectDomain"] == "click.example.com"
    assert tracking["Properties"]["HttpsPolicy"] == "REQUIRE_OPEN_ONLY"
    assertions = synthesized[f"{case['assertionStackName']}.template.json"]["Resources"]
    calls = [r for r in assertions.values() if r["Type"] == "Custom::DeployAssert@SdkCallSESV2getConfigurationSet"]
    assert len(calls) == 1
    expected = json.loads(calls[0]["Properties"]["expected"])
    assert expected["$ObjectLike"] == {
        "TrackingOptions": {"CustomRedirectDomain": "click.example.com", "HttpsPolicy": "REQUIRE_OPEN_ONLY"}
    }


def test_the_snapshot_names_no_local_path() -> None:
    for path in Path(SNAPSHOT).iterdir():
        text = path.read_text()
        assert "/tmp/" not in text
        assert str(Path.home()) + "/" not in text
