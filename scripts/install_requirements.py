"""Install requirements.txt into the book's virtual environment (``make setup``), with uv where it installs.

pip unpacks one wheel after another, and torch's Linux wheel brings its CUDA libraries:
about 6 GB unpacked, which took pip 68.5 s of a cold build's 6 minutes. uv unpacks in
parallel: 25.2 s for the same packages at the same versions (both measured from empty
caches on a 2-core Xeon). uv is installed into the venv by the venv's own pip first.

uv does not read pip's configuration, so this passes it on: the index, extra indexes,
find-links folders and constraint files that ``pip config list`` shows (the machine's
pip.conf and ``PIP_*`` variables, such as the CPU wheel index of the GitHub workflow),
and pip's rule for several indexes (the best version from any of them). Where uv cannot
be installed, pip installs everything, as before.

Usage: python scripts/install_requirements.py VENV_PYTHON REQUIREMENTS
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

UV = "uv==0.13.9"
# pip's setting -> uv's option; each setting may hold several values separated by spaces
OPTIONS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url",
           "find-links": "--find-links", "constraint": "--constraint"}


# where pip reads a setting, from the weakest to the strongest
PRECEDENCE = ("global", "user", "site", ":env:")


def pip_settings(python: str) -> dict[str, list[str]]:
    """The values of pip's index, find-links and constraint settings, from every place pip reads.

    Lists gather every place's values; for the one default index, the strongest place wins.
    """
    listing = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    found = []
    for line in listing.splitlines():  # e.g. global.find-links='/opt/wheels' or :env:.extra-index-url='a b'
        key, _, value = line.partition("=")
        place, _, name = key.rpartition(".")
        if name in OPTIONS and place in PRECEDENCE:
            found.append((PRECEDENCE.index(place), name, " ".join(shlex.split(value)).split()))
    settings: dict[str, list[str]] = {}
    for _, name, values in sorted(found, reverse=True):  # the strongest place first
        for value in values:
            if value not in settings.setdefault(name, []):
                settings[name].append(value)
    return settings


def uv_command(python: str, requirements: str) -> list[str]:
    """``uv pip install`` of ``requirements`` into ``python``'s environment, configured as pip is."""
    uv = str(Path(python).with_name("uv"))
    command = [uv, "pip", "install", "--python", python, "--index-strategy", "unsafe-best-match",
               "-r", requirements]
    for name, values in pip_settings(python).items():
        if name == "index-url":
            values = values[:1]  # one default index: the strongest place's, as in pip
        for value in values:
            command += [OPTIONS[name], value]
    return command


def main() -> int:
    python, requirements = sys.argv[1:3]
    got_uv = subprocess.run([python, "-m", "pip", "install", "-q", UV]).returncode == 0
    if got_uv:
        return subprocess.run(uv_command(python, requirements)).returncode
    print(f"could not install {UV}; installing with pip (slower)", file=sys.stderr)
    subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=False)
    # --no-compile: modules are compiled when first imported, not all of torch's at install time
    return subprocess.run([python, "-m", "pip", "install", "--no-compile", "-r", requirements]).returncode


if __name__ == "__main__":
    sys.exit(main())
