"""Counterfactual sentences: swap identity terms in any text and see whether a model notices.

A counterfactual of ``"He thanked his sister."`` is ``"She thanked her brother."``: the same
sentence about someone of another gender. If a classifier scores the two differently, the
difference can only come from the swapped words. `counterfactuals` makes such sentences for the
reader's own text, with word-boundary and capitalisation-aware substitution; the default table
swaps gendered words and the EEC's first names.
"""

from __future__ import annotations

# --8<-- [start:imports]
import itertools
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from book_code.bias.eec import GENDERS, NAMES, RACES

# --8<-- [end:imports]


# --8<-- [start:checks]
def _check_sentence(sentence: object) -> None:
    if not isinstance(sentence, str):
        raise TypeError(f"sentence must be a str; got {type(sentence).__name__}")


_WORD = re.compile(r"\w+(?:[\w' -]*\w)?")


def _check_mapping(mapping: object) -> dict[str, list[str]]:
    """Validate a substitution table; return it as word -> list of replacements."""
    if not isinstance(mapping, Mapping):
        raise TypeError(
            f"substitutions must be a mapping of word -> replacement; got {type(mapping).__name__}"
        )
    options = {}
    for key, value in mapping.items():
        if not isinstance(key, str) or not _WORD.fullmatch(key):
            raise ValueError(f"substitution keys must be words (letters, digits, spaces inside); got {key!r}")
        values = [value] if isinstance(value, str) else value
        if (not isinstance(values, list | tuple) or not values
                or not all(isinstance(v, str) and v for v in values)):
            raise ValueError(
                f"the replacement for {key!r} must be a non-empty string or a non-empty list of them; "
                f"got {value!r}"
            )
        options[key] = list(values)
    return options
# --8<-- [end:checks]


# --8<-- [start:gender_words]
# (male, female) pairs. All translate one-to-one both ways except him/her (see _gender_table).
GENDER_WORD_PAIRS: tuple[tuple[str, str], ...] = (
    ("he", "she"), ("him", "her"), ("himself", "herself"),
    ("man", "woman"), ("men", "women"), ("boy", "girl"), ("boys", "girls"),
    ("father", "mother"), ("fathers", "mothers"), ("dad", "mom"), ("dads", "moms"),
    ("daddy", "mommy"), ("son", "daughter"), ("sons", "daughters"),
    ("brother", "sister"), ("brothers", "sisters"), ("husband", "wife"), ("husbands", "wives"),
    ("boyfriend", "girlfriend"), ("boyfriends", "girlfriends"), ("uncle", "aunt"),
    ("uncles", "aunts"), ("nephew", "niece"), ("nephews", "nieces"),
    ("grandfather", "grandmother"), ("grandson", "granddaughter"), ("king", "queen"),
    ("prince", "princess"), ("gentleman", "lady"), ("gentlemen", "ladies"), ("sir", "madam"),
    ("mr", "mrs"), ("male", "female"), ("males", "females"), ("actor", "actress"),
    ("waiter", "waitress"), ("groom", "bride"), ("spokesman", "spokeswoman"),
    ("chairman", "chairwoman"), ("businessman", "businesswoman"),
)


def _gender_table() -> dict[str, str]:
    table = {}
    for male, female in GENDER_WORD_PAIRS:
        table[male], table[female] = female, male
    # his/her/hers are not one-to-one: "her" is both "his" (her book) and "him" (I saw her), and
    # "his" is both "her" (his book) and "hers" (the book is his). The table holds the
    # determiner reading; `substitute` switches to the pronoun reading by context.
    table.update({"his": "her", "her": "his", "hers": "his"})
    # First names: the i-th female name of a list <-> the i-th male name of the same race. The
    # pairing is arbitrary but fixed (the lists are alphabetical), and one-to-one.
    for race in RACES:
        for female, male in zip(NAMES["female", race], NAMES["male", race], strict=True):
            table[female], table[male] = male, female
    return table


# Read-only views: edit a copy, e.g. {**GENDER_SUBSTITUTIONS, "nurse": "doctor"}.
GENDER_SUBSTITUTIONS: Mapping[str, str] = MappingProxyType(_gender_table())
# The i-th African-American name <-> the i-th European name of the same gender.
RACE_SUBSTITUTIONS: Mapping[str, str] = MappingProxyType({
    name: other
    for gender in GENDERS
    for race, other_race in zip(RACES, RACES[::-1], strict=True)
    for name, other in zip(NAMES[gender, race], NAMES[gender, other_race], strict=True)
})
# --8<-- [end:gender_words]


# --8<-- [start:pronoun_rule]
# Words that never begin the noun phrase a possessive "her"/"his" introduces: determiners,
# prepositions, conjunctions, auxiliaries, some adverbs and verbs that follow an object
# ("made her feel"). A "her" before one of them (or before punctuation or the end) is the object
# pronoun, so it becomes "him"; a "his" there stands alone, so it becomes "hers".
NOT_A_NOUN = frozenset(
    """a an the this that these those my your his her its our their some any no every each all
    to for with in on at about from by into onto of over under up down out off away around through
    after before since until as like than and or but nor so because if when while who whom which
    is was are were be been being am has have had will would can could shall should may might must
    do does did not too very again now then there here today yesterday tomorrow once twice always
    never often soon later alone together anymore either neither also just even still
    feel go come know see say think get make take want leave stay cry laugh sing eat tell ask give
    find seem become believe understand remember forget""".split()
)


def _pronoun_reading(word: str, replacement: str, following: str) -> str:
    """Switch the determiner reading of her/his to the pronoun reading when the context asks."""
    pair = (word.lower(), replacement.lower())
    if pair not in (("her", "his"), ("his", "her")):
        return replacement
    next_word = re.match(r"\s*([A-Za-z]+)", following)
    standalone = next_word is None or next_word.group(1).lower() in NOT_A_NOUN
    if not standalone:
        return replacement
    return "him" if pair == ("her", "his") else "hers"
# --8<-- [end:pronoun_rule]


# --8<-- [start:substitute]
class _Table:
    """A validated substitution table with its compiled pattern.

    Lowercase keys match in any case ("he", "He", "HE"); capitalised keys are proper names and
    match only as written ("Jack", not "jack"). Longer keys come first in the pattern, so a
    multi-word key ("this man") wins over a key inside it ("man").
    """

    def __init__(self, mapping: Mapping[str, str | Sequence[str]]) -> None:
        self.options = _check_mapping(mapping)
        self.lower = {k.lower(): k for k in self.options if not k[0].isupper()}
        parts = [re.escape(k) if k[0].isupper() else f"(?i:{re.escape(k)})"
                 for k in sorted(self.options, key=len, reverse=True)]
        self.pattern = re.compile(r"\b(?:" + "|".join(parts) + r")\b")

    def key(self, word: str) -> str:
        """The key that a matched ``word`` stands for."""
        return word if word[0].isupper() and word in self.options else self.lower[word.lower()]


def _table(mapping: Mapping[str, str | Sequence[str]]) -> _Table:
    # The two built-in tables are read-only, so their compiled form can be kept.
    if mapping is GENDER_SUBSTITUTIONS or mapping is RACE_SUBSTITUTIONS:
        if id(mapping) not in _BUILT_IN:
            _BUILT_IN[id(mapping)] = _Table(mapping)
        return _BUILT_IN[id(mapping)]
    return _Table(mapping)


_BUILT_IN: dict[int, _Table] = {}


def _match_case(original: str, replacement: str) -> str:
    if len(original) > 1 and original.isupper():
        return replacement.upper()
    if original[0].isupper():
        return replacement[0].upper() + replacement[1:]
    return replacement


def substitute(sentence: str, mapping: Mapping[str, str]) -> str:
    """Replace every whole-word occurrence of a key of ``mapping`` by its value, all at once.

    Matching respects word boundaries (``"he"`` is not replaced inside ``"the"``), is
    case-insensitive for lowercase keys and exact for capitalised keys (names), and keeps the case
    of the original word (``"He"`` -> ``"She"``). Replacements happen simultaneously, so a
    table that swaps he <-> she swaps, rather than undoes itself. When ``mapping`` maps
    her -> his or his -> her, the pronoun rule of `NOT_A_NOUN` picks him or hers where the word
    stands alone.

    Args:
        sentence: Any text.
        mapping: Word -> replacement.

    Returns:
        The text with the replacements.

    Example:
        >>> substitute("He gave her his book.", GENDER_SUBSTITUTIONS)
        'She gave him her book.'
    """
    _check_sentence(sentence)
    table = _table(mapping)
    if any(len(v) != 1 for v in table.options.values()):
        raise ValueError("substitute needs one replacement per word; use counterfactuals for lists")

    def replace(match: re.Match[str]) -> str:
        word = match.group(0)
        (replacement,) = table.options[table.key(word)]
        replacement = _pronoun_reading(word, replacement, sentence[match.end():])
        return _match_case(word, replacement)

    return table.pattern.sub(replace, sentence) if table.options else sentence
# --8<-- [end:substitute]


# --8<-- [start:counterfactuals]
def counterfactuals(
    sentence: str,
    substitutions: Mapping[str, str | Sequence[str]] | None = None,
    limit: int = 100,
) -> list[str]:
    """Counterfactual versions of ``sentence``: identity terms replaced, everything else kept.

    Each key found in the sentence is replaced by one of its alternatives, all occurrences of it
    the same way. A key with several alternatives (a name -> a list of names) multiplies the
    results: the counterfactuals are every combination of alternatives, in order, up to
    ``limit``. Results equal to the original are dropped; a sentence without any key has none.

    Args:
        sentence: Any text.
        substitutions: Word -> replacement, or word -> list of replacements. Defaults to
            `GENDER_SUBSTITUTIONS` (gendered words and the EEC's first names, both ways).
        limit: The most counterfactuals to return.

    Returns:
        Distinct counterfactual sentences.

    Example:
        >>> counterfactuals("My brother Jamel said the idea was his.")
        ['My sister Latisha said the idea was hers.']
        >>> counterfactuals("Jamel laughed.", {"Jamel": ["Adam", "Alan"]})
        ['Adam laughed.', 'Alan laughed.']
    """
    _check_sentence(sentence)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer; got {limit!r}")
    table = _table(GENDER_SUBSTITUTIONS if substitutions is None else substitutions)
    # The keys present, in order of first appearance, each once.
    found = list(dict.fromkeys(table.key(m.group(0)) for m in table.pattern.finditer(sentence)))
    results: list[str] = []
    for choice in itertools.product(*(table.options[k] for k in found)):
        candidate = substitute(sentence, dict(zip(found, choice, strict=True)))
        if candidate != sentence and candidate not in results:
            results.append(candidate)
            if len(results) == limit:
                break
    return results
# --8<-- [end:counterfactuals]


# --8<-- [start:gender_of]
# Names are left out: in lowercased text (SST-2 is lowercased) "frank", "heather" or "jasmine"
# are more often not names at all.
FEMALE_WORDS = frozenset([f for _, f in GENDER_WORD_PAIRS] + ["her", "hers"])
MALE_WORDS = frozenset([m for m, _ in GENDER_WORD_PAIRS] + ["his"])


def gender_of(sentence: str) -> str | None:
    """``"female"`` or ``"male"`` if ``sentence`` contains gendered words of only that gender
    (`FEMALE_WORDS`, `MALE_WORDS`), otherwise ``None`` (no such words, or both).

    Example:
        >>> gender_of("She loved it."), gender_of("He and she left."), gender_of("It rained.")
        ('female', None, None)
    """
    _check_sentence(sentence)
    words = set(re.findall(r"[a-z]+", sentence.lower()))
    female, male = bool(words & FEMALE_WORDS), bool(words & MALE_WORDS)
    if female == male:
        return None
    return "female" if female else "male"
# --8<-- [end:gender_of]
