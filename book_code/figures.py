"""Figures for the book: one style, SVG output, and alt text that travels with the image.

Every figure function in `book_code` returns a :class:`matplotlib.figure.Figure` and never
opens a window. In a notebook, wrap it in :class:`BookFigure` to display it as an SVG
``<figure>`` with alt text and a caption; the book's build places the same figure in the
chapter text (see the appendix on how the book is built).
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # never open a window, also when imported outside a notebook
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

# Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

STYLE = {
    "figure.dpi": 100,
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "svg.fonttype": "none",  # keep text as text: searchable, selectable, sharp in print
    "legend.frameon": False,
}

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 6.4, height: float = 3.2):
    """A figure and its axes in the book's style."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained")
    return fig, axes


def figure_to_svg(fig: Figure) -> str:
    """Render ``fig`` to an SVG document (a string) and close it."""
    buffer = io.StringIO()
    with plt.rc_context(STYLE):
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


@dataclass
class BookFigure:
    """A figure with a stable name, alt text and caption, displayed as HTML.

    ``name`` identifies the figure in the chapter text: the chapter places it with
    ``<figure markdown data-notebook-figure="NAME"></figure>``.
    """

    fig: Figure
    name: str
    alt: str
    caption: str

    def __post_init__(self) -> None:
        if not isinstance(self.fig, Figure):
            raise TypeError(f"fig must be a matplotlib Figure; got {type(self.fig).__name__}")
        if not _NAME.match(self.name):
            raise ValueError(
                f"name must be lowercase letters, digits and dashes; got {self.name!r}"
            )
        if not self.alt.strip():
            raise ValueError("alt text must not be empty: describe what the figure shows")
        self._svg = figure_to_svg(self.fig)

    def _repr_html_(self) -> str:
        data = base64.b64encode(self._svg.encode("utf-8")).decode("ascii")
        return (
            f'<figure class="book-figure" id="fig-{self.name}" data-figure="{self.name}">'
            f'<img src="data:image/svg+xml;base64,{data}" alt="{html.escape(self.alt)}">'
            f"<figcaption>{html.escape(self.caption)}</figcaption></figure>"
        )
