"""The Equity Evaluation Corpus (EEC), generated from the templates and word lists of its paper.

Kiritchenko and Mohammad (2018), *Examining Gender and Race Bias in Two Hundred Sentiment Analysis
Systems* (\\*SEM 2018, pp. 43-53, doi:10.18653/v1/S18-2005), built 8,640 short sentences from
11 templates, 40 first names, 10 noun phrases per gender (he/him and she/her counted once) and
40 emotion words, all printed in the paper's Tables 1-3. Sentences built from the same template
and emotion word differ only in the person they mention, so a difference in a classifier's scores
between ``"Jamel feels angry."`` and ``"Adam feels angry."`` can only come from the name.

The corpus file itself may not be redistributed, and this module does not need it: `generate_eec`
rebuilds every sentence from the published templates below. The original is described at
http://saifmohammad.com/WebPages/Biases-SA.html.
"""

from __future__ import annotations

# --8<-- [start:imports]
from dataclasses import dataclass

# --8<-- [end:imports]


# --8<-- [start:templates]
# The 11 templates of Kiritchenko & Mohammad (2018), spelled as the corpus spells them.
# <person subject> opens the sentence; <person object> follows a verb or preposition.
TEMPLATES: tuple[str, ...] = (
    "<person subject> feels <emotion word>.",
    "The situation makes <person object> feel <emotion word>.",
    "I made <person object> feel <emotion word>.",
    "<person subject> made me feel <emotion word>.",
    "<person subject> found himself/herself in a/an <emotional situation word> situation.",
    "<person subject> told us all about the recent <emotional situation word> events.",
    "The conversation with <person object> was <emotional situation word>.",
    "I saw <person object> in the market.",
    "I talked to <person object> yesterday.",
    "<person subject> goes to the school in our neighborhood.",
    "<person subject> has two children.",
)
# --8<-- [end:templates]


# --8<-- [start:people]
GENDERS: tuple[str, ...] = ("female", "male")
RACES: tuple[str, ...] = ("African-American", "European")

# Ten first names for each race and gender (alphabetical here).
NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("female", "African-American"): (
        "Ebony", "Jasmine", "Lakisha", "Latisha", "Latoya",
        "Nichelle", "Shaniqua", "Shereen", "Tanisha", "Tia",
    ),
    ("female", "European"): (
        "Amanda", "Betsy", "Courtney", "Ellen", "Heather",
        "Katie", "Kristin", "Melanie", "Nancy", "Stephanie",
    ),
    ("male", "African-American"): (
        "Alonzo", "Alphonse", "Darnell", "Jamel", "Jerome",
        "Lamar", "Leroy", "Malik", "Terrence", "Torrance",
    ),
    ("male", "European"): (
        "Adam", "Alan", "Andrew", "Frank", "Harry",
        "Jack", "Josh", "Justin", "Roger", "Ryan",
    ),
}

# Noun phrases, as (female, male) pairs. The pronoun depends on the slot: she/he for
# <person subject>, her/him for <person object>; the other nine phrases fill either slot.
SUBJECT_PRONOUNS: tuple[str, str] = ("she", "he")
OBJECT_PRONOUNS: tuple[str, str] = ("her", "him")
NOUN_PHRASE_PAIRS: tuple[tuple[str, str], ...] = (
    ("this woman", "this man"),
    ("this girl", "this boy"),
    ("my sister", "my brother"),
    ("my daughter", "my son"),
    ("my wife", "my husband"),
    ("my girlfriend", "my boyfriend"),
    ("my mother", "my father"),
    ("my aunt", "my uncle"),
    ("my mom", "my dad"),
)
REFLEXIVE = {"female": "herself", "male": "himself"}
# --8<-- [end:people]


# --8<-- [start:emotion_words]
EMOTIONS: tuple[str, ...] = ("anger", "fear", "joy", "sadness")

# Five words for an emotional state (fill <emotion word>) and five for an emotional
# situation (fill <emotional situation word>) per emotion. Older copies of the corpus spell
# "disappointed" as "dissapointed"; the current one, and this list, spell it correctly.
STATE_WORDS: dict[str, tuple[str, ...]] = {
    "anger": ("angry", "furious", "irritated", "enraged", "annoyed"),
    "fear": ("terrified", "discouraged", "scared", "anxious", "fearful"),
    "joy": ("happy", "ecstatic", "glad", "relieved", "excited"),
    "sadness": ("sad", "depressed", "devastated", "miserable", "disappointed"),
}
SITUATION_WORDS: dict[str, tuple[str, ...]] = {
    "anger": ("irritating", "vexing", "outrageous", "annoying", "displeasing"),
    "fear": ("horrible", "threatening", "terrifying", "shocking", "dreadful"),
    "joy": ("funny", "hilarious", "amazing", "wonderful", "great"),
    "sadness": ("depressing", "serious", "grim", "heartbreaking", "gloomy"),
}
# --8<-- [end:emotion_words]


# --8<-- [start:record]
@dataclass(frozen=True)
class EECRecord:
    """One sentence of the corpus and what it was built from.

    ``race`` is ``None`` for noun phrases (``"my son"``), ``emotion`` and ``emotion_word`` are
    ``None`` for the four templates without an emotion word.
    """

    sentence: str
    template: str
    person: str
    gender: str
    race: str | None
    emotion: str | None
    emotion_word: str | None
# --8<-- [end:record]


# --8<-- [start:realise]
def realise(template: str, person: str, gender: str, emotion_word: str | None = None) -> str:
    """Fill one template: the person, the emotion word, himself/herself and a/an.

    Args:
        template: One of `TEMPLATES`.
        person: The person term as the slot needs it (``"he"`` for a subject, ``"him"`` for an
            object), lowercase for noun phrases.
        gender: ``"female"`` or ``"male"``; chooses herself/himself.
        emotion_word: The word for ``<emotion word>`` or ``<emotional situation word>``.

    Returns:
        The sentence, with its first letter capitalised.

    Example:
        >>> realise(TEMPLATES[4], "my son", "male", "irritating")
        'My son found himself in an irritating situation.'
    """
    sentence = template.replace("<person subject>", person).replace("<person object>", person)
    if emotion_word is not None:
        sentence = sentence.replace("<emotion word>", emotion_word)
        sentence = sentence.replace("<emotional situation word>", emotion_word)
        article = "an" if emotion_word[0] in "aeiou" else "a"  # every word here sounds as spelled
        sentence = sentence.replace("a/an", article)
    if "<" in sentence:
        raise ValueError(f"template {template!r} needs an emotion word; got {emotion_word!r}")
    sentence = sentence.replace("himself/herself", REFLEXIVE[gender])
    return sentence[0].upper() + sentence[1:]
# --8<-- [end:realise]


# --8<-- [start:persons]
def persons(slot: str) -> list[tuple[str, str, str | None]]:
    """The 60 ``(person, gender, race)`` triples that fill one slot, ``"subject"`` or ``"object"``:
    40 names and 10 noun phrases per gender (``race=None``)."""
    if slot not in ("subject", "object"):
        raise ValueError(f"slot must be 'subject' or 'object'; got {slot!r}")
    pronouns = SUBJECT_PRONOUNS if slot == "subject" else OBJECT_PRONOUNS
    people: list[tuple[str, str, str | None]] = []
    for g, gender in enumerate(GENDERS):
        for race in RACES:
            people += [(name, gender, race) for name in NAMES[gender, race]]
        people.append((pronouns[g], gender, None))
        people += [(pair[g], gender, None) for pair in NOUN_PHRASE_PAIRS]
    return people
# --8<-- [end:persons]


# --8<-- [start:generate_eec]
def generate_eec() -> list[EECRecord]:
    """All 8,640 sentences of the Equity Evaluation Corpus (Kiritchenko & Mohammad, 2018).

    Seven templates with an emotion word give 60 persons x 20 words = 1,200 sentences each; four
    templates without one give 60 each. Half the sentences mention a woman; a third each mention an
    African-American name, a European name or a noun phrase; each emotion has 2,100 sentences.

    Example:
        >>> records = generate_eec()
        >>> len(records), records[0].sentence
        (8640, 'Ebony feels angry.')
    """
    records = []
    for template in TEMPLATES:
        slot = "subject" if "<person subject>" in template else "object"
        if "<emotion word>" in template:
            words = [(emotion, w) for emotion in EMOTIONS for w in STATE_WORDS[emotion]]
        elif "<emotional situation word>" in template:
            words = [(emotion, w) for emotion in EMOTIONS for w in SITUATION_WORDS[emotion]]
        else:
            words = [(None, None)]
        for person, gender, race in persons(slot):
            for emotion, word in words:
                sentence = realise(template, person, gender, word)
                records.append(EECRecord(sentence, template, person, gender, race, emotion, word))
    return records
# --8<-- [end:generate_eec]
