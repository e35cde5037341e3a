"""Serving benchmark: what issue 5 measures of a deployed model, one part per function.

    .venv/bin/python bench/bench_serving.py [--parts throughput,gateway] [--model DIR]
                                            [--requests 32] [--clients 8] [--max-tokens 64]
                                            [--rounds 3] [--gateway-requests 500]

Parts (``--parts`` takes a comma-separated list; all by default):

* ``throughput``: generated tokens/s of the model server (``python -m
  jupyter_sxwl.runtime.serve``, ``max_batch_size`` = ``--clients``) with ``--clients``
  concurrent clients, against the same requests one at a time through plain transformers
  ``model.generate`` in this process (the baseline), and against the same requests one at a
  time through the server (what batching adds, apart from the server's own speed). Every
  request is a text completion of its own prompt, greedy, exactly ``--max-tokens`` new tokens
  (``ignore_eos`` on the server, ``min_new_tokens`` for ``generate``), so both sides write the
  same number of tokens. ``--rounds`` rounds run the three one after the other; the medians
  are compared. Target: concurrent throughput at least 2x the baseline.

* ``gateway`` (``serving_gateway.py``): a real hub with the platform; a small GET straight to
  a deployed app (the baseline), through the platform's gateway (bearer key, then AppKey/Sign)
  and through the hub's proxy, ``--gateway-requests`` each, p50 and p99; then the request that
  wakes a sleeping service, for the app and for the tiny model woken from its standby, beside
  the tiny model started cold. Targets: overhead p50 <= 2 ms, wake < 3 s.

Each part takes the parsed arguments and a :class:`Context` and returns rows
``(what, value, unit, note)``; all are printed together at the end.

The tiny model (``python -m jupyter_sxwl.catalog.models.tiny``) is built in a temporary folder
unless ``--model`` names a model directory. Not a test: it never fails on a slow figure, and
the test suite does not use it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
Row = tuple[str, float, str, str]


@dataclass
class Context:
    """What the parts share: the model directory and a scratch folder."""

    model_dir: Path
    workdir: Path
    notes: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_tiny_model(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "jupyter_sxwl.catalog.models.tiny", str(dest)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return dest


@contextmanager
def model_server(ctx: Context, **settings: Any) -> Iterator[str]:
    """A running model server on ``ctx.model_dir``; yields its base URL."""
    import requests

    port = free_port()
    config = {"model_dir": str(ctx.model_dir), "served_model_name": "bench", "port": port}
    config.update(settings)
    path = ctx.workdir / f"serve-{port}.json"
    path.write_text(json.dumps(config))
    log = (ctx.workdir / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_sxwl.runtime.serve", str(path)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the model server did not start; see {log.name}")
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def prompts(count: int) -> list[str]:
    topics = ["the sea", "a red bicycle", "rain in spring", "the old library", "mountains"]
    return [
        f"Request {i}: write a short story about {topics[i % len(topics)]}" + " again" * (i % 4)
        for i in range(count)
    ]


class Baseline:
    """The same requests one at a time through ``model.generate`` in this process."""

    def __init__(self, model_dir: Path, max_tokens: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.kw = {
            "max_new_tokens": max_tokens,
            "min_new_tokens": max_tokens,
            "do_sample": False,
            "pad_token_id": self.tokenizer.pad_token_id,
        }

    def run(self, texts: list[str]) -> int:
        """Generate every answer; the tokens written."""
        tokens = 0
        with self.torch.inference_mode():
            for text in texts:
                inputs = self.tokenizer(text, return_tensors="pt")
                out = self.model.generate(**inputs, **self.kw)
                tokens += out.shape[1] - inputs["input_ids"].shape[1]
        return tokens


def timed(fn: Callable[[], int]) -> float:
    """Tokens/s of one call of ``fn`` (which returns the tokens it wrote)."""
    start = time.perf_counter()
    tokens = fn()
    return tokens / (time.perf_counter() - start)


async def through_server(url: str, texts: list[str], max_tokens: int, clients: int) -> int:
    """Send every request with ``clients`` concurrent clients; the tokens written."""
    import openai

    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    queue: asyncio.Queue[str] = asyncio.Queue()
    for text in texts:
        queue.put_nowait(text)
    written = 0

    async def worker() -> None:
        nonlocal written
        while not queue.empty():
            text = queue.get_nowait()
            answer = await client.completions.create(
                model="bench",
                prompt=text,
                max_tokens=max_tokens,
                temperature=0,
                extra_body={"ignore_eos": True},
            )
            assert answer.usage is not None
            written += answer.usage.completion_tokens

    try:
        await asyncio.gather(*(worker() for _ in range(clients)))
    finally:
        await client.close()
    return written


def bench_throughput(args: argparse.Namespace, ctx: Context) -> list[Row]:
    import requests

    texts = prompts(args.requests)
    baseline = Baseline(ctx.model_dir, args.max_tokens)
    baseline.run(texts[:1])  # warm up
    rates: dict[str, list[float]] = {"base": [], "one": [], "many": []}
    with model_server(ctx, max_batch_size=args.clients, max_new_tokens=args.max_tokens) as url:
        asyncio.run(through_server(url, texts[:2], args.max_tokens, 1))  # warm up
        before = requests.get(f"{url}/stats", timeout=10).json()
        # Rounds interleave the three so a busy moment of the machine hits all of them.
        for _ in range(args.rounds):
            rates["base"].append(timed(lambda: baseline.run(texts)))
            rates["one"].append(
                timed(lambda: asyncio.run(through_server(url, texts, args.max_tokens, 1)))
            )
            rates["many"].append(
                timed(
                    lambda: asyncio.run(through_server(url, texts, args.max_tokens, args.clients))
                )
            )
        after = requests.get(f"{url}/stats", timeout=10).json()
    tokens = after["generated_tokens"] - before["generated_tokens"]
    steps = after["decode_steps"] - before["decode_steps"]
    written = len(texts) * args.max_tokens
    ctx.notes.append(
        f"throughput: {len(texts)} completions, {written} tokens a round, medians of "
        f"{args.rounds} rounds; the server wrote {tokens} tokens in {steps} decode steps "
        f"(largest batch {after['max_batch']}); device {after.get('device')}"
    )
    base, one, many = (statistics.median(rates[k]) for k in ("base", "one", "many"))
    return [
        ("throughput: plain generate, one at a time (baseline)", base, "tokens/s", ""),
        ("  model server, 1 client", one, "tokens/s", ""),
        (f"  model server, {args.clients} clients", many, "tokens/s", ""),
        (
            f"  {args.clients} clients / baseline",
            many / base,
            "x",
            "target >= 2x: " + ("met" if many >= 2 * base else "NOT met"),
        ),
    ]


def bench_gateway(args: argparse.Namespace, ctx: Context) -> list[Row]:
    """Gateway overhead and wake latency, through a real hub (``serving_gateway.py``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from serving_gateway import measure

    return measure(args.gateway_requests, args.rounds)


PARTS: dict[str, Callable[[argparse.Namespace, Context], list[Row]]] = {
    "throughput": bench_throughput,
    "gateway": bench_gateway,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS)
    )
    parser.add_argument(
        "--model", type=Path, help="a model directory (default: build the tiny model)"
    )
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--gateway-requests", type=int, default=500, help="small GETs timed per gateway path"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown parts {unknown}: choose from {', '.join(PARTS)}")
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        model_dir = args.model or build_tiny_model(work / "sxwl-tiny-llama")
        ctx = Context(model_dir=model_dir, workdir=work)
        rows: list[Row] = []
        for part in parts:
            rows += PARTS[part](args, ctx)
        width = max(len(r[0]) for r in rows)
        print("serving benchmark")
        for what, value, unit, note in rows:
            print(f"  {what:<{width}}  {value:>10.2f} {unit:<9} {note}")
        for note in ctx.notes:
            print(f"  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
