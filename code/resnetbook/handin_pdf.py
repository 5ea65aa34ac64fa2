"""A notebook as a PDF without LaTeX: nbconvert's HTML, printed by Chromium (every hand-in).

Used by :mod:`resnetbook.handin` (the last cell of every student notebook, and
``python -m resnetbook.handin``). The page is nbconvert's ``lab`` HTML, with a print style
sheet that wraps long code lines and outputs instead of cutting them at the page edge, scales
figures to the page width and keeps each figure on one page. Chromium is driven through
Playwright: the ``chromium`` named by ``RESNETBOOK_CHROMIUM``, else Debian's
``/usr/bin/chromium``, else Playwright's own build (``python -m playwright install chromium``,
what Colab gets at hand-in time; see :func:`ensure_converter`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from resnetbook import settings

DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]  # Colab and containers run as root
LOAD_TIMEOUT_MS = 60_000

PRINT_CSS = """
@page { size: A4; margin: 12mm 10mm; }
html, body { background: white; }
body { padding: 0 !important; margin: 0 !important; }
.jp-Notebook { padding: 0 !important; }
pre, code, .highlight pre, .jp-OutputArea-output pre, .jp-RenderedText pre {
  white-space: pre-wrap !important; overflow-wrap: anywhere !important;
  overflow: visible !important; max-height: none !important;
}
.jp-OutputArea-output, .jp-Cell-outputWrapper, .jp-InputArea-editor, .jp-RenderedHTMLCommon {
  overflow: visible !important; max-height: none !important;
}
.jp-InputArea-editor { border: 1px solid #ccc; }
img, svg, .jp-RenderedImage img { max-width: 100% !important; height: auto !important; }
.jp-RenderedImage, .jp-OutputArea-output img, table { break-inside: avoid; page-break-inside: avoid; }
.jp-InputPrompt, .jp-OutputPrompt { min-width: 7ex; font-size: 80%; }
h1, h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
"""

SETTLE_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  await Promise.all([...document.images].map(img => img.decode().catch(() => null)));
}"""


def notebook_html(notebook: nbformat.NotebookNode) -> str:
    """The notebook as nbconvert's lab HTML (outputs and figures inline), with :data:`PRINT_CSS`."""
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter(template_name="lab").from_notebook_node(notebook)
    return html.replace("</head>", f"<style>{PRINT_CSS}</style>\n</head>", 1)


def chromium_options() -> dict:
    """Playwright's launch options: the Chromium of ``RESNETBOOK_CHROMIUM`` or Debian's, else Playwright's."""
    choice = settings.runtime_variable("RESNETBOOK_CHROMIUM")
    if choice == "playwright" or (choice is None and not DEBIAN_CHROMIUM.is_file()):
        return {"args": CHROMIUM_ARGS}
    path = Path(choice) if choice else DEBIAN_CHROMIUM
    if not path.is_file():
        raise FileNotFoundError(f"RESNETBOOK_CHROMIUM={choice} is not a file: name a Chromium binary, or `playwright`")
    return {"executable_path": str(path), "args": CHROMIUM_ARGS}


def html_to_pdf(html: str, pdf: Path) -> None:
    """Print ``html`` to ``pdf`` with Chromium (A4, backgrounds, the print style sheet)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        error.add_note("the PDF needs Playwright: `pip install playwright` (resnetbook.handin installs it in Colab)")
        raise
    with sync_playwright() as driver:
        browser = driver.chromium.launch(**chromium_options())
        try:
            page = browser.new_page()
            page.set_content(html, wait_until="load", timeout=LOAD_TIMEOUT_MS)
            page.evaluate(SETTLE_JS)
            page.pdf(path=str(pdf), format="A4", print_background=True, prefer_css_page_size=True)
        finally:
            browser.close()


def notebook_to_pdf(path: Path, pdf: Path | None = None) -> Path:
    """Write the PDF of the notebook file ``path`` (default: beside it, ``.pdf``); return its path."""
    path = Path(path)
    if path.suffix != ".ipynb" or not path.is_file():
        raise FileNotFoundError(f"{path} is not a notebook file: give the path of a saved .ipynb")
    pdf = Path(pdf) if pdf is not None else path.with_suffix(".pdf")
    html_to_pdf(notebook_html(nbformat.read(path, as_version=4)), pdf)
    return pdf


def converter_ready() -> bool:
    """Whether Playwright imports and a Chromium it can drive is on disk."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return False
    if "executable_path" in chromium_options():
        return True
    with sync_playwright() as driver:
        return Path(driver.chromium.executable_path).is_file()


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(command[2:])}` failed:\n{done.stderr[-2000:]}")


def ensure_converter() -> float:
    """Install Playwright and its headless Chromium when missing (Colab, at hand-in time); the seconds it took.

    Colab has nbconvert already; Playwright (with its pyee) changes none of Colab's packages.
    """
    start = time.perf_counter()
    if converter_ready():
        return 0.0
    try:
        import nbconvert  # noqa: F401
        packages = ["playwright"]
    except ImportError:
        packages = ["playwright", "nbconvert"]
    _run([sys.executable, "-m", "pip", "install", "-q", *packages])
    _run([sys.executable, "-m", "playwright", "install", "--only-shell", "chromium"])
    return time.perf_counter() - start


MISSING_LIBRARIES = ("missing dependencies", "shared libraries")


def install_browser_libraries() -> bool:
    """Install the system libraries Playwright's Chromium needs (apt, as root: Colab); whether it could."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return False
    _run([sys.executable, "-m", "playwright", "install-deps", "chromium"])
    return True
