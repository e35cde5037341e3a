"""From records to labelled token ids: templates, masking, cut-off, packing, the step plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jupyter_sxwl.runtime.finetune import data
from jupyter_sxwl.runtime.finetune.data import IGNORE_INDEX, Conversation, StepPlan
from jupyter_sxwl.runtime.finetune.errors import FinetuneError
from jupyter_sxwl.runtime.finetune.runconfig import DatasetRef
from jupyter_sxwl.runtime.finetune.templates import ALPACA, CHATGLM3, QWEN, get_template


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    dest = tmp_path_factory.mktemp("tiny") / "model"
    subprocess.run(
        [sys.executable, "-m", "jupyter_sxwl.catalog.models.tiny", str(dest)],
        check=True,
        capture_output=True,
    )
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(dest)


def enc(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer.encode(text, add_special_tokens=False))


def one_turn(q: str, a: str, system: str | None = None) -> Conversation:
    return Conversation(
        system, [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    )


def test_alpaca_gives_llamafactorys_token_sequence(tokenizer: Any) -> None:
    # LLaMA-Factory's alpaca: the default system text, the instruction piece, then the answer,
    # </s> and a blank line, each text piece tokenised on its own, no <s>.
    example = data.encode_example(one_turn("Name a colour.", "Blue."), ALPACA, tokenizer, 256)
    assert example is not None
    system = (
        "Below is an instruction that describes a task. "
        "Write a response that appropriately completes the request.\n\n"
    )
    source = enc(tokenizer, system) + enc(
        tokenizer, "### Instruction:\nName a colour.\n\n### Response:\n"
    )
    target = [*enc(tokenizer, "Blue."), tokenizer.eos_token_id, *enc(tokenizer, "\n\n")]
    assert example.input_ids == source + target
    assert example.labels == [IGNORE_INDEX] * len(source) + target


def test_instruction_records_join_input_and_train_every_history_answer(tokenizer: Any) -> None:
    record = {
        "instruction": "Translate",
        "input": "你好",
        "output": "Hello",
        "history": [["Hi", "Hey there"]],
    }
    convo = data.to_conversation(record, "instruction")
    assert convo is not None
    assert [m["content"] for m in convo.messages] == ["Hi", "Hey there", "Translate\n你好", "Hello"]
    example = data.encode_example(convo, ALPACA, tokenizer, 256)
    assert example is not None
    learnt = tokenizer.decode([t for t in example.labels if t != IGNORE_INDEX])
    assert "Hey there" in learnt and "Hello" in learnt
    assert "Translate" not in learnt and "Hi\n" not in learnt


def test_sharegpt_and_qa_records_become_conversations() -> None:
    sharegpt = {
        "conversations": [
            {"from": "system", "value": "Be brief."},
            {"from": "human", "value": "q1"},
            {"from": "gpt", "value": "a1"},
            {"from": "human", "value": "q2"},
            {"from": "gpt", "value": "a2"},
            {"from": "human", "value": "dangling"},
        ]
    }
    convo = data.to_conversation(sharegpt, "sharegpt")
    assert convo is not None and convo.system == "Be brief."
    assert [m["content"] for m in convo.messages] == ["q1", "a1", "q2", "a2"]
    canonical = {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    }
    assert data.to_conversation(canonical, "sharegpt") is not None
    qa = data.to_conversation({"Query": "Q?", "Answer": "A."}, "qa")
    assert qa is not None and qa.messages[-1]["content"] == "A."
    assert data.to_conversation({"instruction": "no answer", "output": ""}, "instruction") is None


def test_presets_load(tmp_path: Path) -> None:
    from jupyter_sxwl.catalog.presets import get_preset_dataset

    for name in ("alpaca_zh_demo", "sharegpt_zh_demo", "qa_demo"):
        preset = get_preset_dataset(name)
        ref = DatasetRef(name=name, annotation_type=preset.annotation_type, path=str(preset.path))
        convos = data.read_conversations(ref, None)
        assert len(convos) >= 30, name
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x", "output": "y"}\nnot json\n')
    with pytest.raises(FinetuneError, match="line 2"):
        data.read_conversations(DatasetRef(name="bad", path=str(bad)), None)


def test_tokenizer_template_masks_prompts_by_offsets(tokenizer: Any) -> None:
    template = get_template(None, tokenizer)  # the tiny model has its own template
    assert template.name == "tokenizer"
    convo = Conversation(
        "Sys",
        [
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": "a1"},
            {"role": "user", "content": "q2"},
            {"role": "assistant", "content": "a2"},
        ],
    )
    example = data.encode_example(convo, template, tokenizer, 256)
    assert example is not None
    full = tokenizer.apply_chat_template(
        [{"role": "system", "content": "Sys"}, *convo.messages], tokenize=False
    )
    assert example.input_ids == enc(tokenizer, full)
    learnt = tokenizer.decode([t for t in example.labels if t != IGNORE_INDEX])
    assert learnt.replace(" ", "").startswith("a1</s>")
    assert "a2" in learnt and "q1" not in learnt and "Sys" not in learnt


def test_qwen_and_chatglm3_templates(tokenizer: Any) -> None:
    example = data.encode_example(one_turn("q", "a"), QWEN, tokenizer, 256)
    assert example is not None
    text = tokenizer.decode(example.input_ids)
    assert "<|im_start|>system\nYou are Qwen" in text and text.endswith("a<|im_end|>\n")
    two = Conversation(
        None,
        [
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": "a1"},
            {"role": "user", "content": "q2"},
            {"role": "assistant", "content": "a2"},
        ],
    )
    glm = data.encode_example(two, CHATGLM3, tokenizer, 256)
    assert glm is not None
    eos = tokenizer.eos_token_id
    # efficient eos: the end of the first answer is learnt where the second prompt starts,
    # and the example ends with one eos, learnt too.
    assert glm.input_ids[-1] == eos and glm.labels[-1] == eos
    assert glm.labels.count(eos) == 2


def test_unknown_or_missing_template(tokenizer: Any) -> None:
    class NoTemplate:
        chat_template = None

    assert get_template(None, NoTemplate()) is ALPACA
    with pytest.raises(FinetuneError, match="no chat template"):
        get_template("tokenizer", NoTemplate())


@pytest.mark.parametrize(
    ("source", "target", "cutoff", "expected"),
    [
        (10, 5, 100, (10, 5)),  # fits
        (300, 20, 100, (80, 20)),  # short answer kept, prompt cut
        (20, 300, 100, (20, 80)),  # short prompt kept, answer cut
        (300, 100, 100, (75, 25)),  # both long: shares
    ],
)
def test_infer_seqlen(source: int, target: int, cutoff: int, expected: tuple[int, int]) -> None:
    assert data.infer_seqlen(source, target, cutoff) == expected


def test_cutoff_keeps_examples_within_cutoff_len(tokenizer: Any) -> None:
    long = one_turn("word " * 300, "answer " * 300)
    example = data.encode_example(long, ALPACA, tokenizer, 64)
    assert example is not None and len(example.input_ids) == 64
    assert any(t != IGNORE_INDEX for t in example.labels)


def test_collate_pads_to_the_batch_longest_multiple_of_8() -> None:
    rows = [data.Example([5] * 3, [IGNORE_INDEX, 5, 5]), data.Example([6] * 10, [6] * 10)]
    batch = data.collate(rows, pad_id=0)
    assert tuple(batch.input_ids.shape) == (2, 16)
    assert batch.tokens == 13
    assert batch.label_tokens == 2 + 9
    assert batch.labels[0, 3:].eq(IGNORE_INDEX).all()
    assert int(batch.attention_mask.sum()) == 13


def test_packing_fills_rows_up_to_cutoff() -> None:
    rows = [data.Example([1] * n, [1] * n) for n in (60, 50, 30, 20, 10, 5)]
    packed = data.pack(rows, 64)
    assert all(len(r.input_ids) <= 64 for r in packed)
    assert sum(r.records for r in packed) == 6
    assert sum(len(r.input_ids) for r in packed) == 175
    assert len(packed) == 3


def test_split_is_seeded_and_counts_fractions_up() -> None:
    convos = [one_turn(f"q{i}", f"a{i}") for i in range(10)]
    train, val = data.split(convos, 0.15, seed=1)
    assert len(val) == 2 and len(train) == 8
    assert data.split(convos, 0.15, seed=1)[1] == val
    assert len(data.split(convos, 3, seed=1)[1]) == 3
    with pytest.raises(FinetuneError, match="val_size"):
        data.split(convos, 10, seed=1)


def test_step_plan_covers_every_example_once_per_epoch_across_ranks() -> None:
    plan = StepPlan(
        num_examples=10,
        batch_size=2,
        world_size=2,
        accumulation=2,
        num_train_epochs=2,
        max_steps=None,
        seed=3,
    )
    assert plan.micro_batches_per_epoch == 3
    assert plan.steps_per_epoch == 2
    assert plan.total_steps == 4
    seen: list[int] = []
    for step in range(plan.steps_per_epoch):
        for rank in range(2):
            for mb in plan.micro_batches(step, rank):
                seen += mb
    assert sorted(seen) == list(range(10))
    # The next epoch is another order; max_steps overrides the epochs.
    assert plan.epoch_order(0, 0) != plan.epoch_order(1, 0)
    assert StepPlan(10, 2, 1, 1, 3.0, 7, 0).total_steps == 7


def test_run_config_resolves_paths_and_environment(tmp_path: Path) -> None:
    from jupyter_sxwl.runtime.finetune.runconfig import load_run_config

    config = {
        "model_dir": "models/m",
        "datasets": [
            {"name": "d", "annotation_type": "instruction", "path": "datasets/d/data.jsonl"}
        ],
    }
    env = {
        "SXWL_FINETUNE_CONFIG": json.dumps(config),
        "SXWL_MOUNT_ROOT": str(tmp_path),
        "SXWL_MODEL_DIR": str(tmp_path / "out"),
        "SXWL_RESUME": "1",
    }
    run = load_run_config(None, env)
    assert run.model_dir == tmp_path / "models" / "m"
    assert run.datasets[0].path == str(tmp_path / "datasets" / "d" / "data.jsonl")
    assert run.output_dir == tmp_path / "out" and run.checkpoint_dir == tmp_path / "out"
    assert run.resume is True and run.metrics_file is None
    with pytest.raises(FinetuneError, match=r"params\.learning_rate"):
        load_run_config(
            None, {"SXWL_FINETUNE_CONFIG": json.dumps({**config, "params": {"learning_rate": 5}})}
        )
    with pytest.raises(FinetuneError, match="no run configuration"):
        load_run_config(None, {})
