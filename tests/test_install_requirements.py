"""scripts/install_requirements.py: uv installs the venv with the indexes, folders and constraints pip would use."""

from __future__ import annotations

import subprocess
import sys

from support import ROOT

sys.path.append(str(ROOT / "scripts"))  # appended: see test_execute_chapters.py
import install_requirements


def fake_pip_config(monkeypatch, listing: str) -> None:
    def run(command, **kwargs):
        assert command[1:] == ["-m", "pip", "config", "list"], command
        return subprocess.CompletedProcess(command, 0, stdout=listing, stderr="")
    monkeypatch.setattr(install_requirements.subprocess, "run", run)


def test_uv_gets_every_index_folder_and_constraint_that_pip_is_configured_with(monkeypatch):
    # as `pip config list` prints this project's machines' settings, plus a workflow's PIP_* variable
    fake_pip_config(monkeypatch, "\n".join([
        ":env:.extra-index-url='https://download.pytorch.org/whl/cpu'",
        ":env:.find-links='/opt/wheels'",
        "global.cert='/etc/ssl/certs/ca-certificates.crt'",
        "global.constraint='/etc/xdg/pip/constraints.txt'",
        "global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'",
        "global.find-links='/opt/wheels'",
        "global.index-url='https://mirror.example/simple'",
        "user.index-url='https://other.example/simple'",
    ]))
    command = install_requirements.uv_command("/venv/bin/python", "requirements.txt")
    assert command[:4] == ["/venv/bin/uv", "pip", "install", "--python"]
    pairs = list(zip(command, command[1:]))
    assert pairs.count(("--find-links", "/opt/wheels")) == 1  # named twice, passed once
    assert ("--constraint", "/etc/xdg/pip/constraints.txt") in pairs
    for url in ("https://download.pytorch.org/whl/cpu", "file:///opt/pypi/simple", "file:///opt/pypi-more/simple"):
        assert ("--extra-index-url", url) in pairs
    assert command.count("--index-url") == 1  # pip has one default index: the user's beats the global one
    assert ("--index-url", "https://other.example/simple") in pairs
    # several indexes: the best version from any of them, as pip picks (uv's default takes the first index's)
    assert ("--index-strategy", "unsafe-best-match") in pairs
    assert "--cert" not in command and "-r" in command


def test_without_pip_configuration_uv_uses_its_defaults(monkeypatch):
    fake_pip_config(monkeypatch, "")
    command = install_requirements.uv_command("/venv/bin/python", "requirements.txt")
    assert not {"--index-url", "--extra-index-url", "--find-links", "--constraint"} & set(command)
