"""The first cell's install leaves Colab's packages as they are, and chapter 3 runs there.

A virtual environment gets Colab's published versions (``colab_pip_freeze_gpu.txt``: IPython
7.34.0, ipykernel 6.17.1, ipywidgets 7.7.1, numpy 2.1.3, protobuf 5.29.6, ...) of the packages
the book's package and a kernel touch (their own dependencies at the versions pip picks: some
of Colab's need Python 3.13, this machine has 3.11). TensorFlow is too heavy to install here: its ``grpcio-status``, which holds
protobuf below 6, stands in for it. torch and torchvision stay this machine's (linked in from
the book's venv, with their CUDA libraries). Then ``pip install`` of the package, as the
first cell runs it, must change none of those versions and print no dependency conflict; and
chapter 3's student notebook, filled in, must run in a kernel of that environment. The
package's ``export`` extra (chapter 7) adds only the ONNX packages.

The venv is kept in ~/.cache/resnetbook (its first build downloads the wheels and takes a few
minutes); without PyPI the test skips, saying so.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import editions
from editions import student_notebook as sn
from notebook_conventions import CELL_TIMEOUT
from support import ROOT

FREEZE = Path(__file__).with_name("colab_pip_freeze_gpu.txt")
# Installed first, at Colab's versions: what the package and a Jupyter kernel import, and
# grpcio-status (TensorFlow's protobuf<6 pin).
PINNED = ["ipython", "ipykernel", "ipywidgets", "numpy", "protobuf", "grpcio-status", "matplotlib", "tqdm",
          "scikit-image", "scipy", "pillow", "nbformat", "jupyter-client", "sympy", "networkx", "filelock", "jinja2",
          "fsspec", "typing-extensions", "packaging", "ml-dtypes", "flatbuffers"]
# This machine's torch 2.14 needs a newer setuptools than Colab's 75.2 (Colab's torch is 2.11).
TORCH_NEEDS = ["setuptools>=77.0.3"]
LINKED = re.compile(r"^(torch|torchvision|functorch|torchgen|triton|nvidia|cuda)([-_.].*)?$")  # this machine's torch
VENV_SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def colab_versions() -> dict[str, str]:
    """Colab's ``name -> version`` (canonical names), without direct URLs and local (+cu) builds."""
    versions = {}
    for line in FREEZE.read_text().splitlines():
        if "==" in line and not line.startswith("#") and "+" not in line:
            name, version = line.split("==", 1)
            versions[canonical(name)] = version.strip()
    return versions


def pip(python: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "pip", *args], capture_output=True, text=True, env=env)


def installed(python: Path, env: dict) -> dict[str, str]:
    listing = pip(python, "list", "--format=json", env=env)
    assert listing.returncode == 0, listing.stderr
    return {canonical(p["name"]): p["version"] for p in json.loads(listing.stdout)}


def torch_link_folder(dest: Path) -> Path:
    """A folder of links to this machine's torch, torchvision and their CUDA packages.

    Their metadata is copied without its RECORD, so no pip in the test venv can uninstall
    them (through the links, from the book's venv).
    """
    dest.mkdir()
    found = {entry.name for entry in VENV_SITE.iterdir() if LINKED.match(entry.name)}
    if not {"torch", "torchvision"} <= found:
        pytest.skip(f"no torch and torchvision in {VENV_SITE} (being reinstalled?)")
    for name in found:
        if name.endswith(".dist-info"):
            shutil.copytree(VENV_SITE / name, dest / name, ignore=shutil.ignore_patterns("RECORD"))
        else:
            (dest / name).symlink_to(VENV_SITE / name)
    return dest


OURS = ["resnetbook", "onnx", "onnx-ir", "onnxruntime", "onnxscript"]  # what a run adds, removed before the next
CACHE = Path.home() / ".cache" / "resnetbook"


def venv_key() -> str:
    """What the pinned venv depends on: Colab's list, the pins, this Python, this machine's torch."""
    torch_info = sorted(p.name for p in VENV_SITE.glob("torch*.dist-info"))
    text = "\n".join([FREEZE.read_text(), repr(PINNED), repr(TORCH_NEEDS), sys.version, repr(torch_info), str(VENV_SITE)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_venv(venv: Path, env: dict) -> None:
    """The venv at Colab's versions of :data:`PINNED`, with this machine's torch linked in."""
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "machine-torch.pth").write_text(str(torch_link_folder(venv / "machine-torch")) + "\n")
    versions = colab_versions()
    done = pip(venv / "bin" / "python", "install", "-q", *[f"{n}=={versions[canonical(n)]}" for n in PINNED],
               *TORCH_NEEDS, env=env)
    if done.returncode != 0:
        shutil.rmtree(venv)
        if re.search(r"No matching distribution|Could not find a version|NewConnectionError|Network is unreachable", done.stderr):
            pytest.skip(f"Colab's versions are not installable here (no PyPI?): {done.stderr.strip()[-300:]}")
        pytest.fail(f"installing Colab's versions failed:\n{done.stderr[-3000:]}")


@pytest.fixture(scope="module")
def colab_env():
    """(python, env): the pinned venv before the package's install.

    Kept in ~/.cache/resnetbook between runs (building it takes minutes); a kept one whose
    pinned versions moved (a failed run) is rebuilt, and what a run added is removed before the next.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    venv = CACHE / f"colab-venv-{venv_key()}"
    python = venv / "bin" / "python"
    if python.exists():
        pip(python, "uninstall", "-y", *OURS, env=env)
        versions, have = colab_versions(), installed(python, env)
        if any(have.get(canonical(n)) != versions[canonical(n)] for n in PINNED) or "torch" not in have:
            shutil.rmtree(venv)
    if not python.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        build_venv(venv, env)
    return python, env


@pytest.mark.slow(seconds=85)  # 55 s of it sets up the environment
def test_first_cell_install_changes_none_of_colabs_packages_and_chapter3_runs(colab_env, tmp_path, monkeypatch):
    python, env = colab_env
    before = installed(python, env)
    colab = colab_versions()
    assert {name: before[name] for name in ("ipython", "ipykernel", "ipywidgets", "numpy", "protobuf")} == {
        name: colab[name] for name in ("ipython", "ipykernel", "ipywidgets", "numpy", "protobuf")}
    code = tmp_path / "code"
    shutil.copytree(ROOT / "code", code, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    start = time.perf_counter()
    done = pip(python, "install", str(code), env=env)  # the first cell: %pip install "resnetbook @ git+..."
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    assert "ERROR" not in done.stderr and "incompatible" not in done.stderr, done.stderr
    after = installed(python, env)
    changed = {name: (version, after.get(name)) for name, version in before.items() if after.get(name) != version}
    assert changed == {}, f"the install changed Colab's packages (before, after): {changed}"
    added = sorted(set(after) - set(before))
    print(f"first cell's install: {seconds:.1f} s; added {added}")
    assert added == ["resnetbook"], f"the install pulled packages Colab does not need: {added}"

    # Chapter 7's export extra adds the ONNX packages and still changes none of Colab's.
    done = pip(python, "install", f"resnetbook[export] @ {code.as_uri()}", env=env)
    assert done.returncode == 0 and "ERROR" not in done.stderr, done.stderr
    with_export = installed(python, env)
    assert {n: v for n, v in with_export.items() if n in after and v != after[n]} == {}
    assert sorted(set(with_export) - set(after)) == ["onnx", "onnx-ir", "onnxruntime", "onnxscript"]

    kernels = tmp_path / "jupyter" / "kernels" / "colab"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab's versions", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    source = nbformat.read(editions.chapters(ROOT)[2], as_version=4)
    notebook = sn.filled(sn.student_notebook(source, 3, "03_batchnorm"), source)
    notebook.cells = [c for c in notebook.cells if not c.id.startswith("handin")]
    NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="colab", resources={"metadata": {"path": str(tmp_path)}}).execute()
    setup = notebook.cells[1]  # the first cell: resnetbook imports now, so it installs nothing
    assert "%pip install" in setup.source and setup.outputs == [], setup.outputs
    checks = [c for c in notebook.cells if "student-check" in c.metadata.get("tags", [])]
    assert checks and all("checks passed" in "".join(o.get("text", "") for o in c.outputs) for c in checks)
