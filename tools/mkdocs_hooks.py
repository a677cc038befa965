"""MkDocs hooks that make the book work offline and keep chapters and notebooks in step.

1. MathJax is served from the site itself: its files come from the ``django-static-mathjax``
   package (installed from PyPI by the build), so no page asks a CDN for anything.
2. Every notebook page gets a download link to a Jupyter ``.ipynb`` made from its jupytext
   source, and loses the CDN ``<script>`` tags that the notebook template adds.
3. Figures are computed once, by the executed notebook. A chapter places a figure by name with
   ``<div class="notebook-figure" data-figure="NAME"></div>``; the hook copies the figure (SVG,
   alt text, caption) from the notebook page into the chapter, and stops the build if a
   chapter names a figure that no notebook produced.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import tinycss2
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

NOTEBOOK_DIR = "notebooks/"
# MathJax components: the loader, TeX input (and the extensions it may autoload), HTML output
# with its fonts, and assistive MathML for screen readers. The context menu (400 kB) is left out.
MATHJAX_PARTS = (
    "startup.js", "core.js", "input/tex.js", "input/tex/extensions",
    "output/chtml.js", "output/chtml/fonts/tex.js", "output/chtml/fonts/woff-v2",
    "a11y/assistive-mml.js",
)

_figures: dict[str, str] = {}
_FIGURE = re.compile(r'<figure class="book-figure"[^>]*data-figure="([a-z0-9-]+)".*?</figure>', re.S)
_PLACEHOLDER = re.compile(r'<div class="notebook-figure" data-figure="([a-z0-9-]+)"></div>')
# Script tags of the notebook template that would load MathJax 2 and Mermaid from a CDN, or
# request the page itself (src="").
_TEMPLATE_SCRIPTS = re.compile(
    r'<script src="(?:https?:)?//[^"]*"[^>]*>\s*</script>'
    r'|<script src=""[^>]*>\s*</script>'
    r'|<script type="text/x-mathjax-config">.*?</script>'
    r'|<script type="module">(?:(?!</script>).)*?mermaid.*?</script>',
    re.S,
)


def _mathjax_root() -> Path:
    import mathjax  # the django-static-mathjax package

    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def _is_notebook(page) -> bool:
    uri = page.file.src_uri
    return uri.startswith(NOTEBOOK_DIR) and uri.endswith(".py")


def on_files(files: Files, config) -> Files:
    root = _mathjax_root()
    for part in MATHJAX_PARTS:
        source = root / part
        for path in [source] if source.is_file() else sorted(source.rglob("*")):
            if path.is_file():
                uri = "assets/mathjax/" + path.relative_to(root).as_posix()
                files.append(File.generated(config, uri, abs_src_path=str(path)))
    for file in list(files):
        if file.src_uri.startswith(NOTEBOOK_DIR) and file.src_uri.endswith(".py"):
            notebook = jupytext.read(file.abs_src_path)
            notebook.metadata.pop("jupytext", None)
            uri = file.src_uri[: -len(".py")] + ".ipynb"
            files.append(File.generated(config, uri, content=jupytext.writes(notebook, "ipynb")))
    return files


def on_pre_build(config) -> None:
    _figures.clear()


# Before print-site (priority 0) stores the page for the whole-book page. mkdocs-jupyter has
# already rendered the notebook by then: it replaces the page's render method.
@event_priority(10)
def on_page_content(html: str, page, config, files) -> str:
    if not _is_notebook(page):
        return html
    html = _TEMPLATE_SCRIPTS.sub("", html)
    for match in _FIGURE.finditer(html):
        name = match.group(1)
        if name in _figures:
            raise PluginError(f"figure {name!r} is produced by more than one notebook")
        _figures[name] = match.group(0).replace(f'id="fig-{name}"', "")
    ipynb = Path(page.file.src_uri).with_suffix(".ipynb").name
    link = (
        f'<p class="notebook-download"><a class="md-button" href="{ipynb}" download>'
        "Download this notebook (.ipynb)</a></p>"
    )
    return link + html


_STYLE = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.S)
_MARKDOWN_CELL = re.compile(r'<div class="[^"]*jp-MarkdownOutput[^"]*"[^>]*>(.*?)</div>', re.S)
_MATHJAX_SCRIPTS = re.compile(
    r'<script src="[^"]*(?:javascripts/math-setup\.js|assets/mathjax/startup\.js)"[^>]*></script>'
)
_CLASS = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
_NOT = re.compile(r":not\([^()]*\)")


def _used_classes(html: str) -> set[str]:
    return {name for attr in re.findall(r'class="([^"]*)"', html) for name in attr.split()}


def trim_css(css: str, used: set[str]) -> str:
    """Drop the selectors of ``css`` that name a class no element in the page has.

    The notebook template embeds all of JupyterLab's stylesheet (about 600 kB) in every notebook
    page; a page uses a few percent of it. Rules without classes (custom properties on
    ``.jupyter-wrapper``, element selectors, at-rules other than ``@media``) are kept.
    """
    kept = []
    for rule in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if rule.type == "qualified-rule":
            selectors = [sel.strip() for sel in tinycss2.serialize(rule.prelude).split(",")]
            alive = [sel for sel in selectors if set(_CLASS.findall(_NOT.sub("", sel))) <= used]
            if alive:
                kept.append(",".join(alive) + "{" + tinycss2.serialize(rule.content) + "}")
        elif rule.type == "at-rule" and rule.lower_at_keyword == "media" and rule.content:
            inner = trim_css(tinycss2.serialize(rule.content), used)
            if inner:
                kept.append(f"@media {tinycss2.serialize(rule.prelude).strip()}{{{inner}}}")
        elif rule.type == "at-rule":
            kept.append(tinycss2.serialize([rule]))
    return "".join(kept)


def on_post_page(output: str, page, config) -> str:
    """Slim the final HTML: MathJax only where there is math; notebook CSS only what is used."""
    if _is_notebook(page):
        used = _used_classes(output)
        output = _STYLE.sub(lambda m: m.group(1) + trim_css(m.group(2), used) + m.group(3), output)
        has_math = any(re.search(r"\$|\\\(|\\\[", cell) for cell in _MARKDOWN_CELL.findall(output))
    else:
        has_math = 'class="arithmatex"' in output
    if not has_math:
        output = _MATHJAX_SCRIPTS.sub("", output)
    return output


def on_env(env, config, files):
    """Place figures once every page, notebooks included, has been rendered.

    Chapters are rendered before the notebooks that make their figures, so placement waits
    for this event, which comes after all pages are rendered and before any is written. The
    copy that print-site keeps for the whole-book page (``page.html``) gets the figures too.
    """
    for file in files.documentation_pages():
        page = file.page
        if page is None or not page.content:
            continue

        def place(match: re.Match, page=page) -> str:
            name = match.group(1)
            if name not in _figures:
                raise PluginError(
                    f"{page.file.src_uri} places figure {name!r}, but no notebook produced it; "
                    f"known figures: {sorted(_figures)}"
                )
            return _figures[name].replace("<figure ", f'<figure id="fig-{name}" ', 1)

        page.content = _PLACEHOLDER.sub(place, page.content)
        if getattr(page, "html", None):
            page.html = _PLACEHOLDER.sub(place, page.html)
    return env


@event_priority(-100)  # after print-site has written the whole-book page
def on_post_build(config) -> None:
    """Trim the notebook CSS of the whole-book page too: it holds one copy per notebook."""
    combined = Path(config["site_dir"]) / "print_page" / "index.html"
    if combined.is_file():
        html = combined.read_text(encoding="utf-8")
        used = _used_classes(html)
        html = _STYLE.sub(lambda m: m.group(1) + trim_css(m.group(2), used) + m.group(3), html)
        combined.write_text(html, encoding="utf-8")
