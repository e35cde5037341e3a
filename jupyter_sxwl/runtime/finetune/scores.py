"""ROUGE-1/2/L and BLEU-4 of generated answers, the way LLaMA-Factory scores predictions.

Each prediction is scored against its label and the per-example scores are averaged, as
percentages (0-100, four decimals per example):

- ROUGE: both texts are cut into words by jieba and joined with spaces, then scored as the
  ``rouge`` package scores them: texts split into "sentences" at ``.``, words counted as sets
  (each distinct n-gram once), ROUGE-L at summary level (union LCS), F = 2PR / (P + R + 1e-8).
  An empty prediction or label scores 0.
- BLEU-4: characters, not words, against one reference; clipped n-gram precisions for n = 1..4
  with equal weights, the brevity penalty, and smoothing method 3 of Chen & Cherry (2014)
  (NIST geometric: the k-th zero precision becomes 1 / (2^k * its n-gram count)); no matching
  character at all scores 0.

Pure Python; jieba is imported on first use.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

METRICS = ("rouge-1", "rouge-2", "rouge-l", "bleu-4")


def _jieba() -> Any:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def words(text: str) -> list[str]:
    """jieba's segmentation of ``text`` (full mode off, HMM on, as ``jieba.cut`` defaults)."""
    return list(_jieba().cut(text))


def _sentences(text: str) -> list[str]:
    # As the rouge package does: split at full stops, squeeze whitespace inside each piece.
    return [" ".join(part.split()) for part in text.split(".") if len(part) > 0]


def _flat_words(sentences: Sequence[str]) -> list[str]:
    return [w for s in sentences for w in s.split(" ")]


def _ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def _f_score(precision: float, recall: float) -> float:
    return 2.0 * ((precision * recall) / (precision + recall + 1e-8))


def rouge_n(hyp_sentences: Sequence[str], ref_sentences: Sequence[str], n: int) -> float:
    """F-score of ROUGE-N over distinct n-grams."""
    hyp = _ngrams(_flat_words(hyp_sentences), n)
    ref = _ngrams(_flat_words(ref_sentences), n)
    overlap = len(hyp & ref)
    precision = overlap / len(hyp) if hyp else 0.0
    recall = overlap / len(ref) if ref else 0.0
    return _f_score(precision, recall)


def _lcs_words(x: Sequence[str], y: Sequence[str]) -> list[str]:
    """One longest common subsequence of x and y, the words of x it uses, walking back from the
    end and preferring to drop from y on ties (the rouge package's reconstruction)."""
    n, m = len(x), len(y)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        xi, row, prev = x[i - 1], table[i], table[i - 1]
        for j in range(1, m + 1):
            row[j] = prev[j - 1] + 1 if xi == y[j - 1] else max(prev[j], row[j - 1])
    out: list[str] = []
    i, j = n, m
    while i > 0 and j > 0:
        if x[i - 1] == y[j - 1]:
            out.append(x[i - 1])
            i, j = i - 1, j - 1
        elif table[i - 1][j] > table[i][j - 1]:
            i -= 1
        else:
            j -= 1
    out.reverse()
    return out


def rouge_l(hyp_sentences: Sequence[str], ref_sentences: Sequence[str]) -> float:
    """F-score of summary-level ROUGE-L: union LCS of each reference sentence with the
    hypothesis sentences, over distinct words."""
    m = len(set(_flat_words(ref_sentences)))
    n = len(set(_flat_words(hyp_sentences)))
    union: set[str] = set()
    lcs_total = 0
    for ref_sentence in ref_sentences:
        before = len(union)
        ref_words = ref_sentence.split(" ")
        for hyp_sentence in hyp_sentences:
            union |= set(_lcs_words(ref_words, hyp_sentence.split(" ")))
        lcs_total += len(union) - before
    recall = lcs_total / m if m else 0.0
    precision = lcs_total / n if n else 0.0
    return _f_score(precision, recall)


def rouge_scores(prediction: str, label: str) -> dict[str, float]:
    """ROUGE-1/2/L F-scores (fractions) of one prediction, on jieba words."""
    hyp = " ".join(words(prediction))
    ref = " ".join(words(label))
    if not hyp.split() or not ref.split():
        return {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    hs, rs = _sentences(hyp), _sentences(ref)
    if not hs or not rs:  # nothing but full stops
        return {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    return {
        "rouge-1": rouge_n(hs, rs, 1),
        "rouge-2": rouge_n(hs, rs, 2),
        "rouge-l": rouge_l(hs, rs),
    }


def bleu4(prediction: Sequence[str], reference: Sequence[str]) -> float:
    """Sentence BLEU-4 (a fraction) of token sequences, one reference, smoothing method 3."""
    hyp_len, ref_len = len(prediction), len(reference)
    precisions: list[tuple[int, int]] = []
    for n in range(1, 5):
        hyp_counts = Counter(tuple(prediction[i : i + n]) for i in range(hyp_len - n + 1))
        ref_counts = Counter(tuple(reference[i : i + n]) for i in range(ref_len - n + 1))
        clipped = sum(min(c, ref_counts[g]) for g, c in hyp_counts.items())
        precisions.append((clipped, max(1, sum(hyp_counts.values()))))
    if precisions[0][0] == 0:
        return 0.0
    log_sum = 0.0
    k = 1
    for numerator, denominator in precisions:
        if numerator == 0:
            p = 1 / (2**k * denominator)
            k += 1
        else:
            p = numerator / denominator
        log_sum += 0.25 * math.log(p)
    if hyp_len > ref_len:
        penalty = 1.0
    elif hyp_len == 0:
        penalty = 0.0
    else:
        penalty = math.exp(1 - ref_len / hyp_len)
    return penalty * math.exp(log_sum)


def score_pair(prediction: str, label: str) -> dict[str, float]:
    """All four scores of one prediction as percentages rounded to four decimals."""
    scores = rouge_scores(prediction, label)
    scores["bleu-4"] = bleu4(list(prediction), list(label))
    return {k: round(v * 100, 4) for k, v in scores.items()}


def average_scores(pairs: Sequence[tuple[str, str]]) -> dict[str, float]:
    """Mean of each score over (prediction, label) pairs; zeros when there are none."""
    totals = dict.fromkeys(METRICS, 0.0)
    for prediction, label in pairs:
        for key, value in score_pair(prediction, label).items():
            totals[key] += value
    count = len(pairs)
    return {k: (v / count if count else 0.0) for k, v in totals.items()}
