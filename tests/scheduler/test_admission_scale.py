"""A full cycle with 10,000 pending workloads gives the same answer as the plain rules.

The reference below applies the admission rules in the most obvious way (scan every node for
every workload, no caches), so the fast cycle's shortcuts are checked against it. Timings are
``bench/bench_admission.py``'s business, never the test suite's.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Mapping

import pytest

from jupyter_sxwl.scheduler import (
    PRIORITY_CLASSES,
    AdmissionResult,
    Flavour,
    FlavourQuota,
    NodeSlot,
    Placement,
    QueueSpec,
    UserLimit,
    Workload,
    admit,
    check_feasible,
)

FLAVOURS = {
    "cpu": Flavour("cpu", cpu_per_node=64, memory_gb_per_node=256, nodes=24),
    "gpu-a100": Flavour(
        "gpu-a100", "nvidia.com/gpu", 8, cpu_per_node=96, memory_gb_per_node=1024, nodes=16
    ),
    "ascend-910b": Flavour(
        "ascend-910b", "huawei.com/Ascend910", 8, cpu_per_node=192, memory_gb_per_node=1536, nodes=8
    ),
    "gpu-t4": Flavour(
        "gpu-t4", "nvidia.com/gpu", 2, cpu_per_node=16, memory_gb_per_node=64, nodes=6
    ),
}
QUEUES = {
    "default": QueueSpec(
        "default",
        {
            "cpu": FlavourQuota(cpu=512),
            "gpu-a100": FlavourQuota(accelerators=48, cpu=400),
            "gpu-t4": FlavourQuota(accelerators=6),
        },
    ),
    "research": QueueSpec(
        "research",
        {"gpu-a100": FlavourQuota(accelerators=64), "ascend-910b": FlavourQuota(accelerators=48)},
        strategy="StrictFIFO",
    ),
    "prod": QueueSpec("prod"),
    "team": QueueSpec("team", users=frozenset(f"user{i}" for i in range(0, 300, 3))),
    "frozen": QueueSpec("frozen", {"gpu-a100": FlavourQuota(accelerators=0)}),
}
SHAPES = {
    "cpu": [(1, 0, 2, 8), (1, 0, 8, 32), (2, 0, 32, 128), (1, 0, 0.5, 2)],
    "gpu-a100": [(1, 1, 8, 64), (1, 2, 16, 128), (1, 8, 64, 512), (2, 8, 64, 512)],
    "ascend-910b": [(1, 1, 16, 128), (1, 8, 96, 1024), (4, 8, 96, 1024)],
    "gpu-t4": [(1, 1, 4, 16), (1, 2, 8, 32)],
}
LIMITS = {f"user{i}": UserLimit(max_accelerators=32, max_cpu=512) for i in range(0, 300, 10)}
DEFAULT_LIMIT = UserLimit(max_accelerators=8, max_cpu=128)


def workloads(rng: random.Random, count: int, first_seq: int) -> list[Workload]:
    out = []
    for i in range(count):
        queue = rng.choice(list(QUEUES))
        flavour = rng.choice(list(FLAVOURS) + ["gpu-gone"] * (rng.random() < 0.01))
        nodes, cards, cpu, mem = rng.choice(SHAPES.get(flavour, [(1, 1, 1, 1)]))
        out.append(
            Workload(
                id=f"job-{first_seq + i}",
                owner=f"user{rng.randrange(300)}",
                queue=queue,
                flavour=flavour,
                priority=rng.choice(list(PRIORITY_CLASSES.values())),
                # Duplicate seqs happen when two submits share a timestamp; input order decides.
                seq=first_seq + i // 2,
                nodes=nodes,
                accelerators_per_node=cards,
                cpu_per_node=cpu,
                memory_gb_per_node=mem,
            )
        )
    return out


def reference(
    pending: list[Workload],
    running: list[Placement],
    flavours: Mapping[str, Flavour],
    queues: Mapping[str, QueueSpec],
    limits: Mapping[str, UserLimit],
    default_limit: UserLimit,
) -> tuple[list[Placement], dict[str, int]]:
    """The admission rules, applied literally. Returns the placements and waiting positions."""
    eps = 1e-9
    free = {
        name: [
            [set(range(f.accelerators_per_node)), f.cpu_per_node, f.memory_gb_per_node]
            for _ in range(f.nodes)
        ]
        for name, f in flavours.items()
    }
    queue_use: Counter[tuple[str, str, str]] = Counter()
    user_use: Counter[tuple[str, str]] = Counter()

    def hold(w: Workload, slots: tuple[NodeSlot, ...]) -> None:
        queue_use[w.queue, w.flavour, "acc"] += w.accelerators
        queue_use[w.queue, w.flavour, "cpu"] += w.cpu
        user_use[w.owner, "acc"] += w.accelerators
        user_use[w.owner, "cpu"] += w.cpu
        nodes = free.get(w.flavour, [])
        for slot in slots:
            if slot.node < len(nodes):
                node = nodes[slot.node]
                node[0] -= set(slot.cards)
                node[1] -= w.cpu_per_node
                node[2] -= w.memory_gb_per_node

    for p in running:
        hold(p.workload, p.slots)

    admitted: list[Placement] = []
    positions: dict[str, int] = {}
    waiting_in: Counter[str] = Counter()
    blocked_queues: set[str] = set()
    for w in sorted(pending, key=lambda w: (-w.priority, w.seq)):
        q, f = queues.get(w.queue), flavours.get(w.flavour)
        limit = limits.get(w.owner, default_limit)
        ok = w.queue not in blocked_queues
        ever = q is not None and f is not None
        ever = ever and (q.users is None or w.owner in q.users)
        ever = ever and (not q.quotas or w.flavour in q.quotas)
        quota = q.quotas.get(w.flavour, FlavourQuota()) if ever else FlavourQuota()
        if ever and f.is_accelerated and quota.accelerators == 0:
            ever = False
        ok = ok and ever
        if ok and quota.accelerators is not None:
            ok = queue_use[w.queue, w.flavour, "acc"] + w.accelerators <= quota.accelerators
        if ok and quota.cpu is not None:
            ok = queue_use[w.queue, w.flavour, "cpu"] + w.cpu <= quota.cpu + eps
        if ok and limit.max_accelerators is not None:
            ok = user_use[w.owner, "acc"] + w.accelerators <= limit.max_accelerators
        if ok and limit.max_cpu is not None:
            ok = user_use[w.owner, "cpu"] + w.cpu <= limit.max_cpu + eps
        chosen: list[int] = []
        if ok:
            nodes = free[w.flavour]
            fitting = [
                i
                for i, (cards, cpu, mem) in enumerate(nodes)
                if len(cards) >= w.accelerators_per_node
                and cpu >= w.cpu_per_node - eps
                and mem >= w.memory_gb_per_node - eps
            ]
            fitting.sort(key=lambda i: (len(nodes[i][0]), nodes[i][1], nodes[i][2], i))
            chosen = sorted(fitting[: w.nodes])
            ok = len(chosen) == w.nodes
        if ok:
            slots = tuple(
                NodeSlot(i, tuple(sorted(free[w.flavour][i][0])[: w.accelerators_per_node]))
                for i in chosen
            )
            hold(w, slots)
            admitted.append(Placement(w, slots))
            continue
        waiting_in[w.queue] += 1
        positions[w.id] = waiting_in[w.queue]
        if (
            w.queue not in blocked_queues
            and q is not None
            and q.strategy == "StrictFIFO"
            and not check_feasible(w, flavours, queues, limit)
        ):
            blocked_queues.add(w.queue)
    return admitted, positions


def check_invariants(
    result: AdmissionResult, pending: list[Workload], running: list[Placement]
) -> None:
    """What must hold whatever the order: nothing double-booked, no quota or limit exceeded."""
    assert len(result.admitted) + len(result.waiting) == len(pending)
    assert {p.workload.id for p in result.admitted}.isdisjoint(result.waiting)

    cards_taken: Counter[tuple[str, int, int]] = Counter()
    node_cpu: defaultdict[tuple[str, int], float] = defaultdict(float)
    queue_acc: Counter[tuple[str, str]] = Counter()
    user_acc: Counter[str] = Counter()
    for p in [*running, *result.admitted]:
        w = p.workload
        assert len({s.node for s in p.slots}) == len(p.slots) == w.nodes
        for s in p.slots:
            assert len(s.cards) == w.accelerators_per_node
            cards_taken.update((w.flavour, s.node, c) for c in s.cards)
            node_cpu[w.flavour, s.node] += w.cpu_per_node
        queue_acc[w.queue, w.flavour] += w.accelerators
        user_acc[w.owner] += w.accelerators
    assert max(cards_taken.values()) == 1
    for (flavour, _node), cpu in node_cpu.items():
        assert cpu <= FLAVOURS[flavour].cpu_per_node + 1e-6
    for (queue, flavour), used in queue_acc.items():
        quota = QUEUES[queue].quotas.get(flavour)
        if quota is not None and quota.accelerators is not None:
            assert used <= quota.accelerators
    for owner, used in user_acc.items():
        assert used <= LIMITS.get(owner, DEFAULT_LIMIT).max_accelerators  # type: ignore[operator]

    queue_of = {w.id: w.queue for w in pending}
    by_queue: defaultdict[str, list[int]] = defaultdict(list)
    for wid, waiting in result.waiting.items():
        assert waiting.reason
        by_queue[queue_of[wid]].append(waiting.position)
    for positions in by_queue.values():
        assert sorted(positions) == list(range(1, len(positions) + 1))


@pytest.fixture(scope="module")
def scenario() -> tuple[list[Workload], list[Placement]]:
    rng = random.Random(20240607)
    # Running work is what an earlier cycle admitted, so it is consistent with the nodes.
    earlier = admit(workloads(rng, 600, 0), [], FLAVOURS, QUEUES, LIMITS, DEFAULT_LIMIT)
    assert 100 <= len(earlier.admitted) <= 600
    return workloads(rng, 10_000, 1_000), earlier.admitted


def test_ten_thousand_pending_match_the_plain_rules(scenario):
    pending, running = scenario

    result = admit(pending, running, FLAVOURS, QUEUES, LIMITS, DEFAULT_LIMIT)
    expected_admitted, expected_positions = reference(
        pending, running, FLAVOURS, QUEUES, LIMITS, DEFAULT_LIMIT
    )

    assert result.admitted == expected_admitted
    assert {wid: w.position for wid, w in result.waiting.items()} == expected_positions
    check_invariants(result, pending, running)


def test_ten_thousand_pending_on_an_empty_cluster(scenario):
    pending, _ = scenario

    result = admit(pending, [], FLAVOURS, QUEUES, LIMITS, DEFAULT_LIMIT)
    expected_admitted, expected_positions = reference(
        pending, [], FLAVOURS, QUEUES, LIMITS, DEFAULT_LIMIT
    )

    assert len(result.admitted) > 100  # the cluster really fills up in this cycle
    assert result.admitted == expected_admitted
    assert {wid: w.position for wid, w in result.waiting.items()} == expected_positions
    check_invariants(result, pending, [])


def test_reasons_are_shared_and_specific(scenario):
    pending, running = scenario

    result = admit(pending, running, FLAVOURS, QUEUES, LIMITS, DEFAULT_LIMIT)
    reasons = Counter(w.reason for w in result.waiting.values())

    assert any(r.startswith("waiting behind job-") and r.endswith("(StrictFIFO)") for r in reasons)
    assert "queue frozen has no quota for gpu-a100" in reasons
    assert any("flavour 'gpu-gone' does not exist" in r for r in reasons)
    assert any("you may not use queue team" in r for r in reasons)
    assert any(" of your " in r for r in reasons)
