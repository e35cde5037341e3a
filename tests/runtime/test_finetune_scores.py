"""ROUGE and BLEU of predictions, checked against cases worked out by hand."""

from __future__ import annotations

import math

import pytest

from jupyter_sxwl.runtime.finetune.scores import average_scores, bleu4, score_pair, words


def test_bleu4_identical_text_scores_one() -> None:
    assert bleu4(list("abcd"), list("abcd")) == pytest.approx(1.0)


def test_bleu4_smooths_the_first_zero_precision_with_one_half() -> None:
    # p1 = 3/4, p2 = 2/3, p3 = 1/2, p4 = 0/1 -> 1 / (2^1 * 1); same length: no penalty.
    expected = (0.75 * (2 / 3) * 0.5 * 0.5) ** 0.25
    assert bleu4(list("abce"), list("abcd")) == pytest.approx(expected)


def test_bleu4_short_prediction_smooths_successive_zeros_and_pays_the_brevity_penalty() -> None:
    # p1 = 2/2, p2 = 1/1, no trigram: 1 / (2 * 1), no 4-gram: 1 / (4 * 1); BP = exp(1 - 4/2).
    expected = math.exp(1 - 4 / 2) * (1 * 1 * 0.5 * 0.25) ** 0.25
    assert bleu4(list("ab"), list("abcd")) == pytest.approx(expected)


def test_bleu4_counts_characters_of_chinese_text() -> None:
    # 我爱北京 vs 我爱上海: p1 = 2/4, p2 = 1/3, p3 = 0/2 -> 1/4, p4 = 0/1 -> 1/4.
    expected = (0.5 * (1 / 3) * 0.25 * 0.25) ** 0.25
    assert score_pair("我爱北京", "我爱上海")["bleu-4"] == pytest.approx(expected * 100, abs=1e-4)


def test_bleu4_without_a_matching_character_is_zero() -> None:
    assert bleu4(list("xyz"), list("abcd")) == 0.0
    assert bleu4([], list("abcd")) == 0.0


def test_rouge_on_jieba_words() -> None:
    assert words("我爱北京") == ["我", "爱", "北京"]
    scores = score_pair("我爱北京", "我爱上海")
    # Unigrams {我, 爱, 北京} vs {我, 爱, 上海}: 2 of 3 each way; bigrams: 1 of 2; LCS 我爱.
    assert scores["rouge-1"] == pytest.approx(66.6667, abs=1e-4)
    assert scores["rouge-2"] == pytest.approx(50.0, abs=1e-4)
    assert scores["rouge-l"] == pytest.approx(66.6667, abs=1e-4)


def test_rouge_counts_each_distinct_ngram_once() -> None:
    # As the rouge package does: "a a a" has the one unigram {a}.
    scores = score_pair("a a a", "a")
    assert scores["rouge-1"] == pytest.approx(100.0, abs=1e-4)
    assert scores["rouge-2"] == 0.0


def test_rouge_l_works_per_sentence_split_at_full_stops() -> None:
    # Sentences "x" and "y" in both orders: each reference sentence finds its word.
    scores = score_pair("x. y", "y. x")
    assert scores["rouge-l"] == pytest.approx(100.0, abs=1e-4)
    assert scores["rouge-2"] == 0.0  # the words run x y against y x


def test_empty_prediction_scores_zero() -> None:
    assert score_pair("", "some answer") == {
        "rouge-1": 0.0,
        "rouge-2": 0.0,
        "rouge-l": 0.0,
        "bleu-4": 0.0,
    }


def test_average_is_the_mean_of_per_example_scores() -> None:
    avg = average_scores([("我爱北京", "我爱上海"), ("abcd", "abcd")])
    assert avg["rouge-1"] == pytest.approx((66.6667 + 100.0) / 2, abs=1e-4)
    assert avg["bleu-4"] == pytest.approx((score_pair("我爱北京", "我爱上海")["bleu-4"] + 100) / 2)
    assert average_scores([]) == {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0, "bleu-4": 0.0}
