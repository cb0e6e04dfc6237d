"""Every code block in the README runs: Python blocks are synthesized inside a stack, shell blocks name
make targets that exist, the distribution that pyproject.toml builds and CDK CLI commands that exist, Logs
Insights queries are ones tests/logs_insights.py evaluates."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ses as ses

from cdk_ses_tracking_options import TrackingOptions
from tests import logs_insights

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", README, flags=re.DOTALL | re.MULTILINE)
PYTHON = [code for language, code in BLOCKS if language == "python"]
SHELL = [code for language, code in BLOCKS if language == "sh"]
CDK_COMMANDS = {"bootstrap", "synth", "diff", "deploy", "destroy", "ls"}


def test_the_readme_has_examples_to_run() -> None:
    assert len(PYTHON) >= 5
    assert len(SHELL) >= 4
    assert {language for language, _ in BLOCKS} <= {"python", "sh", "mermaid", logs_insights.LANGUAGE}


@pytest.mark.parametrize("query", logs_insights.readme_queries())
def test_each_logs_insights_query_is_one_the_evaluator_runs(query: str) -> None:
    # The query is run on the function's own lines in tests/test_artifact.py.
    assert logs_insights.Query.parse(query).fields


@pytest.mark.parametrize(
    "query",
    [
        "fields level | stats count(*) by level",
        'fields level | filter message like "FAILED"',
        'fields level | filter level = "WARNING" or level = "ERROR"',
        "fields level | filter level in [1, 2]",
        'filter level = "WARNING"',
    ],
)
def test_fails_a_query_the_evaluator_cannot_check(query: str) -> None:
    # So the README cannot show a query that no test has run.
    with pytest.raises(ValueError, match=r"not a|without"):
        logs_insights.Query.parse(query)


@pytest.mark.parametrize("code", PYTHON, ids=[f"python-{n}" for n in range(len(PYTHON))])
def test_each_python_block_synthesizes_inside_a_stack(code: str, tmp_path: Path) -> None:
    # GIVEN the README's stated context: `self` a stack (in us-east-1), the first example's imports, `marketing`
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Readme", env=cdk.Environment(account="123456789012", region="us-east-1"))
    namespace = {
        "self": stack,
        "ses": ses,
        "TrackingOptions": TrackingOptions,
        "marketing": ses.ConfigurationSet.from_configuration_set_name(stack, "ReadmeMarketing", "marketing"),
    }
    # WHEN the block runs and the app synthesizes
    exec(compile(code, "README.md", "exec"), namespace)
    template = app.synth().get_stack_by_name("Readme").template
    # THEN it declared at least one tracking-options resource
    assert any(r["Type"] == "Custom::SesTrackingOptions" for r in template["Resources"].values())


def _commands() -> list[list[str]]:
    lines = (line.split("#", 1)[0].strip() for code in SHELL for line in code.splitlines())
    return [shlex.split(line) for line in lines if line]


def test_each_make_target_in_the_readme_exists() -> None:
    targets = {words[1] for words in _commands() if words[0] == "make"}
    assert {"synth", "test", "deploy", "integ"} <= targets
    for target in targets:
        dry = subprocess.run(
            ["make", "-n", target, "DOMAIN=example.com"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert dry.returncode == 0, f"make {target}: {dry.stderr}"


def test_pip_install_names_the_distribution_pyproject_builds() -> None:
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    installs = [words[2:] for words in _commands() if words[:2] == ["pip", "install"]]
    assert installs
    assert all(names == [name] for names in installs)


def test_each_cdk_command_in_the_readme_is_one_the_cli_has() -> None:
    used = {words[2] for words in _commands() if words[:2] == ["npx", "cdk"]}
    assert used
    assert used <= CDK_COMMANDS
