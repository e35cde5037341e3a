"""Time one admission cycle with 10,000 pending workloads.

Run: ``python bench/bench_admission.py [--pending N] [--runs R]``

Prints the median cycle time beside a baseline measured in the same run (merely sorting the
pending workloads by priority and submission order, which every cycle must do anyway) and the
target: one cycle well under 100 ms on a slow 2-core machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Runnable from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jupyter_sxwl.scheduler import (
    PRIORITY_CLASSES,
    Flavour,
    FlavourQuota,
    Placement,
    QueueSpec,
    UserLimit,
    Workload,
    admit,
)

TARGET_MS = 100.0

FLAVOURS = {
    "cpu": Flavour("cpu", cpu_per_node=64, memory_gb_per_node=256, nodes=24),
    "gpu-a100": Flavour(
        "gpu-a100", "nvidia.com/gpu", 8, cpu_per_node=96, memory_gb_per_node=1024, nodes=16
    ),
    "ascend-910b": Flavour(
        "ascend-910b",
        "huawei.com/Ascend910",
        8,
        cpu_per_node=192,
        memory_gb_per_node=1536,
        nodes=16,
    ),
    "gpu-t4": Flavour(
        "gpu-t4", "nvidia.com/gpu", 2, cpu_per_node=16, memory_gb_per_node=64, nodes=8
    ),
}
QUEUES = {
    "default": QueueSpec(
        "default",
        {
            "cpu": FlavourQuota(cpu=512),
            "gpu-a100": FlavourQuota(accelerators=64),
            "gpu-t4": FlavourQuota(accelerators=8),
        },
    ),
    "research": QueueSpec(
        "research",
        {"gpu-a100": FlavourQuota(accelerators=64), "ascend-910b": FlavourQuota(accelerators=128)},
        strategy="StrictFIFO",
    ),
    "prod": QueueSpec("prod"),  # no quotas: bounded by capacity only
    "teaching": QueueSpec(
        "teaching", {"cpu": FlavourQuota(cpu=256), "gpu-t4": FlavourQuota(accelerators=8)}
    ),
}
SHAPES = {  # flavour -> (nodes, cards per node, cpu per node, memory per node) a user may ask
    "cpu": [(1, 0, 2, 8), (1, 0, 8, 32), (2, 0, 32, 128), (1, 0, 0.5, 2)],
    "gpu-a100": [(1, 1, 8, 64), (1, 2, 16, 128), (1, 8, 64, 512), (2, 8, 64, 512)],
    "ascend-910b": [(1, 1, 16, 128), (1, 8, 96, 1024), (4, 8, 96, 1024)],
    "gpu-t4": [(1, 1, 4, 16), (1, 2, 8, 32)],
}


def workloads(rng: random.Random, count: int, first_seq: int) -> list[Workload]:
    """Realistic pending work: 300 owners, every queue, a few shapes per flavour."""
    out = []
    priorities = list(PRIORITY_CLASSES.values())
    for i in range(count):
        queue = rng.choice(list(QUEUES))
        offered = list(QUEUES[queue].quotas) or list(FLAVOURS)
        flavour = rng.choice(offered)
        nodes, cards, cpu, mem = rng.choice(SHAPES[flavour])
        out.append(
            Workload(
                id=f"job-{first_seq + i}",
                owner=f"user{rng.randrange(300)}",
                queue=queue,
                flavour=flavour,
                priority=rng.choice(priorities),
                seq=first_seq + i,
                nodes=nodes,
                accelerators_per_node=cards,
                cpu_per_node=cpu,
                memory_gb_per_node=mem,
            )
        )
    return out


def scenario(
    pending: int, seed: int = 7
) -> tuple[list[Workload], list[Placement], dict[str, UserLimit], UserLimit]:
    rng = random.Random(seed)
    limits = {f"user{i}": UserLimit(max_accelerators=32, max_cpu=512) for i in range(0, 300, 10)}
    default_limit = UserLimit(max_accelerators=8, max_cpu=128)
    # Running work is what an earlier cycle admitted, so it is consistent with the nodes.
    earlier = admit(workloads(rng, 400, 0), [], FLAVOURS, QUEUES, limits, default_limit)
    return workloads(rng, pending, 10_000), earlier.admitted, limits, default_limit


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    pending, running, limits, default_limit = scenario(args.pending)

    def cycle(running: list[Placement]) -> Callable[[], object]:
        return lambda: admit(pending, running, FLAVOURS, QUEUES, limits, default_limit)

    def baseline() -> None:
        sorted(pending, key=lambda w: (-w.priority, w.seq))

    sort_ms = median_ms(baseline, args.runs)
    print(
        f"{len(pending)} pending, {len(QUEUES)} queues, {len(FLAVOURS)} flavours, "
        f"{sum(f.nodes for f in FLAVOURS.values())} nodes; median of {args.runs} runs"
    )
    print(f"{'baseline: sort pending only':<48} {sort_ms:7.1f} ms")
    worst = 0.0
    for label, held in (("with running work", running), ("on an empty cluster", [])):
        result = admit(pending, held, FLAVOURS, QUEUES, limits, default_limit)
        ms = median_ms(cycle(held), args.runs)
        worst = max(worst, ms)
        what = f"cycle {label} ({len(held)} running, {len(result.admitted)} admitted)"
        print(f"{what:<48} {ms:7.1f} ms   ({ms / sort_ms:.1f}x baseline)")
    verdict = "ok" if worst < TARGET_MS else "OVER TARGET"
    print(f"{'target: one cycle':<48} < {TARGET_MS:5.0f} ms   {verdict}")


if __name__ == "__main__":
    main()
