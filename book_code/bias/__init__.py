"""Bias audits (chapter 9): the Equity Evaluation Corpus, a paired counterfactual audit of any
classifier, counterfactual sentences for the reader's own text, and bias amplification."""

from book_code.bias.amplification import AmplificationResult, bias_amplification, bias_scores
from book_code.bias.audit import (
    AuditResult,
    Pair,
    PairedComparison,
    audit,
    audit_counterfactuals,
    bootstrap_ci,
    compare,
    make_pairs,
    paired_tests,
    score_sentences,
)
from book_code.bias.counterfactual import (
    GENDER_SUBSTITUTIONS,
    GENDER_WORD_PAIRS,
    RACE_SUBSTITUTIONS,
    counterfactuals,
    gender_of,
    substitute,
)
from book_code.bias.eec import EECRecord, generate_eec, realise

__all__ = [
    "GENDER_SUBSTITUTIONS",
    "GENDER_WORD_PAIRS",
    "RACE_SUBSTITUTIONS",
    "AmplificationResult",
    "AuditResult",
    "EECRecord",
    "Pair",
    "PairedComparison",
    "audit",
    "audit_counterfactuals",
    "bias_amplification",
    "bias_scores",
    "bootstrap_ci",
    "compare",
    "counterfactuals",
    "gender_of",
    "generate_eec",
    "make_pairs",
    "paired_tests",
    "realise",
    "score_sentences",
    "substitute",
]
