/* The book's pages for keyboard and screen-reader users (book/_ext/accessibility).
 * Loaded after togglebutton.js and the theme's scripts; runs once the page is parsed. */
(() => {
  const fix = () => {
    // Each solution toggle is named after what it opens ("Solution to Exercise 4.2 (...)"),
    // not sphinx-togglebutton's "Toggle hidden content".
    document.querySelectorAll(".admonition .toggle-button").forEach((button) => {
      const title = button.closest(".admonition").querySelector(".admonition-title");
      const text = title ? title.textContent.replace(/\s+/g, " ").trim() : "";
      if (text) button.setAttribute("aria-label", text);
    });
    // A launch button's logo sits next to its name ("Colab"): decorative.
    document.querySelectorAll(".btn__icon-container img").forEach((img) => img.setAttribute("alt", ""));
    // The theme's search field shows "Search Ctrl+K" but is named "Search": let its text name it.
    document.querySelectorAll("button.search-button-field[aria-label]").forEach((b) => b.removeAttribute("aria-label"));
    // The colour-mode button's icons carry titles ("Light") that are not its name ("Color mode").
    // Font Awesome turns each icon into an SVG with that title, before or after this runs (on a
    // busy machine, either): the titles go from both, and from any SVG it adds later.
    document.querySelectorAll(".theme-switch-button").forEach((button) => {
      quietIcons(button);
      new MutationObserver(() => quietIcons(button)).observe(button, { childList: true, subtree: true });
    });
    markScrolling();
    // A solution opened shows code blocks that had no width while hidden: check each block again
    // whenever its size changes (the toggle's transition ends after the click).
    const observer = new ResizeObserver(markScrolling);
    document.querySelectorAll(".highlight pre").forEach((pre) => observer.observe(pre));
  };
  // Icons that only decorate a named button: no title, hidden from assistive technology.
  const quietIcons = (button) => button.querySelectorAll("i, svg").forEach((icon) => {
    icon.removeAttribute("title");
    icon.querySelectorAll("title").forEach((title) => title.remove());
    icon.removeAttribute("aria-labelledby");
    icon.setAttribute("aria-hidden", "true");
  });
  // A code block wider than the page scrolls: it must be reachable by keyboard to scroll it.
  const markScrolling = () => document.querySelectorAll(".highlight pre").forEach((pre) => {
    // (The theme gives a code block tabindex -1 when it is hidden at load, in a closed solution.)
    if (pre.scrollWidth > pre.clientWidth && pre.getAttribute("tabindex") !== "0") {
      pre.setAttribute("tabindex", "0");
      pre.setAttribute("role", "region");
      pre.setAttribute("aria-label", "code, scrolls sideways");
    }
  });
  if (document.readyState === "complete") fix();
  else document.addEventListener("DOMContentLoaded", fix);
})();
