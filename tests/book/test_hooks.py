"""Unit tests of the build hooks that do not need a whole build."""

from __future__ import annotations

from tools.mkdocs_hooks import _MATHJAX_SCRIPTS, _used_classes, trim_css


def test_trim_css_keeps_only_selectors_of_used_classes():
    css = (
        ".a .b{color:red}.c{color:blue}.a:not(.zzz){margin:0}p{padding:1px}"
        "@media print{.c{x:1}.a{y:2}}@font-face{font-family:X}"
    )
    trimmed = trim_css(css, {"a", "b"})
    assert ".a .b{color:red}" in trimmed
    assert ".c{" not in trimmed
    assert ".a:not(.zzz){margin:0}" in trimmed  # a class inside :not() need not be present
    assert "p{padding:1px}" in trimmed
    assert "@media print{.a{y:2}}" in trimmed
    assert "@font-face" in trimmed


def test_trim_css_keeps_the_used_part_of_a_selector_list():
    assert trim_css(".x,.y{color:red}", {"y"}) == ".y{color:red}"


def test_used_classes_reads_every_class_attribute():
    assert _used_classes('<div class="a b"><span class="c"></span></div>') == {"a", "b", "c"}


def test_mathjax_scripts_pattern_matches_the_configured_tags():
    html = (
        '<script src="../javascripts/math-setup.js"></script>'
        '<script src="../assets/mathjax/startup.js"></script>'
    )
    assert _MATHJAX_SCRIPTS.sub("", html) == ""
