"""Pictures of attention, training and position encodings (chapter 8).

Every function here returns a :class:`matplotlib.figure.Figure` and never opens a window: wrap
the figure in `book_code.figures.BookFigure` to show it in a notebook and to place it in the
book. Heatmaps use a *sequential*, colour-blind-safe colour map (``"cividis"`` by default):
attention weights are non-negative, so darker-to-lighter is the honest encoding, and small
matrices also print their numbers, so that nothing depends on colour alone.

`head_view_html` writes an interactive view of one head for the website and for notebooks:
self-contained HTML, CSS and a few lines of vanilla JavaScript (no CDN, no external file),
operable from the keyboard, and with a static SVG that replaces it when scripts are off and on
paper. `HeadView` wraps it for notebooks.
"""

from __future__ import annotations

# --8<-- [start:imports]
import hashlib
import html
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from book_code._checks import shape_str
from book_code.figures import PALETTE, new_figure

# --8<-- [end:imports]

__all__ = [
    "HeadView",
    "attention_grid",
    "attention_heatmap",
    "check_attention_weights",
    "head_view_html",
    "offset_similarity",
    "positional_heatmap",
    "positional_similarity",
    "token_fontsize",
    "training_curves",
]


# --8<-- [start:check_weights]
def check_attention_weights(
    weights: object,
    name: str = "weights",
    ranks: Sequence[int] = (2,),
    layout: str = "(n, n)",
    tokens: Sequence[str] | None = None,
    stochastic: bool = True,
    atol: float = 1e-3,
) -> torch.Tensor:
    """Validate attention weights and return them as a float64 CPU tensor.

    Args:
        weights: a tensor, NumPy array or nested list whose last two dimensions form square
            ``(n, n)`` matrices, one row per query and one column per key.
        name: the argument's name, for error messages.
        ranks: the allowed numbers of dimensions.
        layout: the expected shape in words, for error messages, e.g. ``"(layers, heads, n, n)"``.
        tokens: if given, ``n`` must equal ``len(tokens)``.
        stochastic: require every row to sum to 1 (within ``atol``), as softmax rows do. A row of
            zeros is also accepted: it is a query that every mask hid (chapter 2).
        atol: tolerance of the row-sum check; weights rounded for display need a loose one.

    Raises:
        TypeError: the weights are not numeric.
        ValueError: wrong rank, non-square matrices, ``n != len(tokens)``, values that are not
            finite or negative, or (if ``stochastic``) rows that do not sum to 1.
    """
    if isinstance(weights, torch.Tensor):
        tensor = weights.detach().to(device="cpu", dtype=torch.float64)
    else:
        try:
            tensor = torch.as_tensor(np.asarray(weights, dtype=np.float64))
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{name} must be a tensor or array of numbers; got {type(weights).__name__}"
            ) from error
    if tensor.dim() not in ranks:
        raise ValueError(
            f"{name} must have shape {layout} ({' or '.join(map(str, ranks))} dimensions); "
            f"got shape {shape_str(tensor.shape)} ({tensor.dim()} dimensions)"
        )
    if tensor.shape[-1] != tensor.shape[-2]:
        raise ValueError(
            f"{name} must hold square (n, n) matrices, one row per query and one column per key; "
            f"got shape {shape_str(tensor.shape)}"
        )
    if tokens is not None and tensor.shape[-1] != len(tokens):
        raise ValueError(
            f"{name} has n={tensor.shape[-1]} tokens per row but {len(tokens)} tokens were given; "
            f"shape {shape_str(tensor.shape)}"
        )
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite; got NaN or infinite values")
    if (tensor < 0).any():
        raise ValueError(f"{name} must be non-negative (attention weights are); minimum {tensor.min():.4g}")
    if stochastic:
        sums = tensor.sum(dim=-1)
        bad = ~(torch.isclose(sums, torch.ones_like(sums), atol=atol) | (sums == 0))
        if bad.any():
            index = tuple(int(i) for i in bad.nonzero()[0])
            raise ValueError(
                f"every row of {name} must sum to 1 (softmax weights) or be all zeros (fully "
                f"masked); row {index} sums to {sums[index]:.4g}"
            )
    return tensor


def _check_tokens(tokens: object, name: str = "tokens") -> list[str]:
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise TypeError(f"{name} must be a sequence of strings (one per token); got {type(tokens).__name__}")
    if not tokens:
        raise ValueError(f"{name} must not be empty")
    bad = [t for t in tokens if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{name} must be strings; got {bad[0]!r} of type {type(bad[0]).__name__}")
    return list(tokens)
# --8<-- [end:check_weights]


# --8<-- [start:heatmap]
def token_fontsize(num_tokens: int, span: float = 6.0, largest: float = 9.0, smallest: float = 4.5) -> float:
    """A tick-label font size (points) for ``num_tokens`` labels along ``span`` inches: about 70%
    of the distance between neighbouring labels, within ``[smallest, largest]``."""
    pitch = span * 72.0 / max(num_tokens, 1)  # points from one label to the next
    return float(np.clip(0.7 * pitch, smallest, largest))


def _label_axes(ax: Axes, tokens: Sequence[str], fontsize: float) -> None:
    positions = np.arange(len(tokens))
    ax.set_xticks(positions, tokens, rotation=90, fontsize=fontsize)
    ax.set_yticks(positions, tokens, fontsize=fontsize)
    ax.tick_params(length=0)
    ax.grid(False)


def attention_heatmap(
    weights: object,
    tokens: Sequence[str],
    *,
    ax: Axes | None = None,
    title: str | None = None,
    cmap: str = "cividis",
    vmax: float | None = None,
    annotate: bool | None = None,
    colorbar: bool = True,
) -> Figure:
    """A heatmap of one head's weights: query tokens down the side, key tokens along the top.

    Row ``i`` shows how token ``i`` spreads its attention over the keys. Tick labels are the
    tokens (x labels rotated, font size adapted to their number).

    Args:
        weights: ``(n, n)`` non-negative weights whose rows sum to 1.
        tokens: the ``n`` tokens, used for both axes.
        ax: draw into these axes (the figure is the axes' figure); default: a new figure.
        title: the axes title.
        cmap: a sequential colour map; ``"cividis"`` and ``"viridis"`` are colour-blind safe.
        vmax: the weight drawn in the lightest colour; default: the largest weight.
        annotate: print each weight in its cell; default: only when ``n <= 10``.
        colorbar: add a colour bar labelled "attention weight".

    Returns:
        The figure.
    """
    tokens = _check_tokens(tokens)
    matrix = check_attention_weights(weights, tokens=tokens).numpy()
    n = len(tokens)
    if ax is None:
        side = min(1.6 + 0.3 * n, 9.0)
        fig, ax = new_figure(width=side + (1.0 if colorbar else 0.0), height=side)
    fig = ax.figure
    vmax = float(matrix.max()) if vmax is None else vmax
    image = ax.imshow(matrix, cmap=cmap, vmin=0.0, vmax=vmax or 1.0, interpolation="nearest")
    _label_axes(ax, tokens, token_fontsize(n, span=0.75 * fig.get_figheight()))
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if title:
        ax.set_title(title)
    if annotate if annotate is not None else n <= 10:
        colormap = mpl.colormaps[cmap]
        for (i, j), w in np.ndenumerate(matrix):
            # Dark text on light cells, light text on dark ones: readable in any colour map.
            r, g, b, _ = colormap(image.norm(w))
            ink = "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "white"
            ax.text(j, i, f"{w:.2f}", ha="center", va="center", color=ink, fontsize=7)
    if colorbar:
        fig.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    return fig
# --8<-- [end:heatmap]


# --8<-- [start:grid]
def attention_grid(
    weights: object,
    tokens: Sequence[str],
    *,
    cmap: str = "cividis",
    vmax: float | None = None,
    panel_size: float | None = None,
) -> Figure:
    """Every head of every layer: one panel per ``(layer, head)``, layers down, heads across.

    All panels share one colour scale and one colour bar, so panels can be compared. Token
    labels appear on the left column (queries) and the bottom row (keys).

    Args:
        weights: ``(layers, heads, n, n)`` weights whose rows sum to 1, for example
            ``book_code.interpret.attention_weights(model, token_ids)[0]``.
        tokens: the ``n`` tokens.
        cmap: a sequential colour map.
        vmax: the weight drawn in the lightest colour; default: the largest weight.
        panel_size: the side of one panel in inches; default: fits 12 inches across.

    Returns:
        The figure; ``fig.axes`` holds the ``layers * heads`` panels (row by row), then the
        colour bar.
    """
    tokens = _check_tokens(tokens)
    array = check_attention_weights(
        weights, ranks=(4,), layout="(layers, heads, n, n)", tokens=tokens
    ).numpy()
    layers, heads, n, _ = array.shape
    size = panel_size or float(np.clip(11.0 / heads, 1.2, 2.6))
    fig, axes = new_figure(
        ncols=heads, nrows=layers, width=size * heads + 1.2, height=size * layers + 0.8
    )
    axes = np.asarray(axes).reshape(layers, heads)
    vmax = float(array.max()) if vmax is None else vmax
    fontsize = token_fontsize(n, span=0.85 * size, largest=7.0)
    for (layer, head), ax in np.ndenumerate(axes):
        image = ax.imshow(array[layer, head], cmap=cmap, vmin=0.0, vmax=vmax or 1.0, interpolation="nearest")
        _label_axes(ax, tokens, fontsize)
        ax.tick_params(labelbottom=layer == layers - 1, labelleft=head == 0)
        ax.set_title(f"layer {layer + 1}, head {head + 1}", fontsize=8)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, label="attention weight")
    fig.supxlabel("key (attended to)", fontsize=9)
    fig.supylabel("query (attending)", fontsize=9)
    return fig
# --8<-- [end:grid]


# --8<-- [start:training_curves]
def _series(history: Sequence[Mapping], key: str) -> tuple[np.ndarray, np.ndarray]:
    """The records that have a number under ``key``: their positions and values."""
    found = [(i, r[key]) for i, r in enumerate(history) if isinstance(r.get(key), (int, float))]
    index = np.array([i for i, _ in found], dtype=int)
    values = np.array([v for _, v in found], dtype=float)
    keep = np.isfinite(values)
    return index[keep], values[keep]


def training_curves(
    history: Sequence[Mapping],
    loss_keys: Sequence[str] | None = None,
    metric_keys: Sequence[str] | None = None,
    x_key: str = "epoch",
) -> Figure:
    """Loss curves (left) and metric curves (right) from a training history.

    Args:
        history: one dict per epoch (or step), as ``book_code.training.fit`` returns in
            ``result.history``; missing values, ``None`` and NaN leave gaps.
        loss_keys: keys to draw in the loss panel; default: every key containing ``"loss"``.
        metric_keys: keys to draw in the metric panel; default: every key ending in
            ``"accuracy"`` or ``"f1"``. With none, the figure has the loss panel only.
        x_key: the key of the x values; if the records lack it, they are numbered from 1.
            If records have ``"best": True``, a dotted line marks the last such one.

    Returns:
        The figure, one or two panels.
    """
    if isinstance(history, Mapping) or not isinstance(history, Sequence) or not history:
        raise ValueError("history must be a non-empty list of dicts, one per epoch or step")
    if not all(isinstance(record, Mapping) for record in history):
        raise TypeError("every record of history must be a dict")
    keys = list(dict.fromkeys(k for record in history for k in record))
    if loss_keys is None:
        loss_keys = [k for k in keys if "loss" in k]
    if metric_keys is None:
        metric_keys = [k for k in keys if k.endswith(("accuracy", "f1"))]
    for key in [*loss_keys, *metric_keys]:
        if key not in keys:
            raise ValueError(f"no record of history has the key {key!r}; keys: {keys}")
    if not loss_keys and not metric_keys:
        raise ValueError(f"nothing to draw: no loss or metric keys; keys: {keys}")
    x_all = np.array(
        [r[x_key] if isinstance(r.get(x_key), (int, float)) else i + 1 for i, r in enumerate(history)],
        dtype=float,
    )
    panels = [(ks, label) for ks, label in ((loss_keys, "loss"), (metric_keys, "metric")) if ks]
    fig, axes = new_figure(ncols=len(panels), width=4.2 * len(panels) + 0.6, height=3.2)
    axes = np.atleast_1d(axes)
    best = [x for x, r in zip(x_all, history, strict=True) if r.get("best") is True]
    styles = itertools.cycle(zip(PALETTE, ("-", "--", "-.", ":"), "osD^v", strict=False))
    for ax, (panel_keys, label) in zip(axes, panels, strict=True):
        for key, (color, line, marker) in zip(panel_keys, styles, strict=False):
            index, values = _series(history, key)
            # Line style and marker vary as well as colour, so the curves differ in grey too.
            ax.plot(x_all[index], values, color=color, linestyle=line, marker=marker, markersize=4, label=key)
        if best:
            ax.axvline(
                best[-1], color="black", linestyle=":", linewidth=1, label=f"best ({x_key} {best[-1]:g})"
            )
        ax.set_xlabel(x_key if x_key in keys else "record")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    return fig
# --8<-- [end:training_curves]


# --8<-- [start:positional]
def _as_table(table: object, name: str = "table") -> np.ndarray:
    if isinstance(table, torch.Tensor):
        table = table.detach().cpu().double().numpy()
    array = np.asarray(table, dtype=float)
    if array.ndim != 2 or min(array.shape) < 1:
        raise ValueError(f"{name} must have shape (positions, embed_dim); got shape {shape_str(array.shape)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    return array


def positional_heatmap(
    table: object, *, ax: Axes | None = None, cmap: str = "cividis", title: str | None = None
) -> Figure:
    """A position-encoding table as an image: positions down, encoding dimensions across.

    Args:
        table: ``(positions, embed_dim)``, e.g. ``book_code.positional.sinusoidal_encoding(64, 32)``
            or a learned ``position_embedding.weight``.
        ax: draw into these axes; default: a new figure.
        cmap: the colour map, scaled symmetrically around 0.
        title: the axes title.

    Returns:
        The figure.
    """
    array = _as_table(table)
    if ax is None:
        fig, ax = new_figure(width=6.4, height=3.6)
    fig = ax.figure
    limit = float(np.abs(array).max()) or 1.0
    image = ax.imshow(array, cmap=cmap, vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    ax.set_xlabel("encoding dimension")
    ax.set_ylabel("position")
    ax.grid(False)
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, label="value")
    return fig


def offset_similarity(
    table: object, max_offset: int | None = None, measure: str = "cosine"
) -> tuple[np.ndarray, np.ndarray]:
    """Mean similarity of the encodings of positions ``p`` and ``p + k``, for each offset ``k``.

    For the sinusoidal table the dot product depends on ``k`` only:
    ``PE[p] . PE[p+k] = sum_i cos(k theta_i)``; for a learned table it need not.

    Args:
        table: ``(positions, embed_dim)``.
        max_offset: the largest offset; default ``positions - 1``.
        measure: ``"cosine"`` or ``"dot"``.

    Returns:
        ``(offsets, similarity)``, two arrays of length ``max_offset + 1``; the similarity at
        offset ``k`` is the mean over all ``p`` with ``p + k`` in the table.
    """
    array = _as_table(table)
    if measure not in ("cosine", "dot"):
        raise ValueError(f"measure must be 'cosine' or 'dot'; got {measure!r}")
    positions = array.shape[0]
    max_offset = positions - 1 if max_offset is None else max_offset
    if not 0 <= max_offset < positions:
        raise ValueError(f"max_offset must lie in [0, {positions - 1}]; got {max_offset}")
    if measure == "cosine":
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        array = array / np.where(norms == 0, 1.0, norms)
    gram = array @ array.T
    offsets = np.arange(max_offset + 1)
    return offsets, np.array([np.diagonal(gram, offset=k).mean() for k in offsets])


def positional_similarity(
    tables: Mapping[str, object] | object, max_offset: int | None = None, measure: str = "cosine"
) -> Figure:
    """Similarity against offset (`offset_similarity`) for one or several encoding tables.

    Args:
        tables: one ``(positions, embed_dim)`` table, or a mapping from a legend label to a table.
        max_offset: the largest offset drawn; default: the shortest table's length minus 1.
        measure: ``"cosine"`` or ``"dot"``.

    Returns:
        The figure: one curve per table.
    """
    if not isinstance(tables, Mapping):
        tables = {"encoding": tables}
    if not tables:
        raise ValueError("tables must not be empty")
    arrays = {label: _as_table(table, f"tables[{label!r}]") for label, table in tables.items()}
    limit = min(a.shape[0] for a in arrays.values()) - 1
    max_offset = limit if max_offset is None else max_offset
    fig, ax = new_figure(width=5.6, height=3.2)
    styles = zip(PALETTE, ("-", "--", "-.", ":") * 2, strict=False)
    for (label, array), (color, line) in zip(arrays.items(), styles, strict=False):
        offsets, similarity = offset_similarity(array, max_offset, measure)
        ax.plot(offsets, similarity, color=color, linestyle=line, label=label)
    ax.set_xlabel("offset k between positions")
    ax.set_ylabel("cosine similarity" if measure == "cosine" else "dot product")
    ax.legend()
    return fig
# --8<-- [end:positional]


# The interactive head view. Everything it needs travels in one HTML fragment: a page or notebook
# may hold several views, so every id carries the view's own prefix and the script finds its
# own root element (the element that contains the script).

# --8<-- [start:head_view_assets]
_ID = re.compile(r"^[A-Za-z][\w-]*$")
_counter = itertools.count()
_ROW = 24  # pixel height of one token row, shared by the buttons and the SVG lines
_GAP = 140  # pixel width of the space the lines cross

_CSS = """
#__ID__ { font-size: 13px; line-height: 1.3; margin: 0.8em 0; }
#__ID__ .hv-controls { display: flex; gap: 1.2em; align-items: center; flex-wrap: wrap;
  margin-bottom: 0.5em; }
#__ID__ .hv-controls label { font-weight: 600; margin-right: 0.3em; }
#__ID__ .hv-controls select { font: inherit; padding: 1px 4px; color: inherit; background: transparent; }
#__ID__ .hv-controls option { color: #000; background: #fff; }
#__ID__ .hv-main { display: grid; grid-template-columns: max-content __GAP__px max-content;
  align-items: start; }
#__ID__ .hv-col { display: flex; flex-direction: column; }
#__ID__ .hv-token { all: unset; box-sizing: border-box; height: __ROW__px; line-height: 22px; padding: 0 6px;
  max-width: 14em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; cursor: pointer;
  border: 1px solid transparent; border-radius: 3px; font-family: ui-monospace, monospace; }
#__ID__ .hv-queries .hv-token { text-align: right; }
#__ID__ .hv-token:hover, #__ID__ .hv-token[aria-pressed="true"] { border-color: currentColor; }
#__ID__ .hv-token:focus-visible { outline: 2px solid #0072B2; outline-offset: 1px; }
#__ID__ .hv-readout { min-height: 2.6em; margin: 0.5em 0 0; }
#__ID__ .hv-static { display: block; }
#__ID__ [hidden] { display: none !important; }
#__ID__ .hv-static svg { max-width: 100%; height: auto; }
#__ID__ .hv-note { margin: 0 0 0.3em; font-style: italic; }
@media print {
  #__ID__ .hv-live { display: none !important; }
  #__ID__ .hv-static { display: block !important; }
}
"""

# Vanilla JavaScript, no library: draws the lines of one head for the active token and keeps
# the numeric readout (the top weights) in an aria-live region, so screen readers hear it.
_JS = """
(function () {
  var script = document.currentScript;
  var root = script && script.parentElement && script.parentElement.id === __ID__
    ? script.parentElement : document.getElementById(__ID__);
  if (!root) { return; }
  var tokens = __TOKENS__, weights = __WEIGHTS__, topK = __TOPK__;
  var layerSel = root.querySelector(".hv-layer"), headSel = root.querySelector(".hv-head");
  var svg = root.querySelector(".hv-lines"), readout = root.querySelector(".hv-readout");
  var cols = { q: root.querySelectorAll(".hv-queries .hv-token"),
               k: root.querySelectorAll(".hv-keys .hv-token") };
  var n = tokens.length, row = __ROW__, gap = __GAP__, active = null;
  function matrix() { return weights[+layerSel.value][+headSel.value]; }
  function quote(t) { return "\\u201c" + t + "\\u201d"; }
  function line(i, j, w, strong) {
    var el = document.createElementNS(svg.namespaceURI, "line");
    el.setAttribute("x1", 2); el.setAttribute("y1", (i + 0.5) * row);
    el.setAttribute("x2", gap - 2); el.setAttribute("y2", (j + 0.5) * row);
    el.setAttribute("stroke", "currentColor");
    el.setAttribute("stroke-opacity", strong ? Math.min(1, 0.15 + 0.85 * w) : 0.8 * w);
    el.setAttribute("stroke-width", strong ? 1 + 6 * w : 0.5 + 2 * w);
    svg.appendChild(el);
  }
  function draw() {
    var m = matrix(), i, j;
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    ["q", "k"].forEach(function (side) {
      cols[side].forEach(function (b, idx) {
        var on = active && active.side === side && active.index === idx;
        b.setAttribute("aria-pressed", on ? "true" : "false");
        b.style.background = "";
      });
    });
    var where = " (layer " + (+layerSel.value + 1) + ", head " + (+headSel.value + 1) + ")";
    if (!active) {
      for (i = 0; i < n; i++) {
        for (j = 0; j < n; j++) { if (m[i][j] >= 0.02) { line(i, j, m[i][j], false); } }
      }
      readout.textContent = "All weights" + where + ". Hover over or focus a token to see its weights; "
        + "arrow keys move between tokens, Escape shows all again.";
      return;
    }
    var a = active.index, pairs = [];
    for (j = 0; j < n; j++) {
      var w = active.side === "q" ? m[a][j] : m[j][a];
      pairs.push([j, w]);
      if (w >= 0.005) { active.side === "q" ? line(a, j, w, true) : line(j, a, w, true); }
      var other = active.side === "q" ? cols.k[j] : cols.q[j];
      other.style.background = "rgba(0, 114, 178, " + (0.6 * w).toFixed(3) + ")";
    }
    pairs.sort(function (x, y) { return y[1] - x[1]; });
    var top = pairs.slice(0, topK).map(function (p) { return quote(tokens[p[0]]) + " " + p[1].toFixed(2); });
    var verb = active.side === "q" ? " attends most to " : " gets most attention from ";
    readout.textContent = quote(tokens[a]) + verb + top.join(", ") + where + ".";
  }
  function activate(side, index) { active = { side: side, index: index }; draw(); }
  function move(side, index) {
    index = Math.max(0, Math.min(n - 1, index));
    cols[side].forEach(function (b, idx) { b.tabIndex = idx === index ? 0 : -1; });
    cols[side][index].focus();
    activate(side, index);  /* also when the page lacks focus and no focus event fires */
  }
  ["q", "k"].forEach(function (side) {
    cols[side].forEach(function (b, idx) {
      b.addEventListener("mouseenter", function () { activate(side, idx); });
      b.addEventListener("focus", function () { activate(side, idx); });
      b.addEventListener("click", function () { activate(side, idx); });
      b.addEventListener("keydown", function (e) {
        var to = { ArrowDown: [side, idx + 1], ArrowUp: [side, idx - 1], Home: [side, 0], End: [side, n - 1],
                   ArrowRight: ["k", idx], ArrowLeft: ["q", idx] }[e.key];
        if (e.key === "Escape") { active = null; draw(); e.preventDefault(); return; }
        if (to) { move(to[0], to[1]); e.preventDefault(); }
      });
    });
  });
  root.querySelector(".hv-main").addEventListener("mouseleave", function () {
    var f = document.activeElement;
    if (f && root.contains(f) && f.classList.contains("hv-token")) {
      activate(f.parentElement.classList.contains("hv-keys") ? "k" : "q", +f.dataset.index);
    } else { active = null; draw(); }
  });
  layerSel.addEventListener("change", draw);
  headSel.addEventListener("change", draw);
  root.querySelectorAll(".hv-live").forEach(function (el) { el.hidden = false; });
  root.querySelector(".hv-static").hidden = true;
  draw();
})();
"""


def _view_id(tokens: Sequence[str], weights: torch.Tensor) -> str:
    """A fresh element id: stable for the same input and call order, unique within a process."""
    digest = hashlib.sha1(json.dumps(tokens).encode() + weights.numpy().tobytes()).hexdigest()[:8]
    return f"hv-{digest}-{next(_counter)}"


def _fill(template: str, values: Mapping[str, str]) -> str:
    """Replace every ``__NAME__`` in one pass, so that inserted text is never rescanned."""
    return re.sub(r"__([A-Z]+)__", lambda match: values[match.group(1)], template)


def _script_json(value: object) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``</script>`` or ``<!--``)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _static_svg(tokens: Sequence[str], matrix: np.ndarray, description: str) -> str:
    """All lines of one head as a static SVG: for print and for readers without scripts."""
    n = len(tokens)
    label_width = 16 + 7 * min(max(len(t) for t in tokens), 18)
    width, height = 2 * label_width + _GAP, n * _ROW
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(description)}" font-family="monospace" font-size="12" fill="currentColor">'
    ]
    for i, token in enumerate(tokens):
        y = (i + 0.5) * _ROW
        text = html.escape(token if len(token) <= 18 else token[:17] + "\u2026")
        middle = f'y="{y:.1f}" dominant-baseline="middle"'
        parts.append(f'<text x="{label_width - 6}" {middle} text-anchor="end">{text}</text>')
        parts.append(f'<text x="{label_width + _GAP + 6}" {middle}>{text}</text>')
    for (i, j), w in np.ndenumerate(matrix):
        if w >= 0.02:
            parts.append(
                f'<line x1="{label_width}" y1="{(i + 0.5) * _ROW:.1f}" x2="{label_width + _GAP}" '
                f'y2="{(j + 0.5) * _ROW:.1f}" stroke="currentColor" stroke-opacity="{min(1.0, w):.3f}" '
                f'stroke-width="{0.5 + 2.5 * w:.2f}"/>'
            )
    parts.append("</svg>")
    return "".join(parts)


# --8<-- [end:head_view_assets]


# --8<-- [start:head_view]
def head_view_html(
    tokens: Sequence[str],
    weights: object,
    *,
    layer: int = 0,
    head: int = 0,
    top_k: int = 3,
    decimals: int = 3,
    element_id: str | None = None,
    name: str | None = None,
    caption: str | None = None,
) -> str:
    """An interactive view of attention heads as one self-contained HTML fragment.

    Lines join each token on the left (the query) to the tokens on the right (the keys); a
    line's width and opacity grow with the weight. Hovering over, clicking or focusing a token
    keeps only its lines and prints its ``top_k`` largest weights as numbers (in an
    ``aria-live`` region). Tokens are buttons: Tab reaches each column, the arrow keys move
    up and down a column and across to the other one, Escape shows all lines again. Two
    labelled ``<select>`` elements choose the layer and the head.

    No file, font or script is loaded from anywhere: the fragment carries its CSS and a few
    lines of JavaScript. Without JavaScript, and on paper (CSS ``@media print``), a static SVG
    of head ``head`` of layer ``layer`` replaces the interactive part.

    Args:
        tokens: the ``n`` tokens.
        weights: ``(layers, heads, n, n)`` attention weights, rows summing to 1.
        layer: the layer shown first and drawn in the static SVG (0-based).
        head: the head shown first and drawn in the static SVG (0-based).
        top_k: how many of the largest weights the readout lists.
        decimals: the weights are rounded to this many decimals to keep the page small.
        element_id: the id of the view's root element; default: a fresh unique one. Every
            other id of the view starts with it, so several views can share a page.
        name: if given, wrap the view in ``<figure class="book-figure" data-figure=name>`` so
            that a chapter can place it like any notebook figure; needs ``caption``.
        caption: the figure caption (only with ``name``).

    Returns:
        The HTML fragment.
    """
    tokens = _check_tokens(tokens)
    array = check_attention_weights(
        weights, ranks=(4,), layout="(layers, heads, n, n)", tokens=tokens
    )
    layers, heads, n, _ = array.shape
    for value, label, count in ((layer, "layer", layers), (head, "head", heads)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
            raise ValueError(f"{label} must be an int in [0, {count - 1}]; got {value!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int; got {top_k!r}")
    if element_id is None:
        element_id = _view_id(tokens, array)
    elif not isinstance(element_id, str) or not _ID.match(element_id):
        raise ValueError(
            f"element_id must be a letter followed by letters, digits, '_' or '-'; got {element_id!r}"
        )
    if (name is None) != (caption is None):
        raise ValueError("name and caption go together: a placed figure needs both")
    if name is not None and not re.match(r"^[a-z0-9][a-z0-9-]*$", name):
        raise ValueError(f"name must be lowercase letters, digits and dashes; got {name!r}")

    values = {
        "ID": element_id, "ROW": str(_ROW), "GAP": str(_GAP), "TOPK": str(top_k),
        "TOKENS": _script_json(tokens), "WEIGHTS": _script_json(np.round(array.numpy(), decimals).tolist()),
    }
    css = _fill(_CSS, values)
    js = _fill(_JS, {**values, "ID": json.dumps(element_id)})

    def options(count: int, selected: int) -> str:
        return "".join(
            f'<option value="{i}"{" selected" if i == selected else ""}>{i + 1}</option>'
            for i in range(count)
        )

    def column(verb: str) -> str:
        return "".join(
            f'<button type="button" class="hv-token" data-index="{i}" tabindex="{0 if i == 0 else -1}" '
            f'aria-pressed="false" title="{html.escape(t)}" '
            f'aria-label="{html.escape(f"token {i + 1} of {n}, {t}: {verb}")}">{html.escape(t)}</button>'
            for i, t in enumerate(tokens)
        )

    description = (
        f"Attention of layer {layer + 1}, head {head + 1}: lines join each token on the left to the "
        "tokens it attends to on the right; wider, darker lines are larger weights."
    )
    view = (
        f'<div class="head-view" id="{element_id}"><style>{css}</style>'
        f'<div class="hv-controls hv-live" hidden>'
        f'<span><label for="{element_id}-layer">Layer</label>'
        f'<select class="hv-layer" id="{element_id}-layer">{options(layers, layer)}</select></span>'
        f'<span><label for="{element_id}-head">Head</label>'
        f'<select class="hv-head" id="{element_id}-head">{options(heads, head)}</select></span></div>'
        f'<div class="hv-main hv-live" hidden>'
        f'<div class="hv-col hv-queries" role="group" aria-label="attending tokens (queries)">'
        f'{column("show the tokens it attends to")}</div>'
        f'<svg class="hv-lines" width="{_GAP}" height="{n * _ROW}" aria-hidden="true"></svg>'
        f'<div class="hv-col hv-keys" role="group" aria-label="attended tokens (keys)">'
        f'{column("show the tokens that attend to it")}</div></div>'
        f'<p class="hv-readout hv-live" aria-live="polite" hidden></p>'
        f'<div class="hv-static"><p class="hv-note">Layer {layer + 1}, head {head + 1} '
        f"(a static copy of the interactive view)</p>"
        f"{_static_svg(tokens, array[layer, head].numpy(), description)}</div>"
        f"<script>{js}</script></div>"
    )
    if name is None:
        return view
    return (
        f'<figure class="book-figure" data-figure="{name}">{view}'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )
# --8<-- [end:head_view]


# --8<-- [start:head_view_class]
@dataclass
class HeadView:
    """`head_view_html` for notebooks: displaying the object shows the interactive view.

    Every display gets fresh element ids, so showing the same view twice on one page is safe.

    >>> weights = torch.tensor([[[[1.0, 0.0], [0.5, 0.5]]]])  # 1 layer, 1 head, 2 tokens
    >>> view = HeadView(["[CLS]", "good"], weights)
    >>> "good" in view._repr_html_()
    True
    """

    tokens: Sequence[str]
    weights: object
    layer: int = 0
    head: int = 0
    top_k: int = 3
    name: str | None = None
    caption: str | None = None

    def __post_init__(self) -> None:
        self.html()  # validate now, not when the notebook first displays the object

    def html(self, element_id: str | None = None) -> str:
        """The HTML fragment (see `head_view_html`)."""
        return head_view_html(
            self.tokens, self.weights, layer=self.layer, head=self.head, top_k=self.top_k,
            element_id=element_id, name=self.name, caption=self.caption,
        )

    def _repr_html_(self) -> str:
        return self.html()

    def save(self, path: str | Path, title: str = "Attention head view") -> Path:
        """Write a standalone HTML page with the view; open it in any browser, offline."""
        path = Path(path)
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title></head><body>{self.html()}</body></html>"
        )
        path.write_text(page, encoding="utf-8")
        return path
# --8<-- [end:head_view_class]
