"""Training data: records -> conversations -> token ids with labels -> padded batches.

Records are the platform's canonical shapes (instruction, sharegpt, qa). They become
conversations (system + alternating user/assistant messages), are split into train and
validation (``val_size``, ``seed``), encoded by the chat template and cut to ``cutoff_len`` the
way LLaMA-Factory cuts them (each exchange shares what is left between prompt and answer), and
labelled so that only answers are learnt. Batches are padded to their own longest row, rounded
up to a multiple of 8, never to ``cutoff_len``.

Imports torch only inside :func:`collate`.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import FinetuneError
from .runconfig import DatasetRef
from .templates import ChatTemplate, Message

IGNORE_INDEX = -100
PAD_MULTIPLE = 8


@dataclass
class Conversation:
    """One record as a chat: the last message is the assistant's answer."""

    system: str | None
    messages: list[Message]

    @property
    def prompt(self) -> list[Message]:
        return self.messages[:-1]

    @property
    def answer(self) -> str:
        return self.messages[-1]["content"]


@dataclass
class Example:
    """One training row: token ids and labels (IGNORE_INDEX where nothing is learnt)."""

    input_ids: list[int]
    labels: list[int]
    # How many records the row holds (more than one when packed).
    records: int = 1


ROLE_NAMES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "system": "system",
}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _alternating(messages: list[Message]) -> list[Message] | None:
    """The longest user/assistant alternation ending in an answer, or None when there is none."""
    out: list[Message] = []
    for m in messages:
        want = "user" if len(out) % 2 == 0 else "assistant"
        if m["role"] != want:
            return None
        out.append(m)
    if len(out) % 2 == 1:
        out = out[:-1]  # a question without an answer teaches nothing
    if not out or not out[-1]["content"]:
        return None
    return out


def to_conversation(record: Any, annotation_type: str) -> Conversation | None:
    """The conversation of one canonical record, or None when it holds no usable exchange."""
    if not isinstance(record, dict):
        return None
    system = _text(record.get("system")) or None
    messages: list[Message] = []
    if annotation_type == "instruction":
        for pair in record.get("history") or []:
            if isinstance(pair, list | tuple) and len(pair) == 2:
                messages.append({"role": "user", "content": _text(pair[0])})
                messages.append({"role": "assistant", "content": _text(pair[1])})
        query = [q for q in (_text(record.get("instruction")), _text(record.get("input"))) if q]
        messages.append({"role": "user", "content": "\n".join(query)})
        messages.append({"role": "assistant", "content": _text(record.get("output"))})
    elif annotation_type == "qa":
        messages.append({"role": "user", "content": _text(record.get("Query"))})
        messages.append({"role": "assistant", "content": _text(record.get("Answer"))})
    elif annotation_type == "sharegpt":
        turns = record.get("messages")
        role_key, content_key = "role", "content"
        if not isinstance(turns, list):
            turns, role_key, content_key = record.get("conversations"), "from", "value"
        if not isinstance(turns, list):
            return None
        for turn in turns:
            if not isinstance(turn, dict):
                return None
            role = ROLE_NAMES.get(_text(turn.get(role_key)))
            content = _text(turn.get(content_key))
            if role == "system" and not messages:
                system = content or system
            elif role in ("user", "assistant"):
                messages.append({"role": role, "content": content})
            else:
                return None  # tool calls and observations are not trained here
    else:
        return None
    usable = _alternating(messages)
    return Conversation(system, usable) if usable else None


def read_conversations(ref: DatasetRef, max_samples: int | None) -> list[Conversation]:
    """The usable conversations of one dataset file, at most ``max_samples`` of its records."""
    out: list[Conversation] = []
    path = Path(ref.path)
    seen = 0
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            if max_samples is not None and seen >= max_samples:
                break
            seen += 1
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise FinetuneError(
                    f"dataset {ref.name}: line {lineno} of {path.name} is not JSON ({e.msg})"
                ) from None
            convo = to_conversation(record, ref.annotation_type)
            if convo is not None:
                out.append(convo)
    return out


def load_conversations(refs: list[DatasetRef], max_samples: int | None) -> list[Conversation]:
    convos: list[Conversation] = []
    for ref in refs:
        convos += read_conversations(ref, max_samples)
    return convos


def validation_count(val_size: float, n: int) -> int:
    """Records held out: a fraction (rounded up, as ``train_test_split``) or a count."""
    if val_size <= 0 or n == 0:
        return 0
    count = math.ceil(val_size * n) if val_size < 1 else int(val_size)
    if count >= n:
        raise FinetuneError(
            f"val_size: {val_size:g} leaves no training records out of {n}; choose a smaller value"
        )
    return count


def split(
    convos: list[Conversation], val_size: float, seed: int
) -> tuple[list[Conversation], list[Conversation]]:
    """(train, validation): a seeded shuffle, the first ``validation_count`` held out."""
    count = validation_count(val_size, len(convos))
    if count == 0:
        return convos, []
    order = list(range(len(convos)))
    random.Random(seed).shuffle(order)
    held = set(order[:count])
    train = [c for i, c in enumerate(convos) if i not in held]
    val = [convos[i] for i in sorted(held)]
    return train, val


def infer_seqlen(source_len: int, target_len: int, cutoff_len: int) -> tuple[int, int]:
    """How much of a prompt and an answer fit in ``cutoff_len`` (LLaMA-Factory's rule).

    A short answer is kept whole and the prompt cut; a short prompt is kept whole and the
    answer cut; when both are long, each keeps its share of the room.
    """
    if target_len * 2 < cutoff_len:
        max_target = cutoff_len
    elif source_len * 2 < cutoff_len:
        max_target = cutoff_len - source_len
    else:
        max_target = int(cutoff_len * (target_len / (source_len + target_len)))
    new_target = min(max_target, target_len)
    new_source = min(max(cutoff_len - new_target, 0), source_len)
    return new_source, new_target


def encode_example(
    convo: Conversation, template: ChatTemplate, tokenizer: Any, cutoff_len: int
) -> Example | None:
    """Token ids and labels of one conversation; every answer is learnt, prompts are masked."""
    pairs = template.encode_turns(tokenizer, convo.messages, convo.system)
    eos = tokenizer.eos_token_id
    efficient_eos = template.efficient_eos and eos is not None
    input_ids: list[int] = []
    labels: list[int] = []
    total = 1 if efficient_eos else 0
    for turn, (source, target) in enumerate(pairs):
        if total >= cutoff_len:
            break
        source_len, target_len = infer_seqlen(len(source), len(target), cutoff_len - total)
        source, target = source[:source_len], target[:target_len]
        total += source_len + target_len
        if efficient_eos and turn > 0 and source_len > 0:
            # The answer before ends where this turn's prompt starts: learn eos there.
            source_labels = [eos] + [IGNORE_INDEX] * (source_len - 1)
        else:
            source_labels = [IGNORE_INDEX] * source_len
        input_ids += source + target
        labels += source_labels + target
    if efficient_eos:
        input_ids.append(eos)
        labels.append(eos)
    if all(label == IGNORE_INDEX for label in labels):
        return None
    return Example(input_ids, labels)


def encode_all(
    convos: list[Conversation], template: ChatTemplate, tokenizer: Any, cutoff_len: int
) -> list[Example]:
    out = []
    for convo in convos:
        example = encode_example(convo, template, tokenizer, cutoff_len)
        if example is not None:
            out.append(example)
    return out


def pack(examples: list[Example], cutoff_len: int) -> list[Example]:
    """Greedy knapsack packing: fill rows of up to ``cutoff_len`` tokens, longest first fits."""
    by_length: dict[int, list[Example]] = {}
    for ex in examples:
        by_length.setdefault(len(ex.input_ids), []).append(ex)
    lengths = sorted(len(ex.input_ids) for ex in examples)
    rows: list[Example] = []
    while lengths:
        room = cutoff_len
        row = Example([], [], records=0)
        while True:
            i = bisect.bisect(lengths, room) - 1
            if i < 0:
                break
            length = lengths.pop(i)
            ex = by_length[length].pop()
            row.input_ids += ex.input_ids
            row.labels += ex.labels
            row.records += 1
            room -= length
        rows.append(row)
    return rows


@dataclass
class Batch:
    """A padded micro-batch and what it counts."""

    input_ids: Any  # torch.LongTensor [rows, length]
    attention_mask: Any
    labels: Any
    tokens: int  # real (not padding) tokens
    label_tokens: int  # tokens whose next token is learnt
    records: int


def collate(examples: list[Example], pad_id: int) -> Batch:
    """Right-pad to the longest row rounded up to a multiple of 8."""
    import torch

    longest = max(len(ex.input_ids) for ex in examples)
    width = -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    tokens = label_tokens = 0
    for row, ex in enumerate(examples):
        n = len(ex.input_ids)
        input_ids[row, :n] = torch.tensor(ex.input_ids, dtype=torch.long)
        labels[row, :n] = torch.tensor(ex.labels, dtype=torch.long)
        mask[row, :n] = 1
        tokens += n
        # Labels are shifted by one inside the loss: the first position predicts nothing.
        label_tokens += sum(1 for label in ex.labels[1:] if label != IGNORE_INDEX)
    return Batch(input_ids, mask, labels, tokens, label_tokens, sum(e.records for e in examples))


@dataclass(frozen=True)
class StepPlan:
    """Which examples each optimiser step uses, on each rank: a pure function of the step.

    Every epoch is a seeded permutation of the examples (seed + epoch), dealt to the ranks in
    turn (padded by repeating the start so each rank has the same count, as a distributed
    sampler does) and cut into micro-batches; ``gradient_accumulation_steps`` micro-batches make
    a step, the last step of an epoch taking what is left. A resumed run computes the same plan
    and so sees the same data in the same order.
    """

    num_examples: int
    batch_size: int
    world_size: int
    accumulation: int
    num_train_epochs: float
    max_steps: int | None
    seed: int

    @property
    def per_rank(self) -> int:
        return -(-self.num_examples // self.world_size)

    @property
    def micro_batches_per_epoch(self) -> int:
        return -(-self.per_rank // self.batch_size)

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.micro_batches_per_epoch // self.accumulation)

    @property
    def total_steps(self) -> int:
        if self.max_steps is not None:
            return self.max_steps
        return max(1, math.ceil(self.num_train_epochs * self.steps_per_epoch))

    def epoch_of(self, step: int) -> float:
        """The epoch reached after ``step`` steps (1.5: half-way through the second)."""
        return step / self.steps_per_epoch

    @functools.lru_cache(maxsize=4)  # noqa: B019 (a few small plans per process)
    def epoch_order(self, epoch: int, rank: int) -> list[int]:
        order = list(range(self.num_examples))
        random.Random(self.seed + epoch).shuffle(order)
        total = self.per_rank * self.world_size
        order += order[: total - len(order)]
        return order[rank :: self.world_size]

    def micro_batches(self, step: int, rank: int) -> list[list[int]]:
        """Example indices of each micro-batch of optimiser step ``step`` (0-based) on ``rank``."""
        epoch, within = divmod(step, self.steps_per_epoch)
        order = self.epoch_order(epoch, rank)
        first = within * self.accumulation
        last = min(first + self.accumulation, self.micro_batches_per_epoch)
        return [order[m * self.batch_size : (m + 1) * self.batch_size] for m in range(first, last)]
