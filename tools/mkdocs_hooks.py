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
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

NOTEBOOK_DIR = "notebooks/"
MATHJAX_PARTS = ("tex-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2", "ui", "a11y")

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


@event_priority(-100)  # after mkdocs-jupyter has rendered the notebook
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


def on_page_context(context, page, config, nav):
    def place(match: re.Match) -> str:
        name = match.group(1)
        if name not in _figures:
            raise PluginError(
                f"{page.file.src_uri} places figure {name!r}, but no notebook produced it; "
                f"known figures: {sorted(_figures)}"
            )
        return _figures[name].replace("<figure ", f'<figure id="fig-{name}" ', 1)

    if page.content:
        page.content = _PLACEHOLDER.sub(place, page.content)
    return context
