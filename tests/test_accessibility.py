"""WCAG 2.1 A/AA on the book's pages (headless Chromium, axe-core from npm).

Every page of both built editions is checked in light and in dark mode with every solution
opened: axe-core (``node_modules/axe-core``, package-lock.json) finds no WCAG 2.1 A/AA
violation, and every content image has a description (not its file name). A tiny book built
here (seconds) checks the same on a page with each thing the book's build adds for
accessibility (book/_ext/accessibility, resnetbook.figures, resnetbook.source_view), and that
the checks can fail: an image without a description is found, toggles are named after their
exercise, ids are unique, and resnetbook.figures.CONTENT_PX is the width the page gives a figure.
"""

from __future__ import annotations

import base64
import io

import matplotlib
import nbformat
import pytest

from support import ROOT, STUDENT_SITE, page_of, require_site, serve, toc_sources

matplotlib.use("Agg")

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PAGES = [page_of(source) for source in toc_sources()]
DESCRIBED = "A test figure: one line rising from 1 to 3, which shows the check finds this description."

_OPEN_SOLUTIONS_JS = """() => document.querySelectorAll('.toggle-hidden button.toggle-button, button.toggle-button-hidden')
  .forEach(b => b.click())"""
_AXE_JS = """async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations
  .map(v => `${v.id} (${v.impact}), ${v.nodes.length} nodes: ` + v.nodes.slice(0, 4).map(n => n.target.join(' ')
    + ': ' + (n.any.concat(n.all)[0] || {}).message).join(' | '))"""
# A content image is a cell's output or a figure; its description must be real words.
_UNDESCRIBED_JS = """() => [...document.querySelectorAll('main .cell_output img, main figure img')]
  .filter(img => { const alt = (img.getAttribute('alt') || '').trim();
                   return alt.length < 40 || /_images\\/|\\.(png|jpe?g|svg|gif)$/i.test(alt); })
  .map(img => img.getAttribute('src'))"""
_PAGE_JS = """() => ({
  toggles: [...document.querySelectorAll('.admonition .toggle-button')].map(b => b.getAttribute('aria-label')),
  exercises: [...document.querySelectorAll('.solution .admonition-title')].map(t => t.textContent.replace(/\\s+/g, ' ').trim()),
  repeatedIds: Object.entries([...document.querySelectorAll('[id]')].reduce((n, e) => (n[e.id] = (n[e.id] || 0) + 1, n), {}))
    .filter(([, count]) => count > 1).map(([id]) => id),
  logos: [...document.querySelectorAll('.btn__icon-container img')].map(i => i.getAttribute('alt')),
  outputWidth: document.querySelector('.cell_output') ? document.querySelector('.cell_output').getBoundingClientRect().width : null,
})"""


def audit(browser, base_url: str, path: str) -> dict:
    """Open ``path`` at 1280 px in light then dark mode, solutions open, and run axe; report what failed."""
    if not AXE.is_file():
        pytest.fail(f"{AXE.relative_to(ROOT)} is missing: run `make setup` (npm ci installs axe-core)")
    report = {}
    for mode in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        # The theme's own switch: it reads the mode from localStorage as the page loads.
        context.add_init_script(f"localStorage.setItem('mode', '{mode}'); localStorage.setItem('theme', '{mode}');")
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base_url}/{path}", wait_until="load")
        page.evaluate(_OPEN_SOLUTIONS_JS)
        page.wait_for_timeout(300)  # the toggles' transitions
        assert page.evaluate("() => document.documentElement.dataset.theme") == mode
        page.add_script_tag(path=str(AXE))
        report[mode] = page.evaluate(_AXE_JS, WCAG_21_AA)
        if mode == "light":
            report.update(undescribed=page.evaluate(_UNDESCRIBED_JS), page=page.evaluate(_PAGE_JS))
        report.setdefault("errors", []).extend(errors)
        context.close()
    return report


# --- a tiny book: each fix, and each check's ability to fail -----------------------------


def _figure_outputs() -> list:
    """Two figure outputs as a chapter makes them: one through figures.show, one without a description."""
    import matplotlib.pyplot as plt
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from resnetbook import figures

    InteractiveShell.instance()
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([1, 2, 3])
    with capture_output() as captured:
        figures.show(fig, DESCRIBED)
    described = captured.outputs[0]
    fig, ax = plt.subplots(figsize=(3, 3))
    ax.plot([3, 2, 1])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    plain = {"image/png": base64.b64encode(buffer.getvalue()).decode(), "text/plain": "<Figure>"}
    return [nbformat.v4.new_output("display_data", data=described.data, metadata=described.metadata),
            nbformat.v4.new_output("display_data", data=plain)]


@pytest.fixture(scope="module")
def tiny_site(tmp_path_factory):
    from torchvision.models import resnet as tv_resnet

    from resnetbook import source, source_view
    from test_student_edition import _build, _tiny_book

    root = _tiny_book(tmp_path_factory.mktemp("a11ybook"))
    notebook = nbformat.read(root / "book" / "01_tiny.ipynb", as_version=4)
    listing = source_view.show_source(tv_resnet.BasicBlock.forward, highlight=[source.shortcut_add_line(tv_resnet.BasicBlock)])
    figure_cell = nbformat.v4.new_code_cell("figures.show(fig, description)", id="fig", execution_count=7)
    figure_cell.outputs = _figure_outputs()
    listing_cell = nbformat.v4.new_code_cell("source_view.show_source(...)", id="src", execution_count=8)
    listing_cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": listing._repr_html_(), "text/plain": repr(listing)})]
    notebook.cells += [figure_cell, listing_cell]
    # The listing inside a solution too, as chapter 1 shows it.
    notebook.cells.insert(5, nbformat.v4.new_code_cell("source_view.show_source(...)", id="src2", execution_count=9))
    notebook.cells[5].outputs = listing_cell.outputs
    notebook.cells[5].metadata["tags"] = ["solution"]
    nbformat.write(notebook, root / "book" / "01_tiny.ipynb")
    site = _build(root, "instructor")
    url, server = serve(site)
    yield url
    server.shutdown()


@pytest.fixture(scope="module")
def tiny_report(browser, tiny_site):
    return audit(browser, tiny_site, "book/01_tiny.html")


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_tiny_book_passes_axe(tiny_report, mode):
    assert tiny_report["errors"] == []
    assert tiny_report[mode] == []


def test_an_image_without_description_is_found(tiny_report):
    assert len(tiny_report["undescribed"]) == 1, tiny_report["undescribed"]  # the plain figure, not figures.show's


def test_figures_show_description_reaches_the_page(browser, tiny_site):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{tiny_site}/book/01_tiny.html")
    alts = page.eval_on_selector_all(".cell_output img", "imgs => imgs.map(i => i.getAttribute('alt'))")
    context.close()
    assert DESCRIBED in alts


def test_toggles_are_named_after_their_exercise_and_ids_are_unique(tiny_report):
    page = tiny_report["page"]
    assert page["toggles"] == page["exercises"] and len(page["toggles"]) == 2
    assert page["toggles"][0].startswith("Solution to") and "Exercise 1" in page["toggles"][0]
    assert page["repeatedIds"] == []
    assert page["logos"] and set(page["logos"]) == {""}, "the Colab logo next to the word Colab is decorative"


def test_figures_content_width_is_the_pages(tiny_report):
    from resnetbook import figures

    assert tiny_report["page"]["outputWidth"] == pytest.approx(figures.CONTENT_PX, abs=2)


# --- the built book, both editions --------------------------------------------------------


@pytest.fixture(scope="module")
def student_url():
    url, server = serve(require_site(STUDENT_SITE, "make book EDITION=student"))
    yield url
    server.shutdown()


@pytest.mark.parametrize("path", PAGES)
def test_instructor_page_is_accessible(browser, base_url, path):
    report = audit(browser, base_url, path)
    assert (report["light"], report["dark"]) == ([], []), "WCAG 2.1 A/AA violations (light, dark)"
    assert report["undescribed"] == [], "content images without a description"
    assert report["page"]["repeatedIds"] == []


@pytest.mark.parametrize("path", PAGES)
def test_student_page_is_accessible(browser, student_url, path):
    report = audit(browser, student_url, path)
    assert (report["light"], report["dark"]) == ([], []), "WCAG 2.1 A/AA violations (light, dark)"
    assert report["undescribed"] == [], "content images without a description"
    assert report["page"]["repeatedIds"] == []
