"""A small, rule-based word tokenizer in the style of the Penn Treebank (PTB).

The book's datasets are English sentences. SST-2 ships them already lower-cased and
PTB-tokenised (``"it 's not a bad film ."``); our synthetic task and a reader's own text do not.
`tokenize` turns both into the same kind of token list, so that a model trained on one can
read the other. The rules, applied in this order:

1. **Normalise.** Unicode NFC, then lower-case. Typographic quotes and dashes become their
   PTB spellings: ``“ ”`` become ``` `` ``` and ``''``, ``‘ ’`` become ``` ` ``` and ``'``,
   ``…`` becomes ``...`` and the en and em dashes become ``--``. A straight double quote
   becomes ``` `` ``` when it opens (at the start or after a space or bracket), ``''``
   otherwise.
2. **Split clitics as PTB does.** ``n't`` is its own token (``don't`` -> ``do n't``,
   ``can't`` -> ``ca n't``, ``won't`` -> ``wo n't``), and so are ``'s 're 've 'll 'd 'm``
   (``it's`` -> ``it 's``). ``cannot``, ``gonna``, ``wanna`` and ``gotta`` split into two
   words (``can not``, ``gon na``, ...).
3. **Cut the text into tokens.** A token is, first match wins:

   * a clitic (``n't``, ``'s`` ...), ``'em``, ``'til``, ``'n'`` or ``'n``, ``ol'``, or a
     two-digit year such as ``'70s``;
   * an abbreviation from a fixed list (``mr.``, ``vs.``, ``etc.`` ..., and ``no.``
     before a number) or initials (``e.t.``, ``u.s.``, ``j.``; a lone ``i.`` is the pronoun
     ending a sentence, so it is split);
   * a number with thousands separators or a clock time (``10,000``, ``2:30pm``);
   * a word: letters, digits and underscores, possibly joined by single inner ``-``, ``/``,
     ``&``, ``'`` or ``.`` (``old-fashioned``, ``and/or``, ``r&b``, ``o'clock``, ``1.8``),
     and keeping a hyphen that hangs before a space (``anti- castro``, ``pre- and post-war``);
   * punctuation: a run of ``?`` and ``!`` (``?!``), or a run of one repeated character
     (``...``, ``--``, ``***``), or any single other symbol (``,``, ``(``, ``$``).

   Whitespace separates tokens and is dropped.

The rules are idempotent: tokenising the space-joined output again gives the same tokens, so
SST-2's text (already tokenised this way) comes back unchanged: ``tokenize(s) == s.split()``
for every SST-2 sentence (a test checks them all). A rule-based tokenizer makes
choices that are sometimes wrong: a sentence that ends in a single letter (``"plan b."``)
keeps the period on the letter, as initials do.
"""

from __future__ import annotations

# --8<-- [start:imports]
import re
import unicodedata

# --8<-- [end:imports]

__all__ = ["ABBREVIATIONS", "tokenize"]

# --8<-- [start:tokenize]
# Words that keep their final period. The state names (wash., pa.) appear in SST-2.
ABBREVIATIONS = (
    "mr", "mrs", "ms", "dr", "prof", "jr", "sr", "st", "vs", "etc", "inc", "co", "ltd", "bros",
    "al", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "wash", "pa", "calif", "mt", "ft",
)
_TYPOGRAPHY = str.maketrans({
    "\u201c": "``", "\u201d": "''", "\u2018": "`", "\u2019": "'",
    "\u2026": "...", "\u2013": " -- ", "\u2014": " -- ",
})
_OPENING_QUOTE = re.compile(r'(?:^|(?<=[\s(\[{]))"')
_CLITICS = (  # PTB splits these off the word they are attached to
    (re.compile(r"\b(can)(not)\b"), r"\1 \2"),
    (re.compile(r"\b(gon|wan)(na)\b|\b(got)(ta)\b"), r"\1\3 \2\4"),
    (re.compile(r"(?<=\w)(n't)\b"), r" \1"),
    (re.compile(r"(?<=\w)('(?:s|re|ve|ll|d|m))\b"), r" \1"),
)
_TOKEN = re.compile(
    r"""
      n't(?!\w)                                       # clitics, already split off above
    | (?<!\w)'(?:s|re|ve|ll|d|m|em|til|n'?|\d\ds?)(?!\w)  # ... 'em 'n' '70s
    | (?<!\w)ol'(?!\w)
    | (?<!\w)(?:{abbreviations})\.(?!\w)              # mr. vs. etc.
    | (?<!\w)no\.(?=\s*\d)                            # no. 1
    | (?<!\w)(?:[^\W\d_]\.){{2,}}(?!\w)                # initials: e.t. u.s.
    | (?<!\w)(?!i\.)[^\W\d_]\.(?!\w)                  # one initial: j. (not the pronoun i.)
    | \d+(?:[,:]\d+)+\w*                              # 10,000  2:30pm
    | \w+(?:[-/&'.]\w+)*(?:-(?=\s|$))?                # old-fashioned and/or 1.8 anti-
    | [?!]+                                           # ?!
    | ([^\w\s])\1*                                    # ... -- *** or one symbol
    """.format(abbreviations="|".join(ABBREVIATIONS)),
    re.VERBOSE,
)


def tokenize(text: str) -> list[str]:
    """Split ``text`` into lower-cased, PTB-style word tokens (rules in the module docstring).

    Args:
        text: Any string; already tokenised text (such as SST-2's) is returned unchanged.

    Returns:
        The tokens, in order. An empty or all-whitespace text gives ``[]``.

    Raises:
        TypeError: If ``text`` is not a string.

    >>> tokenize("Frankly, it wasn't THAT bad... 10,000 stars!")
    ['frankly', ',', 'it', 'was', "n't", 'that', 'bad', '...', '10,000', 'stars', '!']
    >>> tokenize("it 's not a well-made film .")
    ['it', "'s", 'not', 'a', 'well-made', 'film', '.']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    text = unicodedata.normalize("NFC", text.lower()).translate(_TYPOGRAPHY)
    text = _OPENING_QUOTE.sub("``", text).replace('"', "''")
    previous = None
    while text != previous:  # until no clitic is left attached (a split can expose another)
        previous = text
        for pattern, replacement in _CLITICS:
            text = pattern.sub(replacement, text)
    return [match.group(0) for match in _TOKEN.finditer(text)]
# --8<-- [end:tokenize]
