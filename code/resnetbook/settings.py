"""The book's settings, read from the environment in one place and validated (all chapters).

Every ``RESNETBOOK_*`` variable the package obeys, and tqdm's ``TQDM_DISABLE``, is parsed
here into one frozen :class:`Settings` (as MyST-NB gathers its options in ``NbParserConfig``);
the other modules ask :func:`current` and never read ``os.environ`` themselves. A bad value
raises :class:`SettingsError`, which names the variable and the values it takes.

``current()`` looks the variables up on each call, so a notebook that sets one mid-way is
obeyed, but parses and validates each combination of values only once.
:meth:`Settings.execution_key` is what ``scripts/cache_key.py`` hashes: every setting
that can change what an executed chapter prints.
"""

from __future__ import annotations

import functools
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

WEIGHTS_VAR = "RESNETBOOK_WEIGHTS"
MIRROR_VAR = "RESNETBOOK_MIRROR"
DATA_VAR = "RESNETBOOK_DATA"
DEVICE_VAR = "RESNETBOOK_DEVICE"
BF16_VAR = "RESNETBOOK_BF16"
PROGRESS_VAR = "TQDM_DISABLE"  # tqdm's own variable: the package passes it on to notebook bars
WEIGHTS_MODES = ("auto", "pretrained", "standin")
DEVICE_PATTERN = re.compile(r"cpu|(cuda|mps|xpu)(:\d+)?")


class SettingsError(ValueError):
    """An environment variable holds a value the book does not accept."""


def _invalid(var: str, value: str, allowed: str) -> SettingsError:
    return SettingsError(f"{var} must be {allowed}, got {value!r}: set it to one of these, or unset it.")


def _weights(value: str) -> str:
    mode = value.strip().lower() or "auto"
    if mode not in WEIGHTS_MODES:
        raise _invalid(WEIGHTS_VAR, value, f"one of {', '.join(WEIGHTS_MODES)} (default auto)")
    return mode


def _mirror(value: str) -> str | None:
    base = value.strip()
    if not base:
        return None
    if urllib.parse.urlsplit(base).scheme not in ("http", "https", "file"):
        raise _invalid(MIRROR_VAR, value, "an http(s):// or file:// URL of a folder with a SHA256SUMS file")
    return base.rstrip("/") + "/"


def _data(value: str) -> Path | None:
    return Path(value.strip()).expanduser() if value.strip() else None


def _device(value: str) -> str | None:
    device = value.strip().lower()
    if device and not DEVICE_PATTERN.fullmatch(device):
        raise _invalid(DEVICE_VAR, value, "a torch device: cpu, cuda, cuda:N, mps or xpu")
    return device or None


def _bf16(value: str) -> bool | None:
    if value.strip() not in ("", "0", "1"):
        raise _invalid(BF16_VAR, value, "0 (never bfloat16) or 1 (bfloat16 wherever autocast runs)")
    return None if not value.strip() else value.strip() == "1"


def _progress_off(value: str) -> bool:
    return value.strip().lower() not in ("", "0", "false")  # tqdm's own reading of TQDM_DISABLE


def _setting(var: str, parse, affects_execution: bool = True):
    """A field of :class:`Settings` read from ``var`` by ``parse``."""
    return field(default=parse(""), metadata={"var": var, "parse": parse, "execution": affects_execution})


@dataclass(frozen=True)
class Settings:
    """What the environment asks of the package; the defaults are what an unset variable means."""

    weights: str = _setting(WEIGHTS_VAR, _weights)  # auto | pretrained | standin (resnetbook.fallback)
    mirror: str | None = _setting(MIRROR_VAR, _mirror)  # a mirror of the online files (resnetbook.remote)
    # Where FashionMNIST is cached; the files are checked by md5, so it changes no result.
    data_root: Path | None = _setting(DATA_VAR, _data, affects_execution=False)
    device: str | None = _setting(DEVICE_VAR, _device)  # forces a device (resnetbook.device)
    bf16: bool | None = _setting(BF16_VAR, _bf16)  # forces bfloat16 on or off (resnetbook.precision)
    progress_off: bool = _setting(PROGRESS_VAR, _progress_off)  # no progress bars (resnetbook.progress)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        """Parse and validate the variables of ``environ``; SettingsError names a bad one."""
        return _parse(tuple(environ.get(f.metadata["var"], "") for f in fields(cls)))

    def execution_key(self) -> str:
        """The settings that can change what an executed chapter prints, as one line to hash."""
        return ";".join(f"{f.metadata['var']}={getattr(self, f.name)!s}" for f in fields(self)
                        if f.metadata["execution"])


@functools.lru_cache(maxsize=16)
def _parse(values: tuple[str, ...]) -> Settings:
    return Settings(**{f.name: f.metadata["parse"](value) for f, value in zip(fields(Settings), values)})


def runtime_variable(name: str) -> str | None:
    """A variable that the notebook's runtime or the tests set, not a book setting (the hand-in:
    ``COLAB_RELEASE_TAG``, ``JPY_SESSION_NAME``, ``RESNETBOOK_CHROMIUM``); it changes no result."""
    return os.environ.get(name)


def current() -> Settings:
    """The settings of this process, from its environment (every module of the package)."""
    return Settings.from_environ(os.environ)
