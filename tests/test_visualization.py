"""Tests of book_code.visualization: figures have the right panels and labels, bad weights are
refused, and the interactive head view is self-contained, accessible and works in a browser."""

from __future__ import annotations

import html as html_lib
import json
import os
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from bs4 import BeautifulSoup
from matplotlib.figure import Figure

from book_code.positional import frequencies, sinusoidal_encoding
from book_code.visualization import (
    HeadView,
    attention_grid,
    attention_heatmap,
    check_attention_weights,
    head_view_html,
    offset_similarity,
    positional_heatmap,
    positional_similarity,
    token_fontsize,
    training_curves,
)

TOKENS = ["[CLS]", "the", "movie", "was", "good"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def random_weights(*shape: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.softmax(2 * torch.randn(*shape, generator=generator, dtype=torch.float64), dim=-1)


def tick_texts(labels) -> list[str]:
    return [label.get_text() for label in labels]


# Heatmap of one head.

def test_heatmap_labels_axes_with_the_tokens_and_draws_the_weights():
    weights = random_weights(5, 5)
    fig = attention_heatmap(weights, TOKENS, title="layer 1, head 1")
    assert isinstance(fig, Figure)
    ax, colorbar = fig.axes
    assert tick_texts(ax.get_xticklabels()) == TOKENS
    assert tick_texts(ax.get_yticklabels()) == TOKENS
    assert all(label.get_rotation() == 90 for label in ax.get_xticklabels())
    assert ax.get_xlabel() == "key (attended to)" and ax.get_ylabel() == "query (attending)"
    assert ax.get_title() == "layer 1, head 1"
    assert colorbar.get_ylabel() == "attention weight"
    (image,) = ax.get_images()
    assert image.get_cmap().name == "cividis"
    np.testing.assert_allclose(image.get_array(), weights.numpy())
    assert image.get_clim() == (0.0, pytest.approx(weights.max().item()))


def test_small_heatmaps_print_their_numbers_and_large_ones_do_not():
    weights = torch.tensor([[1.0, 0.0], [0.25, 0.75]])
    fig = attention_heatmap(weights, ["a", "b"])
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["0.00", "0.25", "0.75", "1.00"]
    big = attention_heatmap(random_weights(12, 12), [f"t{i}" for i in range(12)])
    assert len(big.axes[0].texts) == 0


def test_tick_font_shrinks_as_tokens_grow():
    assert token_fontsize(40) < token_fontsize(10) <= 9.0
    few = attention_heatmap(random_weights(5, 5), TOKENS)
    many = attention_heatmap(random_weights(60, 60), [f"t{i}" for i in range(60)])
    size = lambda fig: fig.axes[0].get_xticklabels()[0].get_fontsize()  # noqa: E731
    assert size(many) < size(few)


def test_heatmap_draws_into_given_axes_without_a_new_figure():
    fig, axes = plt.subplots(1, 2)
    before = plt.get_fignums()
    assert attention_heatmap(random_weights(5, 5), TOKENS, ax=axes[1], colorbar=False) is fig
    assert plt.get_fignums() == before
    assert tick_texts(axes[1].get_xticklabels()) == TOKENS and not axes[0].get_images()


# Grid of all layers and heads.

@pytest.mark.parametrize(("layers", "heads"), [(1, 1), (2, 3), (3, 4)])
def test_grid_has_one_panel_per_layer_and_head(layers, heads):
    weights = random_weights(layers, heads, 5, 5)
    fig = attention_grid(weights, TOKENS)
    panels, colorbar = fig.axes[:-1], fig.axes[-1]
    assert len(panels) == layers * heads
    assert colorbar.get_ylabel() == "attention weight"
    for index, ax in enumerate(panels):
        layer, head = divmod(index, heads)
        assert ax.get_title() == f"layer {layer + 1}, head {head + 1}"
        np.testing.assert_allclose(ax.get_images()[0].get_array(), weights[layer, head].numpy())
        # One colour scale for all panels, so they can be compared.
        assert ax.get_images()[0].get_clim() == pytest.approx((0.0, weights.max().item()))
        # Token labels on the bottom row (keys) and the left column (queries) only.
        assert all(t.label1.get_visible() for t in ax.xaxis.get_major_ticks()) == (layer == layers - 1)
        assert all(t.label1.get_visible() for t in ax.yaxis.get_major_ticks()) == (head == 0)
    assert tick_texts(panels[-1].get_xticklabels()) == TOKENS
    assert tick_texts(panels[0].get_yticklabels()) == TOKENS


# Validation of attention weights.

@pytest.mark.parametrize(
    ("weights", "tokens", "message"),
    [
        (torch.ones(5, 4) / 4, TOKENS, "square"),
        (random_weights(4, 4), TOKENS, "4 tokens per row but 5 tokens"),
        (random_weights(2, 5, 5), TOKENS, "3 dimensions"),
        (torch.full((5, 5), 0.2) + 0.4 * (torch.eye(5).roll(1, 0) - torch.eye(5)), TOKENS, "non-negative"),
        (torch.full((5, 5), 0.1), TOKENS, "sum to 1"),
        (torch.full((5, 5), float("nan")), TOKENS, "finite"),
    ],
    ids=["not-square", "token-count", "wrong-rank", "negative", "rows", "nan"],
)
def test_heatmap_refuses_bad_weights(weights, tokens, message):
    with pytest.raises(ValueError, match=message):
        attention_heatmap(weights, tokens)


def test_grid_and_view_refuse_the_wrong_rank_and_shape():
    with pytest.raises(ValueError, match=r"\(layers, heads, n, n\)"):
        attention_grid(random_weights(2, 5, 5), TOKENS)
    with pytest.raises(ValueError, match=r"\(layers, heads, n, n\)"):
        head_view_html(TOKENS, random_weights(5, 5))
    with pytest.raises(ValueError, match="square"):
        head_view_html(TOKENS, torch.ones(1, 1, 5, 4) / 4)
    with pytest.raises(ValueError, match="6 tokens"):
        head_view_html([*TOKENS, "!"], random_weights(1, 1, 5, 5))


def test_bad_tokens_are_refused():
    with pytest.raises(TypeError, match="strings"):
        attention_heatmap(random_weights(2, 2), ["a", 3])
    with pytest.raises(TypeError, match="sequence of strings"):
        attention_heatmap(random_weights(2, 2), "ab")
    with pytest.raises(ValueError, match="empty"):
        head_view_html([], torch.zeros(1, 1, 0, 0))


def test_fully_masked_rows_of_zeros_are_accepted_but_not_other_sums():
    weights = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    assert check_attention_weights(weights).dtype == torch.float64
    assert check_attention_weights(weights * 0.5, stochastic=False) is not None
    with pytest.raises(ValueError, match=r"row \(0,\) sums to 0.5"):
        check_attention_weights(weights * 0.5)
    with pytest.raises(TypeError, match="numbers"):
        check_attention_weights([["a", "b"], ["c", "d"]])


# Training curves.

HISTORY = [
    {"epoch": 1, "train_loss": 0.9, "dev_loss": 0.8, "dev_accuracy": 0.6, "best": True},
    {"epoch": 2, "train_loss": 0.6, "dev_loss": None, "dev_accuracy": 0.7, "best": True},
    {"epoch": 3, "train_loss": 0.4, "dev_loss": 0.7, "dev_accuracy": 0.65, "best": False},
]


def test_training_curves_draw_losses_and_metrics_by_epoch():
    fig = training_curves(HISTORY)
    loss_ax, metric_ax = fig.axes
    assert [line.get_label() for line in loss_ax.get_lines()][:2] == ["train_loss", "dev_loss"]
    train, dev, best = loss_ax.get_lines()
    np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(dev.get_xdata(), [1, 3])  # None leaves a gap
    np.testing.assert_array_equal(dev.get_ydata(), [0.8, 0.7])
    assert best.get_xdata()[0] == 2 and "best" in best.get_label()
    assert metric_ax.get_lines()[0].get_label() == "dev_accuracy"
    assert loss_ax.get_xlabel() == "epoch" and loss_ax.get_ylabel() == "loss"
    assert metric_ax.get_ylabel() == "metric"
    # Curves differ in line style, not only in colour.
    assert train.get_linestyle() != dev.get_linestyle()


def test_training_curves_with_only_losses_and_without_epochs():
    fig = training_curves([{"loss": 1.0}, {"loss": 0.5}])
    (ax,) = fig.axes
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2])


@pytest.mark.parametrize(
    ("history", "kwargs", "message"),
    [
        ([], {}, "non-empty"),
        ({"loss": 1.0}, {}, "non-empty"),
        (HISTORY, {"loss_keys": ["val_loss"]}, "'val_loss'"),
        ([{"epoch": 1}], {}, "nothing to draw"),
    ],
)
def test_training_curves_refuse_bad_histories(history, kwargs, message):
    with pytest.raises(ValueError, match=message):
        training_curves(history, **kwargs)


# Position encodings.

def test_positional_heatmap_has_positions_down_and_dimensions_across():
    table = sinusoidal_encoding(20, 8)
    fig = positional_heatmap(table, title="sinusoidal")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "encoding dimension" and ax.get_ylabel() == "position"
    assert ax.get_images()[0].get_array().shape == (20, 8)
    assert ax.get_images()[0].get_clim() == pytest.approx((-1.0, 1.0))
    with pytest.raises(ValueError, match="positions, embed_dim"):
        positional_heatmap(torch.zeros(4))


def test_sinusoidal_similarity_depends_on_the_offset_only():
    table = sinusoidal_encoding(40, 16, dtype=torch.float64)
    offsets, dots = offset_similarity(table, max_offset=10, measure="dot")
    expected = [torch.cos(k * frequencies(16)).sum().item() for k in range(11)]  # sum_i cos(k theta_i)
    np.testing.assert_allclose(offsets, np.arange(11))
    np.testing.assert_allclose(dots, expected, atol=1e-10)
    _, cosine = offset_similarity(table)
    assert cosine[0] == pytest.approx(1.0)
    np.testing.assert_allclose(cosine[:11], np.array(expected) / 8, atol=1e-10)  # |PE(p)|^2 = d/2
    with pytest.raises(ValueError, match="max_offset"):
        offset_similarity(table, max_offset=40)
    with pytest.raises(ValueError, match="measure"):
        offset_similarity(table, measure="l2")


def test_positional_similarity_draws_one_curve_per_table():
    tables = {"sinusoidal": sinusoidal_encoding(30, 8), "learned": torch.randn(20, 8)}
    ax = positional_similarity(tables).axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["sinusoidal", "learned"]
    assert len(ax.get_lines()[0].get_xdata()) == 20  # the shortest table decides
    assert ax.get_xlabel() == "offset k between positions" and ax.get_ylabel() == "cosine similarity"


# The interactive head view.

def view(tokens=TOKENS, layers=2, heads=3, **kwargs) -> str:
    return head_view_html(tokens, random_weights(layers, heads, len(tokens), len(tokens)), **kwargs)


def test_head_view_loads_nothing_from_elsewhere():
    page = view()
    assert "http" not in page.lower()
    for attribute in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page):
        assert "//" not in attribute
    assert "<link" not in page and "@import" not in page and "url(" not in page
    soup = BeautifulSoup(page, "html.parser")
    assert all(not script.get("src") for script in soup.find_all("script"))
    assert len(soup.find_all("script")) == 1


def test_head_view_shows_every_token_escaped():
    tokens = ["[CLS]", "<b>bold</b>", 'say "hi"', "</script>", "WEIGHTS", "__ID__"]
    page = view(tokens)
    soup = BeautifulSoup(page, "html.parser")
    buttons = soup.select(".hv-queries .hv-token")
    assert [b.get_text() for b in buttons] == tokens
    assert [b.get_text() for b in soup.select(".hv-keys .hv-token")] == tokens
    static_texts = [t.get_text() for t in soup.select(".hv-static text")]
    assert static_texts == [t for token in tokens for t in (token, token)]
    assert "<b>bold</b>" not in page and page.count("</script>") == 1
    # The script's data round-trips: tokens and weights reach the JavaScript unchanged.
    script = soup.find("script").string
    data = re.search(r"var tokens = (.*?), weights = (.*?), topK", script)
    assert json.loads(data.group(1)) == tokens
    assert np.asarray(json.loads(data.group(2))).shape == (2, 3, 6, 6)


def test_head_view_is_operable_from_the_keyboard():
    page = view(element_id="demo")
    soup = BeautifulSoup(page, "html.parser")
    tokens = soup.select(".hv-token")
    assert len(tokens) == 2 * len(TOKENS)
    for button in tokens:
        assert button.name == "button" and button["type"] == "button"
        assert button["tabindex"] in ("0", "-1") and button["aria-label"]
    # One tab stop per column (roving tabindex): arrow keys move inside the column.
    for column in soup.select(".hv-col"):
        assert [b["tabindex"] for b in column.select(".hv-token")].count("0") == 1
        assert column["role"] == "group" and column["aria-label"]
    assert "token 3 of 5, movie" in soup.select(".hv-queries .hv-token")[2]["aria-label"]
    for what, count in (("layer", 2), ("head", 3)):
        select = soup.find("select", id=f"demo-{what}")
        assert soup.find("label", attrs={"for": f"demo-{what}"}).get_text() == what.capitalize()
        assert [o["value"] for o in select.find_all("option")] == [str(i) for i in range(count)]
    assert soup.select_one(".hv-readout")["aria-live"] == "polite"
    assert soup.select_one(".hv-lines")["aria-hidden"] == "true"
    assert "ArrowDown" in page and "ArrowUp" in page and "Escape" in page


def test_head_view_falls_back_to_a_static_svg_in_print_and_without_scripts():
    weights = random_weights(2, 3, 5, 5)
    page = head_view_html(TOKENS, weights, layer=1, head=2)
    soup = BeautifulSoup(page, "html.parser")
    static = soup.select_one(".hv-static")
    assert static is not None and not static.has_attr("hidden")  # shown until the script runs
    assert all(part.has_attr("hidden") for part in soup.select(".hv-live"))
    svg = static.find("svg")
    assert svg["role"] == "img" and "layer 2, head 3" in svg["aria-label"]
    assert "Layer 2, head 3" in static.get_text()
    expected_lines = int((weights[1, 2] >= 0.02).sum())
    assert len(svg.find_all("line")) == expected_lines
    css = soup.find("style").string
    media = css[css.index("@media print"):]
    assert ".hv-live { display: none !important; }" in media
    assert ".hv-static { display: block !important; }" in media
    # Width and opacity carry the weight (not colour alone), and the readout prints numbers.
    assert "stroke-width" in page and "stroke-opacity" in page and "toFixed(2)" in page


def test_head_view_ids_are_unique_per_instance():
    weights = random_weights(1, 2, 5, 5)
    page = head_view_html(TOKENS, weights) + head_view_html(TOKENS, weights)
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)) == 6  # root, layer select, head select; twice
    roots = BeautifulSoup(page, "html.parser").select(".head-view")
    assert roots[0]["id"] != roots[1]["id"]
    for root in roots:  # every CSS rule is scoped to its own view
        css = root.find("style").string
        selectors = [s for s in re.findall(r"([^{}]+)\{", css) if not s.strip().startswith("@media")]
        assert all(s.strip().startswith(f"#{root['id']}") for s in selectors)


def test_head_view_arguments_are_checked():
    with pytest.raises(ValueError, match="layer"):
        view(layer=2)
    with pytest.raises(ValueError, match="head"):
        view(head=-1)
    with pytest.raises(ValueError, match="top_k"):
        view(top_k=0)
    with pytest.raises(ValueError, match="element_id"):
        view(element_id="bad id")
    with pytest.raises(ValueError, match="caption"):
        view(name="ch08-view")
    with pytest.raises(ValueError, match="sum to 1"):
        head_view_html(TOKENS, torch.full((1, 1, 5, 5), 0.3))
    with pytest.raises(ValueError, match="non-negative"):
        head_view_html(["a", "b"], torch.tensor([[[[1.5, -0.5], [0.5, 0.5]]]]))


def test_named_head_view_is_a_book_figure_that_the_build_can_place():
    hooks = pytest.importorskip("tools.mkdocs_hooks")
    page = view(name="ch08-head-view", caption="Figure 8.1: one head.")
    match = hooks._FIGURE.search(page)
    assert match is not None and match.group(1) == "ch08-head-view"
    assert match.group(0) == page  # the whole view, script included, travels to the chapter
    assert page.endswith("<figcaption>Figure 8.1: one head.</figcaption></figure>")


def test_head_view_object_displays_in_notebooks_and_saves_a_page(tmp_path):
    hv = HeadView(TOKENS, random_weights(1, 2, 5, 5), head=1)
    first, second = hv._repr_html_(), hv._repr_html_()
    assert first != second  # fresh ids each display
    assert all(token in first for token in TOKENS)
    path = hv.save(tmp_path / "view.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and '<meta charset="utf-8">' in text
    with pytest.raises(ValueError, match="sum to 1"):
        HeadView(TOKENS, torch.full((1, 1, 5, 5), 0.5))


DRIVER = """
<pre id="result"></pre>
<script>
(function () {
  var out = {}, root = document.getElementById("demo");
  var qs = root.querySelectorAll(".hv-queries .hv-token"), lines = root.querySelector(".hv-lines");
  function key(name) {
    document.activeElement.dispatchEvent(new KeyboardEvent("keydown", {key: name, bubbles: true}));
  }
  out.staticHidden = root.querySelector(".hv-static").hidden;
  out.liveShown = Array.from(root.querySelectorAll(".hv-live")).every(function (e) { return !e.hidden; });
  out.allLines = lines.querySelectorAll("line").length;
  qs[1].focus();
  if (!document.hasFocus()) { qs[1].dispatchEvent(new FocusEvent("focus")); }  /* a busy headless run */
  out.focusLines = lines.querySelectorAll("line").length;
  out.readoutFocus = root.querySelector(".hv-readout").textContent;
  out.pressed = qs[1].getAttribute("aria-pressed");
  key("ArrowDown");
  out.afterDown = document.activeElement.textContent;
  out.tabindex = Array.from(qs).map(function (b) { return b.tabIndex; });
  key("ArrowRight");
  out.afterRight = document.activeElement.parentElement.classList.contains("hv-keys");
  out.readoutKey = root.querySelector(".hv-readout").textContent;
  var select = root.querySelector(".hv-layer");
  select.value = "1";
  select.dispatchEvent(new Event("change"));
  out.readoutLayer = root.querySelector(".hv-readout").textContent;
  key("Escape");
  out.readoutEscape = root.querySelector(".hv-readout").textContent;
  out.rowTops = Array.from(qs).map(function (b) { return b.getBoundingClientRect().top; });
  out.svgTop = lines.getBoundingClientRect().top;
  document.getElementById("result").textContent = JSON.stringify(out);
})();
</script>
"""


@pytest.mark.slow
def test_head_view_works_in_a_browser(tmp_path):
    browser = pytest.importorskip("tools.browser")
    chromium = browser.find_chromium()
    if chromium is None:
        if os.environ.get("BOOK_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required (BOOK_REQUIRE_BROWSER is set) but not installed")
        pytest.skip("Chromium is not installed")
    weights = torch.zeros(2, 1, 5, 5, dtype=torch.float64)
    weights[0, 0, :, 0] = 1.0  # layer 1: everyone attends to [CLS]
    weights[1, 0] = torch.eye(5)  # layer 2: everyone attends to itself
    page = tmp_path / "view.html"
    page.write_text(
        "<!doctype html><html><body>" + head_view_html(TOKENS, weights, element_id="demo") + DRIVER
        + "</body></html>", encoding="utf-8",
    )
    result = browser.run_chromium(chromium, "--dump-dom", page.as_uri(), timeout=120)
    match = re.search(r'<pre id="result">(.*?)</pre>', result.stdout, re.S)
    assert match and match.group(1), result.stderr[-2000:]
    out = json.loads(html_lib.unescape(match.group(1)))
    assert out["staticHidden"] and out["liveShown"]
    assert out["allLines"] == 5  # five weights of 1, no others
    assert out["focusLines"] == 1 and out["pressed"] == "true"
    assert out["readoutFocus"].startswith("\u201cthe\u201d attends most to \u201c[CLS]\u201d 1.00")
    assert out["afterDown"] == "movie" and out["tabindex"] == [-1, -1, 0, -1, -1]
    assert out["afterRight"]
    assert out["readoutKey"].startswith("\u201cmovie\u201d gets most attention from")
    assert "(layer 2, head 1)" in out["readoutLayer"] and "\u201cmovie\u201d 1.00" in out["readoutLayer"]
    assert out["readoutEscape"].startswith("All weights (layer 2, head 1)")
    # Buttons and lines share one row height, so the lines end at their tokens.
    assert np.diff(out["rowTops"]).tolist() == [24.0] * 4 and out["rowTops"][0] == out["svgTop"]
