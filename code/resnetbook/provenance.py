"""The note a page shows after loading weights: which weights, and where they came from (chapters 2-4)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from resnetbook.remote import MIRROR_VAR, RemoteFile


@dataclass(frozen=True)
class WeightsNote:
    """A note box for the page: MyST admonition as markdown, a styled div as HTML."""

    text: str
    title: str = "Weights used on this page"

    def _repr_markdown_(self) -> str:
        return f":::{{note}} {self.title}\n{self.text}\n:::\n"

    def _repr_html_(self) -> str:
        # Sphinx themes style these classes as a note box; Jupyter shows plain text.
        body = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(self.text, quote=False))
        return (f'<div class="admonition note"><p class="admonition-title">{html.escape(self.title)}'
                f"</p><p>{body}</p></div>")

    def __repr__(self) -> str:
        return f"{self.title}: {self.text}"


def short_digest(digest: str) -> str:
    return digest[:8] + "…"


def source_text(published: RemoteFile, used: RemoteFile) -> str:
    """Where a file came from: the publisher's URL, or the mirror and whether it sent the published file."""
    if used.url == published.url:
        return f"{published.url}, sha256 {short_digest(published.sha256)}"
    same = used.sha256.startswith(published.sha256) or published.sha256.startswith(used.sha256)
    match = ("the published file" if same else
             f"not the published file, whose sha256 begins {published.sha256[:8]}")
    return (f"{published.url}, here from the mirror {used.url.rsplit('/', 1)[0]}/ ({MIRROR_VAR}), "
            f"sha256 {short_digest(used.sha256)}: {match}")


def pretrained_text(title: str, dataset: str, publisher: str, published: RemoteFile,
                    used: RemoteFile) -> str:
    """The note on downloaded weights: ``title`` (ResNet-18) trained on ``dataset`` by ``publisher``."""
    return (f"Pretrained weights: {title} trained on {dataset}, published by {publisher} "
            f"({source_text(published, used)}).")


def standin_text(meta: dict, kind: str, layers: int, dataset: str, why: str) -> str:
    """The note on the stand-in, from its json: a ``kind`` with ``layers`` weighted layers, and ``why``."""
    return (f"Stand-in weights: `{Path(meta['file']).stem}`, a {kind} with {layers} weighted layers, "
            f"trained by this project on {dataset} (test accuracy {meta['test_accuracy'] * 100:.1f}%, "
            f"{meta['epochs']} epochs, seed {meta['seed']}, sha256 {short_digest(meta['sha256'])}); {why}.")
