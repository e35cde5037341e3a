"""Chat templates: how a conversation becomes token ids, and which of them are trained.

A conversation is a system text (or none) and alternating user/assistant messages. Encoding
gives one ``(source_ids, target_ids)`` pair per exchange: the source is the prompt side (prefix,
system, user turn and the opening of the answer), the target is the answer the model learns to
write. Training masks every source and learns every target, as LLaMA-Factory does by default.

The built-in templates follow the published prompt formats and encode the way LLaMA-Factory
encodes them: every text piece of a turn is tokenised on its own, without special tokens, so
``alpaca`` here gives the same token ids as LLaMA-Factory's ``alpaca`` for the same data.
``tokenizer`` renders with the model's own Jinja chat template instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import FinetuneError

Message = dict[str, str]  # {"role": "user"|"assistant", "content": ...}


class Tokenizer(Protocol):
    """What the templates use of a Hugging Face tokenizer."""

    bos_token_id: int | None
    eos_token_id: int | None
    chat_template: Any

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...

    def convert_tokens_to_ids(self, tokens: str) -> Any: ...


# Pieces of a template turn: text with "{content}" in it, or one of these markers.
BOS = ("bos",)
EOS = ("eos",)


def token(name: str) -> tuple[str, str]:
    """A piece that is one named special token (encoded as text if the vocabulary lacks it)."""
    return ("token", name)


Piece = str | tuple[str, ...]


@dataclass(frozen=True)
class PieceTemplate:
    """A template written as pieces per role, like the published formats."""

    name: str
    user: list[Piece]
    assistant: list[Piece]
    system: list[Piece] = field(default_factory=lambda: ["{content}"])
    prefix: list[Piece] = field(default_factory=list)
    default_system: str = ""
    # Tokens that end an answer besides the tokenizer's end of sequence.
    stop_words: tuple[str, ...] = ()
    # The answer ends with no token of its own: the end-of-sequence token is appended once at
    # the end of the example and learnt at the start of each following user turn.
    efficient_eos: bool = False

    def _ids(self, tokenizer: Tokenizer, pieces: list[Piece], content: str) -> list[int]:
        ids: list[int] = []
        for piece in pieces:
            if isinstance(piece, str):
                text = piece.replace("{content}", content)
                if text:
                    ids += tokenizer.encode(text, add_special_tokens=False)
            elif piece == BOS:
                if tokenizer.bos_token_id is not None:
                    ids.append(tokenizer.bos_token_id)
            elif piece == EOS:
                if tokenizer.eos_token_id is not None:
                    ids.append(tokenizer.eos_token_id)
            else:
                ids += special_token_ids(tokenizer, piece[1])
        return ids

    def _encode(
        self, tokenizer: Tokenizer, messages: list[Message], system: str | None
    ) -> list[list[int]]:
        system = system or self.default_system
        encoded = []
        for i, message in enumerate(messages):
            ids: list[int] = []
            if i == 0:
                ids += self._ids(tokenizer, self.prefix, "")
                if system:
                    ids += self._ids(tokenizer, self.system, system)
            role = message["role"]
            pieces = self.user if role == "user" else self.assistant
            ids += self._ids(tokenizer, pieces, message["content"])
            encoded.append(ids)
        return encoded

    def encode_turns(
        self, tokenizer: Tokenizer, messages: list[Message], system: str | None
    ) -> list[tuple[list[int], list[int]]]:
        """One (source, target) pair of token ids per user/assistant exchange."""
        encoded = self._encode(tokenizer, messages, system)
        return [(encoded[i], encoded[i + 1]) for i in range(0, len(encoded) - 1, 2)]

    def encode_prompt(
        self, tokenizer: Tokenizer, messages: list[Message], system: str | None
    ) -> list[int]:
        """Token ids of a conversation ending with a user turn, ready for generation."""
        ids: list[int] = []
        for part in self._encode(tokenizer, messages, system):
            ids += part
        return ids

    def stop_token_ids(self, tokenizer: Tokenizer) -> list[int]:
        ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        for word in self.stop_words:
            found = known_token_id(tokenizer, word)
            if found is not None and found not in ids:
                ids.append(found)
        return ids


def known_token_id(tokenizer: Tokenizer, name: str) -> int | None:
    """The id of the single token ``name``, or None when the vocabulary lacks it."""
    found = tokenizer.convert_tokens_to_ids(name)
    unk = getattr(tokenizer, "unk_token_id", None)
    if isinstance(found, int) and found != unk:
        return found
    return None


def special_token_ids(tokenizer: Tokenizer, name: str) -> list[int]:
    found = known_token_id(tokenizer, name)
    return [found] if found is not None else tokenizer.encode(name, add_special_tokens=False)


ALPACA = PieceTemplate(
    name="alpaca",
    user=["### Instruction:\n{content}\n\n### Response:\n"],
    assistant=["{content}", EOS, "\n\n"],
    default_system=(
        "Below is an instruction that describes a task. "
        "Write a response that appropriately completes the request.\n\n"
    ),
)

LLAMA3 = PieceTemplate(
    name="llama3",
    prefix=[BOS],
    system=["<|start_header_id|>system<|end_header_id|>\n\n{content}<|eot_id|>"],
    user=[
        "<|start_header_id|>user<|end_header_id|>\n\n{content}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ],
    assistant=["{content}<|eot_id|>"],
    stop_words=("<|eot_id|>", "<|eom_id|>"),
)

QWEN = PieceTemplate(
    name="qwen",
    system=["<|im_start|>system\n{content}<|im_end|>\n"],
    user=["<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n"],
    assistant=["{content}<|im_end|>\n"],
    default_system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    stop_words=("<|im_end|>",),
)

CHATGLM3 = PieceTemplate(
    name="chatglm3",
    prefix=[token("[gMASK]"), token("sop")],
    system=[token("<|system|>"), "\n", "{content}"],
    user=[token("<|user|>"), "\n", "{content}", token("<|assistant|>")],
    assistant=["\n", "{content}"],
    stop_words=("<|user|>", "<|observation|>"),
    efficient_eos=True,
)

BUILTIN = {t.name: t for t in (ALPACA, LLAMA3, QWEN, CHATGLM3)}


class TokenizerTemplate:
    """The model's own Jinja chat template (``tokenizer.apply_chat_template``).

    The whole conversation is rendered once and tokenised once; each token belongs to the turn
    its first character falls in, found by rendering the conversation up to each turn.
    """

    name = "tokenizer"
    efficient_eos = False

    def _render(
        self, tokenizer: Any, messages: list[Message], system: str | None, generation: bool
    ) -> str:
        convo = ([{"role": "system", "content": system}] if system else []) + messages
        try:
            text = tokenizer.apply_chat_template(
                convo, tokenize=False, add_generation_prompt=generation
            )
        except Exception as e:  # a Jinja template raises whatever it likes
            raise FinetuneError(f"the model's chat template cannot render a record: {e}") from None
        return str(text)

    def _segments(
        self, tokenizer: Any, messages: list[Message], system: str | None
    ) -> list[list[int]]:
        ends = [
            len(self._render(tokenizer, messages[: k + 1], system, messages[k]["role"] == "user"))
            for k in range(len(messages))
        ]
        full = self._render(tokenizer, messages, system, messages[-1]["role"] == "user")
        prefixes_hold = all(
            full.startswith(self._render(tokenizer, messages[: k + 1], system, m["role"] == "user"))
            for k, m in enumerate(messages)
        )
        segments: list[list[int]] = [[] for _ in messages]
        if prefixes_hold and getattr(tokenizer, "is_fast", False):
            enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
            k = 0
            for tok, (start, _end) in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
                while k < len(ends) - 1 and start >= ends[k]:
                    k += 1
                segments[k].append(tok)
            return segments
        start = 0
        for k, end in enumerate(ends):
            piece = full[start:end] if prefixes_hold else ""
            segments[k] = tokenizer.encode(piece, add_special_tokens=False) if piece else []
            start = end
        return segments

    def encode_turns(
        self, tokenizer: Any, messages: list[Message], system: str | None
    ) -> list[tuple[list[int], list[int]]]:
        seg = self._segments(tokenizer, messages, system)
        return [(seg[i], seg[i + 1]) for i in range(0, len(seg) - 1, 2)]

    def encode_prompt(
        self, tokenizer: Any, messages: list[Message], system: str | None
    ) -> list[int]:
        text = self._render(tokenizer, messages, system, True)
        return list(tokenizer.encode(text, add_special_tokens=False))

    def stop_token_ids(self, tokenizer: Any) -> list[int]:
        return [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []


ChatTemplate = PieceTemplate | TokenizerTemplate


def get_template(name: str | None, tokenizer: Any) -> ChatTemplate:
    """The template called ``name``; none: the tokenizer's own when it has one, else alpaca."""
    has_own = bool(getattr(tokenizer, "chat_template", None))
    if name is None:
        return TokenizerTemplate() if has_own else ALPACA
    if name == "tokenizer":
        if not has_own:
            raise FinetuneError(
                "template: the model's tokenizer has no chat template; choose alpaca, llama3, "
                "qwen or chatglm3"
            )
        return TokenizerTemplate()
    try:
        return BUILTIN[name]
    except KeyError:
        raise FinetuneError(
            f"template: {name!r} is not known; use tokenizer, {', '.join(BUILTIN)}"
        ) from None
