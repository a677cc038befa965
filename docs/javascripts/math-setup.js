// MathJax 3, served from this site (assets/mathjax/), typesets the math that
// pymdownx.arithmatex marks in chapters and the math in notebook Markdown cells.
window.MathJax = {
  loader: { load: ["input/tex", "output/chtml", "a11y/assistive-mml"] },
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
    tags: "ams",
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex|jp-MarkdownOutput",
    enableMenu: false,
  },
  chtml: { matchFontHeight: false },
  startup: {
    // Printing waits for this flag: headless Chromium and the print tests read it.
    pageReady: () =>
      MathJax.startup.defaultPageReady().then(() => {
        document.documentElement.dataset.mathjax = "done";
      }),
  },
};
