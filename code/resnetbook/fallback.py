"""The offline-fallback decision, made once for every online loader (chapters 2-4, 6, 7).

``RESNETBOOK_WEIGHTS`` (or a loader's ``mode`` argument) says what a loader of online files
does:

- ``auto`` (default): try the download; if it fails, fall back (the stand-in weights, or the
  page's offline part) and say why on the page;
- ``pretrained``: the download or its error, never a fallback;
- ``standin``: fall back without touching the network.

:func:`online_or_fallback` is that decision; ``resnetbook.weights.load`` and
``resnetbook.hymenoptera.load_online`` call it with what each loads and falls back to.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TypeVar

from resnetbook import settings
from resnetbook.download import DownloadError, UnsafeCheckpointError

ENV_VAR = settings.WEIGHTS_VAR
MODES = settings.WEIGHTS_MODES
LOCAL_PATH = re.compile(r"(?<![:/\w])(?:/[^\s/:]+)+/([^\s/:]+)")  # /a/b/c.pth, not a URL
log = logging.getLogger(__name__)
T = TypeVar("T")


def resolve_mode(mode: str | None = None) -> str:
    """The weights mode: the argument, else ``$RESNETBOOK_WEIGHTS``, else ``auto``."""
    if mode is None:
        return settings.current().weights
    if mode.strip().lower() not in MODES:
        raise ValueError(f"mode must be one of {MODES} (or None: {ENV_VAR}), got {mode!r}")
    return mode.strip().lower()


def cause_for_the_page(err: Exception) -> str:
    """Why a download failed, for the page's note, with the build machine's folders cut to file names."""
    return LOCAL_PATH.sub(r"\1", str(err).rstrip("."))


def online_or_fallback(load: Callable[[], T], fallback: Callable[[str | None], T], mode: str | None = None,
                       advice: Callable[[], str] | None = None, what: str = "online files") -> T:
    """``load()``, or ``fallback(cause)`` as the weights mode decides (every online loader).

    ``cause`` is None when ``standin`` mode asked for the fallback, else why the download
    failed (:func:`cause_for_the_page`). In ``pretrained`` mode the error propagates, with
    ``advice()`` added as a note to a DownloadError.
    """
    mode = resolve_mode(mode)
    if mode == "standin":
        return fallback(None)
    try:
        return load()
    except (DownloadError, UnsafeCheckpointError) as err:
        if mode == "pretrained":
            if advice is not None and isinstance(err, DownloadError):
                err.add_note(advice())
            raise
        cause = cause_for_the_page(err)
        log.info("%s: %s; falling back (%s=pretrained makes this an error)", what, cause, ENV_VAR)
        return fallback(cause)
