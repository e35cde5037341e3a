"""Fine-tune benchmark: the platform's runner against LLaMA-Factory, same LoRA job, same run.

    .venv/bin/python bench/bench_finetune.py [--rounds 4] [--steps 50] [--learning-rate 1e-3]
                                             [--datasets alpaca_zh_demo,alpaca_en_demo]
                                             [--sides both|sxwl|llamafactory] [--profile]
                                             [--peer-option KEY=VALUE ...] [--keep]

Installs its peer first: ``llamafactory-cli`` in its own virtual environment,
``.bench-venv/llamafactory`` (ignored by git), with ``bench/llamafactory-constraints.txt``
pinning torch to the local CPU build (2.13.0) and LLaMA-Factory's other libraries to the newest
releases it supports (transformers 5.6, peft 0.18, trl 0.24). LLaMA-Factory is installed
without its dependencies, which are then installed from an explicit list that leaves out what
only its web UI, API server and image/audio/video data use (gradio, uvicorn, av, torchvision,
torchaudio: no release of the last two is built for this torch). Its multimodal module imports
torchaudio at the top, so a stand-in module that refuses any use sits on its ``PYTHONPATH``;
text SFT never touches it. A later run reuses the environment while the constraints file is
unchanged.

Then it builds the tiny Llama model (``python -m jupyter_sxwl.catalog.models.tiny``) and runs
the same job on both sides: LoRA rank 8 (alpha 16, no dropout) on all linear layers, template
alpaca, cutoff 256, batch 8, no gradient accumulation, ``--steps`` optimiser steps, AdamW at
``--learning-rate`` with a cosine schedule and no warm-up, seed 42, no validation split, float32
on the CPU, on the preset alpaca datasets (zh and en: 471 records). Everything else is each
side's default, but for one: LLaMA-Factory turns gradient checkpointing on by default (it
recomputes activations in the backward pass: slower, less memory), which the runner does not
do, so the benchmark turns it off for a like-for-like job; ``--peer-option
disable_gradient_checkpointing=false`` gives LLaMA-Factory's default back.

* sxwl: ``python -m jupyter_sxwl.runtime.finetune train RUN.json``;
* llamafactory: ``llamafactory-cli train job.yaml`` (``report_to: none``), the data in a
  ``dataset_dir`` with its ``dataset_info.json``.

One short untimed run of each side comes first (the libraries into the page cache; it also
keeps LLaMA-Factory's tokenised data for counting). Then ``--rounds`` rounds of one timed run
each, the side that goes first alternating (the machine is shared: keep the rounds even).
For every run it measures, the same way for both:

* throughput: samples/s = steps x batch / the side's own training-loop time (``train_runtime``
  of its ``train_results.json``), and tokens/s = samples/s x the mean number of real tokens
  (prompt and answer, no padding) per example of that side's tokenised training data, read
  from the data itself (LLaMA-Factory's saved ``tokenized_path``, the runner's own encoding;
  the two are compared token by token) — LLaMA-Factory's own "effective tokens" rule; the
  end-to-end samples/s over the whole command's wall time (start-up, data, model, save)
  beside it;
* peak memory: the largest summed RSS of the training process and all its children, sampled
  with psutil every 50 ms;
* final loss: the mean of the last ten per-step losses (logging every step on both sides),
  with the mean over all steps (``train_loss``) beside it.

Prints every run, the medians, and the ratios sxwl/llamafactory against the targets:
throughput at least 1.0, peak memory at most 1.0, final loss within 5 %. ``--profile`` adds a
cProfile run of the runner (its top functions by own time). Not a test: it never fails on a
slow figure, and the test suite does not use it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PRESETS = REPO / "jupyter_sxwl" / "catalog" / "presets"
VENV = REPO / ".bench-venv" / "llamafactory"
CONSTRAINTS = Path(__file__).resolve().parent / "llamafactory-constraints.txt"
LLAMAFACTORY = "llamafactory==0.9.5"
# LLaMA-Factory 0.9.5's dependencies without the web UI, the API server and media decoding.
LLAMAFACTORY_DEPS = [
    "transformers",
    "datasets",
    "accelerate",
    "peft",
    "trl",
    "einops",
    "fire",
    "numpy",
    "omegaconf",
    "packaging",
    "pandas",
    "protobuf",
    "pydantic",
    "pyyaml",
    "safetensors",
    "scipy",
    "sentencepiece",
    "tiktoken",
    "tyro<0.9.0",
]
STAND_IN = '''"""Stand-in for torchaudio, which no release installs beside this torch."""


def __getattr__(name):
    raise RuntimeError(f"torchaudio.{name}: torchaudio is not installed in this environment")
'''

LORA_RANK = 8
BATCH = 8
CUTOFF = 256
SEED = 42
LOSS_WINDOW = 10  # the final loss: the mean of the last this many step losses
SAMPLE_EVERY = 0.05  # seconds between RSS samples
TARGET_SPEED = 1.0
TARGET_MEMORY = 1.0
TARGET_LOSS = 0.05
SIDES = ("sxwl", "llamafactory")


def log(message: str) -> None:
    print(message, flush=True)


# --- the peer's environment -------------------------------------------------------------------


def venv_bin(name: str) -> Path:
    return VENV / "bin" / name


def write_stand_ins() -> None:
    shim = VENV / "stand-ins"
    shim.mkdir(exist_ok=True)
    (shim / "torchaudio.py").write_text(STAND_IN)


def ensure_llamafactory(reinstall: bool) -> None:
    """Create or reuse ``.bench-venv/llamafactory`` with LLaMA-Factory under the pins."""
    digest = hashlib.sha256(
        CONSTRAINTS.read_bytes() + "\n".join([LLAMAFACTORY, *LLAMAFACTORY_DEPS]).encode()
    ).hexdigest()
    marker = VENV / ".bench-installed"
    if not reinstall and marker.is_file() and marker.read_text().strip() == digest:
        write_stand_ins()
        return
    if VENV.exists():
        shutil.rmtree(VENV)
    log(f"installing {LLAMAFACTORY} into {VENV.relative_to(REPO)} (pins: {CONSTRAINTS.name}) …")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(venv_bin("python")), "-m", "pip", "install", "-q", "-c", str(CONSTRAINTS)]
    # pip's output is shown only when it fails: with --no-deps it warns about every left-out
    # dependency, which is intended here.
    for args in (["torch"], ["--no-deps", LLAMAFACTORY], LLAMAFACTORY_DEPS):
        done = subprocess.run([*pip, *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"pip install {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    write_stand_ins()
    listed = subprocess.run(
        [str(venv_bin("python")), "-m", "pip", "list", "--format=json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    names = {p["name"].lower() for p in json.loads(listed)}
    unwanted = sorted(n for n in names if n.startswith("nvidia-") or n == "torchvision")
    if unwanted:
        raise SystemExit(f"the peer's environment pulled {', '.join(unwanted)}: check the pins")
    marker.write_text(digest + "\n")
    log(f"  installed in {time.perf_counter() - start:.0f} s")


def peer_versions() -> str:
    code = (
        "import importlib.metadata as m;"
        "print(', '.join(f'{p} {m.version(p)}' for p in "
        "('llamafactory', 'torch', 'transformers', 'peft', 'accelerate', 'datasets', 'trl')))"
    )
    return subprocess.run(
        [str(venv_bin("python")), "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


def own_versions() -> str:
    import importlib.metadata as m

    return ", ".join(f"{p} {m.version(p)}" for p in ("torch", "transformers", "peft", "accelerate"))


# --- measuring one command --------------------------------------------------------------------


def tree_rss(proc: psutil.Process) -> int:
    """Summed RSS of ``proc`` and its descendants (0 for any that ended meanwhile)."""
    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in members:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def run_measured(
    cmd: list[str], env: dict[str, str], log_path: Path, cwd: Path
) -> tuple[float, int]:
    """Run ``cmd`` to its end: (wall seconds, peak summed RSS in bytes). Fails loudly."""
    with log_path.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        watched = psutil.Process(proc.pid)
        peak = 0
        while True:
            peak = max(peak, tree_rss(watched))
            try:
                proc.wait(timeout=SAMPLE_EVERY)
                break
            except subprocess.TimeoutExpired:
                continue
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-30:]
        raise SystemExit(
            f"{cmd[0]} exited with {proc.returncode}; the end of {log_path}:\n" + "\n".join(tail)
        )
    return wall, peak


# --- the job, written for each side -----------------------------------------------------------


@dataclass
class Job:
    model_dir: Path
    datasets: list[str]
    steps: int
    learning_rate: float
    peer_options: dict[str, Any] = field(default_factory=dict)


def dataset_path(name: str) -> Path:
    path = PRESETS / f"{name}.jsonl"
    if not path.is_file():
        raise SystemExit(f"no preset dataset {name} in {PRESETS.relative_to(REPO)}")
    return path


def write_llamafactory_data(job: Job, dataset_dir: Path) -> None:
    """The data in LLaMA-Factory's alpaca format, with its ``dataset_info.json``."""
    dataset_dir.mkdir(parents=True)
    columns = {"prompt": "instruction", "query": "input", "response": "output"}
    info = {}
    for name in job.datasets:
        shutil.copyfile(dataset_path(name), dataset_dir / f"{name}.jsonl")
        info[name] = {"file_name": f"{name}.jsonl", "formatting": "alpaca", "columns": columns}
    (dataset_dir / "dataset_info.json").write_text(json.dumps(info, indent=2) + "\n")


def llamafactory_config(
    job: Job, dataset_dir: Path, out: Path, steps: int, tokenized: Path | None
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model_name_or_path": str(job.model_dir),
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "lora",
        "lora_rank": LORA_RANK,
        "lora_alpha": 2 * LORA_RANK,
        "lora_dropout": 0.0,
        "lora_target": "all",
        "dataset": ",".join(job.datasets),
        "dataset_dir": str(dataset_dir),
        "template": "alpaca",
        "cutoff_len": CUTOFF,
        "overwrite_cache": True,
        "output_dir": str(out / "output"),
        "overwrite_output_dir": True,
        "logging_steps": 1,
        "save_strategy": "no",
        "plot_loss": False,
        "report_to": "none",
        "per_device_train_batch_size": BATCH,
        "gradient_accumulation_steps": 1,
        "learning_rate": job.learning_rate,
        "max_steps": steps,
        "lr_scheduler_type": "cosine",
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "seed": SEED,
        "val_size": 0.0,
        "bf16": False,
        "fp16": False,
        "disable_gradient_checkpointing": True,  # the runner recomputes nothing either
    }
    if tokenized is not None:
        config["tokenized_path"] = str(tokenized)
    config.update(job.peer_options)
    return config


def sxwl_config(job: Job, out: Path, steps: int) -> dict[str, Any]:
    return {
        "params": {
            "finetuning_type": "lora",
            "lora_rank": LORA_RANK,
            "lora_alpha": 2 * LORA_RANK,
            "lora_dropout": 0.0,
            "lora_target": "all",
            "template": "alpaca",
            "cutoff_len": CUTOFF,
            "per_device_train_batch_size": BATCH,
            "gradient_accumulation_steps": 1,
            "learning_rate": job.learning_rate,
            "max_steps": steps,
            "lr_scheduler_type": "cosine",
            "warmup_steps": 0,
            "weight_decay": 0.0,
            "max_grad_norm": 1.0,
            "seed": SEED,
            "val_size": 0.0,
            "logging_steps": 1,
            "save_steps": steps + 1,  # no checkpoint inside the timed work
            "bf16": False,
            "fp16": False,
        },
        "model_dir": str(job.model_dir),
        "datasets": [
            {"name": name, "annotation_type": "instruction", "path": str(dataset_path(name))}
            for name in job.datasets
        ],
        "output_dir": str(out / "output"),
        "checkpoint_dir": str(out / "checkpoints"),
        "metrics_file": str(out / "metrics.jsonl"),
        "resume": False,
    }


# --- one run and its figures ------------------------------------------------------------------


@dataclass
class Run:
    side: str
    wall: float
    peak_rss: int
    train_runtime: float
    steps: int
    losses: list[float]
    train_loss: float

    @property
    def samples(self) -> int:
        return self.steps * BATCH

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.train_runtime

    @property
    def wall_samples_per_s(self) -> float:
        return self.samples / self.wall

    @property
    def final_loss(self) -> float:
        return statistics.fmean(self.losses[-LOSS_WINDOW:])


@dataclass
class Bench:
    job: Job
    work: Path
    env: dict[str, str]
    runs: dict[str, list[Run]] = field(default_factory=lambda: {s: [] for s in SIDES})
    counter: int = 0

    def run_dir(self, side: str) -> Path:
        self.counter += 1
        path = self.work / f"{self.counter:02d}-{side}"
        path.mkdir()
        return path

    def run_llamafactory(self, steps: int, tokenized: Path | None = None) -> Run:
        out = self.run_dir("llamafactory")
        config = llamafactory_config(self.job, self.work / "lf-data", out, steps, tokenized)
        (out / "job.yaml").write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
        env = {**self.env, "PYTHONPATH": str(VENV / "stand-ins")}
        wall, peak = run_measured(
            [str(venv_bin("llamafactory-cli")), "train", str(out / "job.yaml")],
            env,
            out / "log.txt",
            out,
        )
        results = json.loads((out / "output" / "train_results.json").read_text())
        losses = []
        with (out / "output" / "trainer_log.jsonl").open() as f:
            for line in f:
                point = json.loads(line)
                if "loss" in point:
                    losses.append(float(point["loss"]))
        return Run(
            "llamafactory",
            wall,
            peak,
            float(results["train_runtime"]),
            steps,
            losses,
            float(results["train_loss"]),
        )

    def run_sxwl(self, steps: int, profile: Path | None = None) -> Run:
        out = self.run_dir("sxwl")
        (out / "RUN.json").write_text(json.dumps(sxwl_config(self.job, out, steps), indent=2))
        cmd = [sys.executable]
        if profile is not None:
            cmd += ["-m", "cProfile", "-o", str(profile)]
        cmd += ["-m", "jupyter_sxwl.runtime.finetune", "train", str(out / "RUN.json")]
        wall, peak = run_measured(cmd, self.env, out / "log.txt", out)
        results = json.loads((out / "output" / "train_results.json").read_text())
        losses = []
        with (out / "metrics.jsonl").open() as f:
            for line in f:
                point = json.loads(line)
                if point.get("kind") == "train":
                    losses.append(float(point["loss"]))
        return Run(
            "sxwl",
            wall,
            peak,
            float(results["train_runtime"]),
            steps,
            losses,
            float(results["train_loss"]),
        )

    def run(self, side: str, steps: int) -> Run:
        return self.run_sxwl(steps) if side == "sxwl" else self.run_llamafactory(steps)


# --- real tokens per example, read from each side's tokenised data -----------------------------


def llamafactory_token_ids(tokenized: Path) -> list[list[int]]:
    from datasets import load_from_disk

    data = load_from_disk(str(tokenized))
    train = data.get("train", data)
    return [list(ids) for ids in train["input_ids"]]


def sxwl_token_ids(job: Job, work: Path) -> list[list[int]]:
    """The runner's own encoding of the training data (what its ``train`` feeds the model)."""
    from jupyter_sxwl.runtime.finetune import modeling
    from jupyter_sxwl.runtime.finetune.runconfig import load_run_config
    from jupyter_sxwl.runtime.finetune.train import prepare_data

    path = work / "tokens-RUN.json"
    path.write_text(json.dumps(sxwl_config(job, work / "tokens", job.steps)))
    run = load_run_config(str(path))
    tokenizer = modeling.load_tokenizer(run.model_dir)
    train, _, _ = prepare_data(run, tokenizer)
    return [list(ex.input_ids) for ex in train]


def mean_len(rows: list[list[int]]) -> float:
    return statistics.fmean(len(r) for r in rows)


# --- report -----------------------------------------------------------------------------------


def median(runs: list[Run], key: str) -> float:
    return statistics.median(getattr(r, key) for r in runs)


def print_run(run: Run, tokens_per_example: float, label: str) -> None:
    log(
        f"  {label:<20} train {run.train_runtime:6.1f} s {run.samples_per_s:6.2f} samples/s "
        f"{run.samples_per_s * tokens_per_example:7.0f} tokens/s | wall {run.wall:6.1f} s "
        f"{run.wall_samples_per_s:5.2f} samples/s | peak RSS {run.peak_rss / 2**20:6.0f} MiB | "
        f"final loss {run.final_loss:.4f} (mean {run.train_loss:.4f})"
    )


def print_profile(profile: Path, top: int = 25) -> None:
    import pstats

    log("")
    log(f"where the runner's time goes (cProfile, top {top} by own time):")
    stats = pstats.Stats(str(profile))
    stats.sort_stats("tottime").print_stats(top)


def parse_peer_options(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"--peer-option {item!r}: give KEY=VALUE")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=4, help="timed runs of each side; the median counts (4)"
    )
    parser.add_argument("--steps", type=int, default=50, help="optimiser steps per run (50)")
    parser.add_argument(
        "--learning-rate", type=float, default=1e-3, help="peak learning rate, both sides (1e-3)"
    )
    parser.add_argument(
        "--datasets",
        default="alpaca_zh_demo,alpaca_en_demo",
        help="preset alpaca datasets, comma-separated (alpaca_zh_demo,alpaca_en_demo)",
    )
    parser.add_argument(
        "--sides", choices=("both", *SIDES), default="both", help="what to run (both)"
    )
    parser.add_argument(
        "--warmup-steps", type=int, default=2, help="steps of the untimed first run (2)"
    )
    parser.add_argument(
        "--peer-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extra llamafactory-cli setting (VALUE read as JSON, else a string), e.g. "
        "disable_gradient_checkpointing=false (its default); repeatable",
    )
    parser.add_argument("--profile", action="store_true", help="add a cProfile run of the runner")
    parser.add_argument("--reinstall", action="store_true", help="rebuild the peer's venv")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.rounds < 1 or args.steps < LOSS_WINDOW:
        parser.error(f"--rounds must be at least 1 and --steps at least {LOSS_WINDOW}")
    if args.rounds % 2 and args.sides == "both":
        log("note: with an odd number of rounds the runner goes first once more")
    sides = SIDES if args.sides == "both" else (args.sides,)
    if "llamafactory" in sides:
        ensure_llamafactory(args.reinstall)

    work = Path(tempfile.mkdtemp(prefix="sxwl-bench-finetune-"))
    try:
        model_dir = work / "model"
        subprocess.run(
            [sys.executable, "-m", "jupyter_sxwl.catalog.models.tiny", str(model_dir)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        job = Job(
            model_dir,
            args.datasets.split(","),
            args.steps,
            args.learning_rate,
            parse_peer_options(parser, args.peer_option),
        )
        records = sum(1 for n in job.datasets for line in dataset_path(n).open() if line.strip())
        env = {
            **os.environ,
            "HF_HOME": str(work / "hf-home"),  # caches of both sides stay in the work dir
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
        }
        bench = Bench(job, work, env)
        write_llamafactory_data(job, work / "lf-data")

        log(
            f"tiny Llama (sxwl-tiny-llama), {records} records of {', '.join(job.datasets)}; "
            f"LoRA r={LORA_RANK} alpha={2 * LORA_RANK} all linear, alpaca, cutoff {CUTOFF}, "
            f"batch {BATCH}, {args.steps} steps, lr {args.learning_rate:g} cosine, seed {SEED}, "
            "CPU float32, no gradient checkpointing"
        )
        log(f"sxwl runner: {own_versions()}")
        if "llamafactory" in sides:
            log(f"llamafactory-cli: {peer_versions()}")
            if job.peer_options:
                log(f"  with {json.dumps(job.peer_options)}")
        load = os.getloadavg()[0]
        log(f"load average {load:.2f} on {os.cpu_count()} CPUs")
        if load > 0.5:
            log("  (other work is running: expect noisy figures)")

        tokens: dict[str, float] = {}
        ids: dict[str, list[list[int]]] = {}
        log("untimed warm-up runs …")
        for side in sides:
            if side == "llamafactory":
                tokenized = work / "lf-tokenized"
                bench.run_llamafactory(args.warmup_steps, tokenized)
                ids[side] = llamafactory_token_ids(tokenized)
            else:
                bench.run_sxwl(args.warmup_steps)
                ids[side] = sxwl_token_ids(job, work)
            tokens[side] = mean_len(ids[side])
        for side in sides:
            log(
                f"  {side}: {len(ids[side])} training examples, {tokens[side]:.1f} real tokens "
                "each on average (prompt and answer, no padding)"
            )
        if len(sides) == 2:
            same = sum(a == b for a, b in zip(ids["sxwl"], ids["llamafactory"], strict=False))
            log(f"  identical token ids in {same} of {len(ids['llamafactory'])} examples")

        for round_no in range(args.rounds):
            order = list(sides) if round_no % 2 == 0 else list(sides)[::-1]
            log(f"round {round_no + 1} ({order[0]} first)")
            for side in order:
                run = bench.run(side, args.steps)
                bench.runs[side].append(run)
                print_run(run, tokens[side], side)

        log("")
        log(f"median of {args.rounds} runs each; load average {os.getloadavg()[0]:.2f}")
        log(
            f"  {'':<13} {'samples/s':>9} {'tokens/s':>9} {'wall s':>7} {'e2e smp/s':>9} "
            f"{'peak MiB':>8} {'final loss':>10} {'mean loss':>9}"
        )
        med: dict[str, dict[str, float]] = {}
        for side in sides:
            runs = bench.runs[side]
            m = {
                "samples": median(runs, "samples_per_s"),
                "wall": median(runs, "wall"),
                "e2e": median(runs, "wall_samples_per_s"),
                "peak": median(runs, "peak_rss") / 2**20,
                "loss": median(runs, "final_loss"),
                "mean_loss": median(runs, "train_loss"),
            }
            m["tokens"] = m["samples"] * tokens[side]
            med[side] = m
            log(
                f"  {side:<13} {m['samples']:9.2f} {m['tokens']:9.0f} {m['wall']:7.1f} "
                f"{m['e2e']:9.2f} {m['peak']:8.0f} {m['loss']:10.4f} {m['mean_loss']:9.4f}"
            )
        if len(sides) == 2:
            ours, peer = med["sxwl"], med["llamafactory"]
            log("")
            log("sxwl / llamafactory (medians)")
            pairs = list(zip(bench.runs["sxwl"], bench.runs["llamafactory"], strict=True))
            tok_ratio = tokens["sxwl"] / tokens["llamafactory"]

            def per_round(key: str) -> list[float]:
                return [getattr(a, key) / getattr(b, key) for a, b in pairs]

            rows: list[tuple[str, float, list[float], str]] = [
                (
                    "tokens/s",
                    ours["tokens"] / peer["tokens"],
                    [r * tok_ratio for r in per_round("samples_per_s")],
                    "speed",
                ),
                (
                    "samples/s",
                    ours["samples"] / peer["samples"],
                    per_round("samples_per_s"),
                    "speed",
                ),
                (
                    "end-to-end samples/s",
                    ours["e2e"] / peer["e2e"],
                    per_round("wall_samples_per_s"),
                    "",
                ),
                ("peak memory", ours["peak"] / peer["peak"], per_round("peak_rss"), "memory"),
                ("final loss", ours["loss"] / peer["loss"], per_round("final_loss"), "loss"),
            ]
            met: bool | None
            for name, ratio, rounds, kind in rows:
                if kind == "speed":
                    aim, met = f"target ≥ {TARGET_SPEED}", ratio >= TARGET_SPEED
                elif kind == "memory":
                    aim, met = f"target ≤ {TARGET_MEMORY}", ratio <= TARGET_MEMORY
                elif kind == "loss":
                    aim, met = f"target within {TARGET_LOSS:.0%}", abs(ratio - 1) <= TARGET_LOSS
                else:
                    aim, met = "(no target)", None
                verdict = "" if met is None else ("meets" if met else "MISSES")
                each = " ".join(f"{r:.3f}" for r in rounds)
                log(f"  {name:<21} {ratio:6.3f}  {aim:<20} {verdict:<6}  (rounds: {each})")

        if args.profile and "sxwl" in sides:
            profile = work / "runner.prof"
            bench.run_sxwl(args.steps, profile=profile)
            print_profile(profile)
    finally:
        if args.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
