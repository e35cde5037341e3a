"""The batching generation engine: one worker thread runs every active request through one
forward per decoding step.

Requests join continuously: before each decoding step the worker takes the waiting requests
that fit (``max_batch_size`` in all), runs one left-padded prefill forward for them, and merges
their key/value cache into the running batch (the shorter side is padded on the left, masked
out). Then one decode forward feeds every active request its last token. A request that ends
(end-of-sequence, a stop string, its max_tokens) or whose client went away leaves the batch at
once, and columns no remaining request uses are trimmed off the cache. Each row carries its own
position ids, so padding never shifts a sequence's positions.

Continuous joining rather than waves: a request that arrives while a long answer is being
written starts at the next step instead of waiting for the whole wave to end. Caches whose
layers are not plain dynamic layers (sliding-window models) cannot be merged; for those the
worker admits new requests only when the batch is empty, in waves.

Results go back through a callback the caller supplies (the HTTP app hands each event to its
event loop); nothing here touches the event loop.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .protocol import SamplingParams

log = logging.getLogger("jupyter_sxwl.serve")


@dataclass
class Delta:
    """New answer text."""

    text: str


@dataclass
class Finished:
    """The answer ended: ``reason`` is "stop" or "length"."""

    reason: str
    prompt_tokens: int
    completion_tokens: int


@dataclass
class Failed:
    message: str


Event = Delta | Finished | Failed


@dataclass
class Sequence:
    """One request inside the engine."""

    prompt_ids: list[int]
    sampling: SamplingParams
    max_tokens: int
    emit: Callable[[Event], None]
    generated: list[int] = field(default_factory=list)
    emitted_chars: int = 0
    cancelled: bool = False
    done: bool = False
    generator: Any = None

    def cancel(self) -> None:
        """The client went away: the worker drops the request before its next step."""
        self.cancelled = True


@dataclass
class EngineStats:
    """Counters for the stats endpoint and the log: how much was batched."""

    requests: int = 0
    finished: int = 0
    cancelled: int = 0
    failed: int = 0
    prefills: int = 0
    decode_steps: int = 0
    batched_steps: int = 0  # decode steps that carried more than one request
    max_batch: int = 0  # the most requests one decode step carried
    generated_tokens: int = 0


class Engine:
    """The worker thread and its batch. ``submit`` is safe from any thread."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        stop_ids: list[int],
        max_batch_size: int,
        tokenizer_lock: Any = None,
    ) -> None:
        import torch

        self.torch = torch
        self.model = model
        self.tokenizer = tokenizer
        self.stop_ids = set(stop_ids)
        self.tokenizer_lock = tokenizer_lock or threading.Lock()
        self.max_batch_size = max_batch_size
        self.device = next(model.parameters()).device
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.stats = EngineStats()
        self._waiting: deque[Sequence] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._active: list[Sequence] = []
        self._cache: Any = None
        self._mask: Any = None  # [batch, cache length] 1 where a real token sits
        self._thread = threading.Thread(target=self._run, name="sxwl-serve-engine", daemon=True)

    # The caller's side

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=10)

    def submit(self, seq: Sequence) -> None:
        with self._cond:
            self.stats.requests += 1
            self._waiting.append(seq)
            self._cond.notify_all()

    def snapshot(self) -> dict[str, int]:
        s = self.stats
        return {
            "requests": s.requests,
            "finished": s.finished,
            "cancelled": s.cancelled,
            "failed": s.failed,
            "prefills": s.prefills,
            "decode_steps": s.decode_steps,
            "batched_steps": s.batched_steps,
            "max_batch": s.max_batch,
            "generated_tokens": s.generated_tokens,
            "active": len(self._active),
            "waiting": len(self._waiting),
            "max_batch_size": self.max_batch_size,
        }

    # The worker

    def _run(self) -> None:
        with self.torch.inference_mode():
            while True:
                with self._cond:
                    while not self._stopping and not self._waiting and not self._active:
                        self._cond.wait()
                    if self._stopping:
                        break
                    admit = self._take_waiting()
                try:
                    self._drop_finished()
                    if admit:
                        self._prefill(admit)
                        self._drop_finished()
                    if self._active:
                        self._decode()
                        self._drop_finished()
                except Exception as e:  # a failed forward (out of memory…) fails its batch
                    log.exception("generation failed")
                    for seq in [*self._active, *admit]:
                        if not seq.done:
                            seq.done = True
                            self.stats.failed += 1
                            seq.emit(Failed(f"generation failed: {e}"))
                    self._active, self._cache, self._mask = [], None, None
        for seq in [*self._active, *self._waiting]:
            if not seq.done:
                seq.emit(Failed("the server is shutting down"))

    def _mergeable(self) -> bool:
        if self._cache is None:
            return True
        return all(type(layer).__name__ == "DynamicLayer" for layer in self._cache.layers)

    def _take_waiting(self) -> list[Sequence]:
        room = self.max_batch_size - len(self._active)
        if room <= 0 or (self._active and not self._mergeable()):
            return []
        admit: list[Sequence] = []
        while self._waiting and len(admit) < room:
            seq = self._waiting.popleft()
            if seq.cancelled:
                seq.done = True
                self.stats.cancelled += 1
                continue
            admit.append(seq)
        return admit

    def _new_generator(self, seed: int | None) -> Any:
        g = self.torch.Generator()
        g.manual_seed(seed if seed is not None else random.getrandbits(63))
        return g

    def _prefill(self, admit: list[Sequence]) -> None:
        torch = self.torch
        from transformers import DynamicCache

        width = max(len(s.prompt_ids) for s in admit)
        ids = torch.full((len(admit), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(admit), width), dtype=torch.long)
        for i, seq in enumerate(admit):
            n = len(seq.prompt_ids)
            ids[i, width - n :] = torch.tensor(seq.prompt_ids, dtype=torch.long)
            mask[i, width - n :] = 1
            seq.generator = self._new_generator(seq.sampling.seed)
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.stats.prefills += 1
        self._merge(admit, out.past_key_values, mask)
        self._sample_and_emit(admit, out.logits[:, -1, :])

    def _merge(self, admit: list[Sequence], cache: Any, mask: Any) -> None:
        torch = self.torch
        if self._cache is None or not self._active:
            self._active, self._cache, self._mask = list(admit), cache, mask
            return
        old_len, new_len = self._mask.shape[1], mask.shape[1]
        width = max(old_len, new_len)

        def left_pad(t: Any, n: int, dim: int) -> Any:
            if n == 0:
                return t
            shape = list(t.shape)
            shape[dim] = n
            return torch.cat([t.new_zeros(shape), t], dim=dim)

        for old, new in zip(self._cache.layers, cache.layers, strict=True):
            old.keys = torch.cat(
                [left_pad(old.keys, width - old_len, -2), left_pad(new.keys, width - new_len, -2)],
                dim=0,
            )
            old.values = torch.cat(
                [
                    left_pad(old.values, width - old_len, -2),
                    left_pad(new.values, width - new_len, -2),
                ],
                dim=0,
            )
        self._mask = torch.cat(
            [left_pad(self._mask, width - old_len, 1), left_pad(mask, width - new_len, 1)], dim=0
        )
        self._active.extend(admit)

    def _decode(self) -> None:
        torch = self.torch
        batch = len(self._active)
        last = torch.tensor([[s.generated[-1]] for s in self._active], dtype=torch.long)
        last = last.to(self.device)
        positions = self._mask.sum(-1, keepdim=True)
        self._mask = torch.cat([self._mask, self._mask.new_ones((batch, 1))], dim=1)
        out = self.model(
            input_ids=last,
            attention_mask=self._mask,
            position_ids=positions,
            past_key_values=self._cache,
            use_cache=True,
        )
        self._cache = out.past_key_values
        s = self.stats
        s.decode_steps += 1
        s.max_batch = max(s.max_batch, batch)
        if batch > 1:
            s.batched_steps += 1
            if s.batched_steps == 1 or s.decode_steps % 200 == 0:
                log.info("decode step %d carried %d requests", s.decode_steps, batch)
        self._sample_and_emit(self._active, out.logits[:, -1, :])

    def _sample(self, seqs: list[Sequence], logits: Any) -> list[int]:
        torch = self.torch
        logits = logits.float().cpu()
        greedy = logits.argmax(-1).tolist()
        tokens = []
        for i, seq in enumerate(seqs):
            p = seq.sampling
            if p.temperature == 0.0:
                tokens.append(int(greedy[i]))
                continue
            row = logits[i] / p.temperature
            if p.top_p < 1.0:
                sorted_logits, order = row.sort(descending=True)
                cumulative = sorted_logits.softmax(-1).cumsum(-1)
                # Keep the smallest set whose probability reaches top_p (the first always).
                drop = cumulative - sorted_logits.softmax(-1) >= p.top_p
                sorted_logits[drop] = float("-inf")
                row = torch.full_like(row, float("-inf")).scatter(0, order, sorted_logits)
            probs = row.softmax(-1)
            tokens.append(int(torch.multinomial(probs, 1, generator=seq.generator).item()))
        return tokens

    def _sample_and_emit(self, seqs: list[Sequence], logits: Any) -> None:
        for seq, tok in zip(seqs, self._sample(seqs, logits), strict=True):
            if seq.cancelled:
                continue
            seq.generated.append(tok)
            self.stats.generated_tokens += 1
            self._emit_progress(seq, tok)

    def _emit_progress(self, seq: Sequence, tok: int) -> None:
        if tok in self.stop_ids and not seq.sampling.ignore_eos:
            self._finish(seq, "stop", self._text(seq.generated[:-1]))
            return
        text = self._text(seq.generated)
        stops = seq.sampling.stop
        if stops:
            start = max(0, seq.emitted_chars - max(len(w) for w in stops))
            hits = [i for i in (text.find(w, start) for w in stops) if i >= 0]
            if hits:
                self._finish(seq, "stop", text[: min(hits)])
                return
        if len(seq.generated) >= seq.max_tokens:
            self._finish(seq, "length", text)
            return
        # Hold back what may still become a stop string, and a half-decoded character.
        end = len(text) - (max(len(w) for w in stops) - 1 if stops else 0)
        while end > seq.emitted_chars and text[end - 1] == "\ufffd":
            end -= 1
        if end > seq.emitted_chars:
            seq.emit(Delta(text[seq.emitted_chars : end]))
            seq.emitted_chars = end

    def _text(self, ids: list[int]) -> str:
        with self.tokenizer_lock:
            return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def _finish(self, seq: Sequence, reason: str, text: str) -> None:
        if len(text) > seq.emitted_chars:
            seq.emit(Delta(text[seq.emitted_chars :]))
            seq.emitted_chars = len(text)
        seq.done = True
        self.stats.finished += 1
        seq.emit(Finished(reason, len(seq.prompt_ids), len(seq.generated)))

    def _drop_finished(self) -> None:
        keep = []
        for i, seq in enumerate(self._active):
            if seq.cancelled and not seq.done:
                seq.done = True
                self.stats.cancelled += 1
            if not seq.done:
                keep.append(i)
        if len(keep) == len(self._active):
            return
        if not keep:
            self._active, self._cache, self._mask = [], None, None
            return
        index = self.torch.tensor(keep, device=self.device)
        self._cache.batch_select_indices(index)
        self._active = [self._active[i] for i in keep]
        self._mask = self._mask.index_select(0, index)
        # Columns that only padding uses any more: trim them off.
        used = self._mask.any(0).nonzero()
        first = int(used[0].item()) if used.numel() else 0
        if first > 0 and self._mergeable():
            for layer in self._cache.layers:
                layer.keys = layer.keys[:, :, first:, :]
                layer.values = layer.values[:, :, first:, :]
            self._mask = self._mask[:, first:]
