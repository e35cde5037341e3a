"""Benchmark: validating a large alpaca JSONL dataset (issue 3, target >= 100 MB/s).

Generates an instruction-SFT (alpaca) JSONL file of ``--size-mib`` MiB (default 1024) in a
temporary directory, with a few bad lines (broken JSON, a missing field, a wrong type), then
times, in the same run:

* baseline ``read``: reading the file in 1 MiB chunks (the disk / page-cache ceiling);
* baseline ``json.loads``: splitting lines and ``json.loads`` of each, with no checks;
* ``validate_file``: the platform's validation, which also decodes UTF-8 strictly, tracks
  line numbers and checks every record;
* import: ``build_draft``, what a dataset import does with each file once its bytes are in
  (the sha256 is known from the upload): check every record, keep the bad ones with their
  problems, and write the working copy with its record index for the annotation view.

Prints MB/s (1 MB = 10**6 bytes) for each, and whether validation reaches the target. The
file is removed at the end. Run: ``.venv/bin/python bench/bench_dataset_validation.py``.
Not a test: it never decides whether the suite passes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

from jupyter_sxwl.catalog.datasets import validate_file
from jupyter_sxwl.catalog.datasets.draft import build_draft

TARGET_MB_S = 100.0


def _sample_lines(rng: random.Random, count: int) -> list[bytes]:
    """A block of varied, realistic records (Chinese and English, some with input/history)."""
    zh = "请根据以下内容写一段简短的摘要，并指出其中的关键信息。数据集管理支持在线标注与共享。"  # noqa: RUF001
    en = "Summarise the following passage in two sentences and list the key facts it states. "
    lines = []
    for i in range(count):
        text = zh if i % 2 else en
        rec: dict[str, object] = {
            "instruction": text[: rng.randint(20, len(text))] + f" #{i}",
            "input": (text * rng.randint(0, 3))[: rng.randint(0, 300)],
            "output": (text * rng.randint(1, 6))[: rng.randint(50, 600)],
        }
        if i % 10 == 0:
            rec["history"] = [[text[:30], text[30:60]]]
        if i % 25 == 0:
            rec["system"] = "You are a helpful assistant."
        lines.append(json.dumps(rec, ensure_ascii=False).encode() + b"\n")
    return lines


def generate(path: Path, size: int, seed: int = 0) -> int:
    """Write about ``size`` bytes of alpaca JSONL with a few bad lines; the number of lines."""
    rng = random.Random(seed)
    block = _sample_lines(rng, 2000)
    bad = [
        b'{"instruction": "broken", "output": "no closing brace"\n',
        b'{"input": "missing the instruction", "output": "x"}\n',
        b'{"instruction": "wrong type", "output": 42}\n',
    ]
    written = lines = blocks = 0
    with open(path, "wb", buffering=8 << 20) as f:
        while written < size:
            chunk = b"".join(block)
            blocks += 1
            if blocks % 50 == 0:  # a bad line every ~50 MiB, of each kind in turn
                chunk += bad[(blocks // 50) % len(bad)]
            f.write(chunk)
            written += len(chunk)
            lines += chunk.count(b"\n")
    return lines


def bench_read(path: Path) -> float:
    start = time.perf_counter()
    with open(path, "rb") as f:
        while f.read(1 << 20):
            pass
    return time.perf_counter() - start


def bench_json_loads(path: Path) -> float:
    loads = json.loads
    start = time.perf_counter()
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:  # noqa: SIM105  (contextlib.suppress per line would slow the baseline)
                loads(line)
            except ValueError:
                pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size in MiB")
    args = parser.parse_args()
    size = args.size_mib << 20
    with tempfile.TemporaryDirectory(prefix="sxwl-bench-dataset-") as tmp:
        path = Path(tmp) / "alpaca.jsonl"
        t = time.perf_counter()
        lines = generate(path, size)
        actual = os.path.getsize(path)
        mb = actual / 1e6
        print(
            f"generated {actual / (1 << 20):.0f} MiB, {lines} lines in "
            f"{time.perf_counter() - t:.1f} s ({os.cpu_count()} CPUs)"
        )
        bench_read(path)  # warm the page cache so every timing below reads from memory
        rows = []
        dt = bench_read(path)
        rows.append(("baseline: read 1 MiB chunks", dt))
        dt = bench_json_loads(path)
        rows.append(("baseline: json.loads per line, no checks", dt))
        start = time.perf_counter()
        report = validate_file(path, "instruction", max_errors=100)
        dt = time.perf_counter() - start
        rows.append(("validate_file (instruction, jsonl)", dt))
        start = time.perf_counter()
        result = build_draft(path, Path(tmp) / "draft.jsonl", "instruction")
        import_dt = time.perf_counter() - start
        rows.append(("import: build_draft (validate + working copy)", import_dt))
        print(f"{'what':45} {'seconds':>8} {'MB/s':>8}")
        for name, secs in rows:
            print(f"{name:45} {secs:8.2f} {mb / secs:8.1f}")
        speed = mb / dt
        print(report.summary())
        print(
            f"validate_file: {speed:.1f} MB/s; target >= {TARGET_MB_S:.0f} MB/s: "
            f"{'met' if speed >= TARGET_MB_S else 'NOT met'}; "
            f"vs json.loads baseline: {rows[1][1] / dt:.2f}x"
        )
        speed = mb / import_dt
        print(
            f"import-and-validate: {speed:.1f} MB/s ({result.records} records, "
            f"{result.invalid} invalid kept for annotation); target >= {TARGET_MB_S:.0f} MB/s: "
            f"{'met' if speed >= TARGET_MB_S else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
