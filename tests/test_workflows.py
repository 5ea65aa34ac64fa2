"""Security audit of the GitHub Actions workflows (.github/workflows/) with zizmor.

zizmor (pinned in requirements.txt) runs offline over every workflow; a finding of medium
severity or above (an action not pinned to a commit SHA, a token left in .git/config that an
artifact could carry, broad permissions, ...) fails the test, which prints the findings.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted(p for p in (ROOT / ".github" / "workflows").glob("*") if p.suffix in (".yml", ".yaml"))
BLOCKING = {"medium", "high"}  # zizmor's severities: informational, low, medium, high
PINNED_USES = re.compile(r"^\s*(-\s+)?uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40}\s+#\s+v\d+(\.\d+)*\s*$")

BAD_WORKFLOW = """\
name: bad
on: push
permissions: {}
jobs:
  build:
    name: build
    runs-on: ubuntu-latest
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@v4
      - run: echo hello
"""


def zizmor_executable() -> str:
    """The zizmor installed with this Python's packages (requirements.txt), else from PATH."""
    local = Path(sysconfig.get_path("scripts")) / "zizmor"
    found = str(local) if local.exists() else shutil.which("zizmor")
    if found is None:
        pytest.fail("zizmor is not installed: it is in requirements.txt, so run `make setup` "
                    "(or `.venv/bin/pip install -r requirements.txt`).")
    return found


def audit(path: Path) -> list[dict]:
    """zizmor's findings for one workflow file, offline, as its JSON (v1) records."""
    cmd = [zizmor_executable(), "--offline", "--no-progress", "--no-exit-codes",
           "--format", "json", str(path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"zizmor failed on {path} (exit {run.returncode}):\n{run.stderr}"
    return json.loads(run.stdout)


def describe(finding: dict) -> str:
    """One line per finding: rule, severity, confidence, place and what zizmor says."""
    det = finding["determinations"]
    where = []
    for loc in finding["locations"]:
        if loc["symbolic"].get("kind") not in (None, "Primary"):
            continue  # the primary location says what is wrong; the others only give context
        path = loc["symbolic"]["key"].get("Local", {}).get("verbatim_path", "?")
        row = loc["concrete"]["location"]["start_point"]["row"] + 1
        feature = loc["concrete"]["feature"].strip().splitlines()[0]
        where.append(f"{Path(path).name}:{row} `{feature}` ({loc['symbolic']['annotation']})")
    return (f"{finding['ident']} [{det['severity']}, confidence {det['confidence']}]: "
            f"{finding['desc']} at {'; '.join(where)} -> {finding['url']}")


def blocking(findings: list[dict]) -> list[dict]:
    """The findings of medium severity or above."""
    return [f for f in findings if f["determinations"]["severity"].lower() in BLOCKING]


def test_there_are_workflows_to_audit():
    assert WORKFLOWS, "no workflow found in .github/workflows/"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_zizmor_finds_nothing_of_medium_severity_or_above(workflow, capsys):
    findings = audit(workflow)
    with capsys.disabled():
        print(f"\nzizmor on {workflow.relative_to(ROOT)}: {len(findings)} finding(s)")
        for finding in findings:
            print("  " + describe(finding))
    bad = blocking(findings)
    assert not bad, ("zizmor findings of medium severity or above (fix them; README, "
                     "'Publishing', says how to update the action pins):\n"
                     + "\n".join(describe(f) for f in bad))


def test_the_audit_catches_an_unpinned_action_with_persisted_credentials(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    found = {f["ident"] for f in blocking(audit(bad))}
    assert {"unpinned-uses", "artipacked"} <= found, found

    fixed = tmp_path / "fixed.yml"
    fixed.write_text(BAD_WORKFLOW.replace(
        "      - uses: actions/checkout@v4\n",
        "      - uses: actions/checkout@11d5960a326750d5838078e36cf38b85af677262  # v4.4.0\n"
        "        with:\n          persist-credentials: false\n"))
    assert blocking(audit(fixed)) == []


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_with_its_version_in_a_comment(workflow):
    lines = [line for line in workflow.read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    loose = [line.strip() for line in lines if not PINNED_USES.match(line)]
    assert not loose, ("pin each action to a full commit SHA followed by `# vX.Y.Z` "
                       f"(README, 'Publishing'): {loose}")


def test_the_site_is_built_with_the_real_weights_and_least_privilege():
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    assert flow["env"]["RESNETBOOK_WEIGHTS"] == "pretrained", \
        "the published site must use the pretrained weights or fail, never stand-ins"
    assert flow["permissions"] in ({}, {"contents": "read"})
    writers = {name for name, job in flow["jobs"].items()
               if "write" in (job.get("permissions") or {}).values()}
    assert writers == {"deploy"}
    assert flow["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
