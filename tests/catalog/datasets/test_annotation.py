"""Each annotation type accepts its records and names the field and fix for bad ones."""

from __future__ import annotations

import pytest

from jupyter_sxwl.catalog.datasets import AnnotationType, schema_for


def problems(annotation_type: str, record: object) -> list[tuple[str | None, str]]:
    found = schema_for(annotation_type).check(record)
    return [] if found is None else [(p.field, p.message) for p in found]


def fields(annotation_type: str, record: object) -> list[str | None]:
    return [f for f, _ in problems(annotation_type, record)]


def test_alpaca_is_an_alias_and_unknown_types_are_refused() -> None:
    assert schema_for("alpaca").annotation_type is AnnotationType.INSTRUCTION
    with pytest.raises(ValueError, match="use one of instruction, qa, ranking, sharegpt"):
        schema_for("images")


@pytest.mark.parametrize(
    "record",
    [
        {"instruction": "Translate", "output": "Bonjour"},
        {"instruction": "Translate", "input": "Hello", "output": ""},
        {"instruction": "谢谢", "input": None, "output": "不用谢", "system": "be kind"},
        {"instruction": "q2", "output": "a2", "history": [["q1", "a1"]]},
        {"instruction": "x", "output": "y", "id": 7},  # extra fields are ignored
    ],
)
def test_instruction_valid(record: dict[str, object]) -> None:
    assert problems("instruction", record) == []


def test_instruction_invalid_records_name_the_field() -> None:
    assert fields("instruction", {"output": "y"}) == ["instruction"]
    assert fields("instruction", {"instruction": "  ", "output": "y"}) == ["instruction"]
    assert fields("instruction", {"instruction": "x"}) == ["output"]
    assert fields("instruction", {"instruction": "x", "output": 3}) == ["output"]
    assert fields("instruction", {"instruction": "x", "output": "y", "input": ["a"]}) == ["input"]
    assert fields("instruction", {"instruction": "x", "output": "y", "history": "h"}) == ["history"]
    assert fields(
        "instruction", {"instruction": "x", "output": "y", "history": [["a", "b"], ["c"]]}
    ) == ["history[1]"]
    [(field, message)] = problems("instruction", ["not", "an", "object"])
    assert field is None and "not an object" in message


def test_instruction_near_miss_keys() -> None:
    [(field, message)] = problems("instruction", {"Instruction": "x", "output": "y"})
    assert field == "Instruction"
    assert "did you mean 'instruction'" in message and "rename it" in message
    assert fields("instruction", {"instruction": "x", "ouput": "y"}) == ["ouput"]
    # a different field that merely contains a known name is not a near miss
    assert problems("instruction", {"instruction": "x", "output": "y", "en_instruction": "z"}) == []


def test_qa_fields_follow_the_seed() -> None:
    full = {
        "text": "manual.pdf",
        "Query": "How do I publish?",
        "Answer": "Click 发布.",
        "Match": 0.92,
        "File": "manual.pdf#page=3",
        "Similar-Question": ["How to publish a dataset?"],
    }
    assert problems("qa", full) == []
    assert problems("qa", {"Query": "q", "Answer": "a"}) == []
    assert problems("qa", {"Query": "q", "Answer": "a", "Match": True}) == []
    assert fields("qa", {"Query": "q"}) == ["Answer"]
    assert fields("qa", {"Query": "", "Answer": "a"}) == ["Query"]
    assert fields("qa", {**full, "Similar-Question": "one"}) == ["Similar-Question"]
    assert fields("qa", {**full, "Similar-Question": ["ok", 3]}) == ["Similar-Question[1]"]
    assert fields("qa", {**full, "Match": {"score": 1}}) == ["Match"]
    assert fields("qa", {**full, "File": 3}) == ["File"]


@pytest.mark.parametrize(
    ("wrong", "right"),
    [("query", "Query"), ("answer", "Answer"), ("Similar_Question", "Similar-Question")],
)
def test_qa_keys_are_case_sensitive(wrong: str, right: str) -> None:
    record = {"Query": "q", "Answer": "a"}
    value = record.pop(right, ["x"])
    record[wrong] = value
    [(field, message)] = problems("qa", record)
    assert field == wrong
    assert f"did you mean {right!r}" in message and "case-sensitive" in message


def test_ranking_ranks_are_permutations_or_absent() -> None:
    ranked = {
        "prompt": "Explain RLHF",
        "candidates": [
            {"text": "A", "relevance_rank": 2, "safety_rank": 1},
            {"text": "B", "relevance_rank": 1, "safety_rank": 2},
        ],
    }
    assert problems("ranking", ranked) == []
    unranked = {"prompt": "p", "candidates": [{"text": "A"}, {"text": "B"}, {"text": "C"}]}
    assert problems("ranking", unranked) == []  # seed 002: records may have no ranking yet
    only_relevance = {
        "prompt": "p",
        "candidates": [{"text": "A", "relevance_rank": 1}, {"text": "B", "relevance_rank": 2}],
    }
    assert problems("ranking", only_relevance) == []

    dup = {
        "prompt": "p",
        "candidates": [{"text": "A", "safety_rank": 1}, {"text": "B", "safety_rank": 1}],
    }
    [(field, message)] = problems("ranking", dup)
    assert field == "candidates[1].safety_rank" and "used exactly once" in message

    out_of_range = {
        "prompt": "p",
        "candidates": [{"text": "A", "relevance_rank": 3}, {"text": "B", "relevance_rank": 1}],
    }
    [(field, message)] = problems("ranking", out_of_range)
    assert field == "candidates[0].relevance_rank" and "from 1 (best) to 2" in message

    partial = {
        "prompt": "p",
        "candidates": [{"text": "A", "relevance_rank": 1}, {"text": "B"}],
    }
    assert fields("ranking", partial) == ["candidates[1].relevance_rank"]
    not_int = {
        "prompt": "p",
        "candidates": [{"text": "A", "safety_rank": True}, {"text": "B", "safety_rank": "1"}],
    }
    assert fields("ranking", not_int) == ["candidates[0].safety_rank", "candidates[1].safety_rank"]


def test_ranking_structure_errors() -> None:
    assert fields("ranking", {"prompt": "p", "candidates": [{"text": "A"}]}) == ["candidates"]
    assert fields("ranking", {"prompt": "p"}) == ["candidates"]
    assert fields("ranking", {"candidates": [{"text": "A"}, {"text": "B"}]}) == ["prompt"]
    assert fields("ranking", {"prompt": "p", "candidates": [{"text": "A"}, "B"]}) == [
        "candidates[1]"
    ]
    assert fields("ranking", {"prompt": "p", "candidates": [{"text": "A"}, {"text": ""}]}) == [
        "candidates[1].text"
    ]
    assert fields(
        "ranking", {"prompt": "p", "candidates": [{"text": "A"}, {"text": "B", "safetyRank": 1}]}
    ) == ["candidates[1].safetyRank"]


def test_sharegpt_valid_shapes() -> None:
    from_value = {
        "conversations": [
            {"from": "human", "value": "Hi"},
            {"from": "gpt", "value": "Hello"},
        ]
    }
    assert problems("sharegpt", from_value) == []
    with_tools = {
        "conversations": [
            {"from": "system", "value": "be brief"},
            {"from": "human", "value": "age?"},
            {"from": "function_call", "value": '{"name": "age"}'},
            {"from": "observation", "value": '{"age": 34}'},
            {"from": "gpt", "value": "34"},
        ],
        "tools": '[{"name": "age"}]',
    }
    assert problems("sharegpt", with_tools) == []
    openai = {
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "u"},
            {"role": "assistant", "content": "a"},
        ]
    }
    assert problems("sharegpt", openai) == []


def test_sharegpt_alternation_and_roles() -> None:
    two_humans = {
        "conversations": [
            {"from": "human", "value": "a"},
            {"from": "human", "value": "b"},
            {"from": "gpt", "value": "c"},
        ]
    }
    [(field, message)] = problems("sharegpt", two_humans)
    assert field == "conversations[1].from" and "must alternate human / gpt" in message

    ends_with_user = {"messages": [{"role": "user", "content": "u"}]}
    [(field, message)] = problems("sharegpt", ends_with_user)
    assert field == "messages" and "must end with an assistant turn" in message

    bad_role = {"conversations": [{"from": "bot", "value": "a"}, {"from": "gpt", "value": "b"}]}
    [(field, message)] = problems("sharegpt", bad_role)
    assert field == "conversations[0].from" and "human, gpt" in message

    late_system = {
        "conversations": [
            {"from": "human", "value": "a"},
            {"from": "system", "value": "s"},
        ]
    }
    assert fields("sharegpt", late_system) == ["conversations[1].from"]
    assert fields("sharegpt", {"conversations": []}) == ["conversations"]
    assert fields("sharegpt", {"system": "s"}) == ["conversations"]
    assert fields("sharegpt", {"conversation": [{"from": "human", "value": "a"}]}) == [
        "conversation"
    ]
    no_text = {"conversations": [{"from": "human", "value": 1}, {"from": "gpt", "value": "b"}]}
    assert fields("sharegpt", no_text) == ["conversations[0].value"]


def test_normalised_shapes() -> None:
    assert schema_for("instruction").normalise({"instruction": "i", "output": "o"}) == {
        "instruction": "i",
        "input": "",
        "output": "o",
        "system": "",
        "history": [],
    }
    assert schema_for("qa").normalise({"Query": "q", "Answer": "a"}) == {
        "text": "",
        "Query": "q",
        "Answer": "a",
        "Match": None,
        "File": "",
        "Similar-Question": [],
    }
    assert schema_for("ranking").normalise(
        {"prompt": "p", "candidates": [{"text": "A", "safety_rank": 2}, {"text": "B"}]}
    )["candidates"][1] == {"text": "B", "relevance_rank": None, "safety_rank": None}
    assert schema_for("sharegpt").normalise(
        {
            "conversations": [
                {"from": "system", "value": "s"},
                {"from": "human", "value": "u"},
                {"from": "function_call", "value": "f"},
                {"from": "observation", "value": "o"},
                {"from": "gpt", "value": "a"},
            ],
            "tools": [{"name": "t"}],
        }
    ) == {
        "messages": [
            {"role": "user", "content": "u"},
            {"role": "function", "content": "f"},
            {"role": "observation", "content": "o"},
            {"role": "assistant", "content": "a"},
        ],
        "system": "s",
        "tools": '[{"name": "t"}]',
    }
