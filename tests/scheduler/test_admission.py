"""One admission cycle, as a user of the queues would see it: who starts, where, and why not."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

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
)

HIGH, NORMAL, LOW = PRIORITY_CLASSES["high"], PRIORITY_CLASSES["normal"], PRIORITY_CLASSES["low"]

FLAVOURS = {
    "cpu": Flavour("cpu", cpu_per_node=16, memory_gb_per_node=64, nodes=4),
    "gpu-a100": Flavour(
        "gpu-a100", "nvidia.com/gpu", 8, cpu_per_node=64, memory_gb_per_node=512, nodes=2
    ),
}
UNLIMITED = UserLimit()

_seq = itertools.count(1)


def job(
    id: str,
    *,
    owner: str = "ann",
    queue: str = "default",
    flavour: str = "gpu-a100",
    priority: int = NORMAL,
    seq: int | None = None,
    nodes: int = 1,
    cards: int = 0,
    cpu: float = 1,
    memory: float = 1,
) -> Workload:
    """A workload; submission order follows the order the test creates them in."""
    return Workload(
        id=id,
        owner=owner,
        queue=queue,
        flavour=flavour,
        priority=priority,
        seq=next(_seq) if seq is None else seq,
        nodes=nodes,
        accelerators_per_node=cards,
        cpu_per_node=cpu,
        memory_gb_per_node=memory,
    )


def cycle(
    pending: list[Workload],
    running: Iterable[Placement] = (),
    *,
    queues: dict[str, QueueSpec] | None = None,
    flavours: dict[str, Flavour] = FLAVOURS,
    limits: dict[str, UserLimit] | None = None,
    default_limit: UserLimit = UNLIMITED,
) -> AdmissionResult:
    return admit(
        pending,
        running,
        flavours,
        queues if queues is not None else {"default": QueueSpec("default")},
        limits or {},
        default_limit,
    )


def ids(result: AdmissionResult) -> list[str]:
    return [p.workload.id for p in result.admitted]


# --------------------------------------------------------------------------- order


def test_higher_priority_goes_first_even_if_submitted_later():
    early_low = job("job-low", priority=LOW, nodes=2, cards=8)
    late_high = job("job-high", priority=HIGH, nodes=2, cards=8)

    result = cycle([early_low, late_high])

    assert ids(result) == ["job-high"]
    assert result.waiting["job-low"].position == 1


def test_first_come_first_served_within_a_priority():
    first, second, third = (job(f"job-{i}", cards=8) for i in range(3))

    result = cycle([third, second, first])  # the order the caller passes does not matter

    assert ids(result) == ["job-0", "job-1"]
    assert result.waiting["job-2"].position == 1


def test_admitted_jobs_come_back_in_admission_order():
    a = job("job-a", priority=LOW, cards=1)
    b = job("job-b", priority=HIGH, cards=1)
    c = job("job-c", priority=NORMAL, cards=1)

    assert ids(cycle([a, b, c])) == ["job-b", "job-c", "job-a"]


# --------------------------------------------------------------------------- FIFO strategies


def test_best_effort_fifo_lets_a_small_job_pass_a_big_one_that_does_not_fit():
    running = [Placement(job("old", cards=4), (NodeSlot(0, (0, 1, 2, 3)),))]
    big = job("job-big", nodes=2, cards=8)
    small = job("job-small", cards=2)

    result = cycle([big, small], running)

    assert ids(result) == ["job-small"]
    assert result.waiting["job-big"].position == 1
    assert "only 1 gpu-a100 node has 8 free cards, the job needs 2" in (
        result.waiting["job-big"].reason
    )


def test_strict_fifo_holds_later_jobs_behind_the_first_that_waits():
    queues = {"strict": QueueSpec("strict", strategy="StrictFIFO")}
    running = [Placement(job("old", queue="strict", cards=4), (NodeSlot(0, (0, 1, 2, 3)),))]
    big = job("job-big", queue="strict", nodes=2, cards=8)
    small = job("job-small", queue="strict", cards=2)

    result = cycle([big, small], running, queues=queues)

    assert ids(result) == []
    assert result.waiting["job-big"].position == 1
    assert result.waiting["job-small"].position == 2
    assert result.waiting["job-small"].reason == "waiting behind job-big (StrictFIFO)"


def test_strict_fifo_blocks_only_its_own_queue():
    queues = {
        "strict": QueueSpec("strict", strategy="StrictFIFO"),
        "other": QueueSpec("other"),
    }
    big = job("job-big", queue="strict", nodes=2, cards=8)  # waits: node 1 lost a card
    running = [Placement(job("old", queue="other", cards=1), (NodeSlot(1, (0,)),))]
    behind = job("job-behind", queue="strict", cards=1)
    elsewhere = job("job-elsewhere", queue="other", cards=1)

    result = cycle([big, behind, elsewhere], running, queues=queues)

    assert ids(result) == ["job-elsewhere"]
    assert result.waiting["job-behind"].reason == "waiting behind job-big (StrictFIFO)"


def test_a_job_waiting_on_its_owners_limit_does_not_block_a_strict_queue():
    queues = {"strict": QueueSpec("strict", strategy="StrictFIFO")}
    running = [
        Placement(job("old", owner="ann", queue="strict", cards=4), (NodeSlot(0, (0, 1, 2, 3)),))
    ]
    capped = job("job-capped", owner="ann", queue="strict", cards=2)
    other = job("job-other", owner="bob", queue="strict", cards=2)

    result = cycle(
        [capped, other], running, queues=queues, limits={"ann": UserLimit(max_accelerators=4)}
    )

    assert ids(result) == ["job-other"]
    assert "you use 4 of your 4" in result.waiting["job-capped"].reason


def test_a_job_that_can_never_run_does_not_block_a_strict_queue():
    queues = {"strict": QueueSpec("strict", strategy="StrictFIFO")}
    impossible = job("job-impossible", queue="strict", nodes=5, cards=8)  # only 2 nodes exist
    fine = job("job-fine", queue="strict", cards=1)

    result = cycle([impossible, fine], queues=queues)

    assert ids(result) == ["job-fine"]
    assert "only 2 exist" in result.waiting["job-impossible"].reason


# --------------------------------------------------------------------------- queue quota


def test_queue_quota_caps_cards_and_explains_the_wait():
    queues = {"default": QueueSpec("default", {"gpu-a100": FlavourQuota(accelerators=8)})}
    running = [
        Placement(job("old", owner="bob", cards=6), (NodeSlot(0, (0, 1, 2, 3, 4, 5)),)),
    ]
    fits = job("job-fits", cards=2)
    over = job("job-over", cards=4)

    result = cycle([fits, over], running, queues=queues)

    assert ids(result) == ["job-fits"]
    assert result.waiting["job-over"].reason == (
        "queue default has 0 of 8 gpu-a100 cards free, the job needs 4"
    )


def test_queue_quota_counts_only_its_own_queue_and_flavour():
    queues = {
        "default": QueueSpec("default", {"gpu-a100": FlavourQuota(accelerators=4)}),
        "other": QueueSpec("other"),
    }
    running = [Placement(job("old", queue="other", cards=8), (NodeSlot(0, tuple(range(8))),))]

    result = cycle([job("job-1", cards=4)], running, queues=queues)

    assert ids(result) == ["job-1"]


def test_cpu_quota_of_a_cpu_queue_talks_about_cpus():
    queues = {"default": QueueSpec("default", {"cpu": FlavourQuota(cpu=16)})}
    running = [Placement(job("old", owner="bob", flavour="cpu", cpu=14), (NodeSlot(0),))]

    result = cycle([job("job-1", flavour="cpu", cpu=4)], running, queues=queues)

    assert result.waiting["job-1"].reason == "queue default has 2 of 16 CPUs free, the job needs 4"


def test_jobs_admitted_this_cycle_use_up_the_quota_for_later_ones():
    queues = {"default": QueueSpec("default", {"gpu-a100": FlavourQuota(accelerators=8)})}
    pending = [job(f"job-{i}", cards=3) for i in range(4)]

    result = cycle(pending, queues=queues)

    assert ids(result) == ["job-0", "job-1"]
    assert result.waiting["job-2"].reason == (
        "queue default has 2 of 8 gpu-a100 cards free, the job needs 3"
    )
    assert [result.waiting[i].position for i in ("job-2", "job-3")] == [1, 2]


def test_a_queue_that_does_not_offer_a_flavour_says_so():
    queues = {"default": QueueSpec("default", {"cpu": FlavourQuota(cpu=64)})}

    result = cycle([job("job-1", cards=1)], queues=queues)

    assert result.waiting["job-1"].reason == "queue default does not offer flavour gpu-a100"


# --------------------------------------------------------------------------- user limits


def test_user_limit_counts_running_jobs_in_every_queue():
    queues = {"default": QueueSpec("default"), "other": QueueSpec("other")}
    running = [Placement(job("old", queue="other", cards=4), (NodeSlot(0, (0, 1, 2, 3)),))]

    result = cycle(
        [job("job-1", cards=2)],
        running,
        queues=queues,
        limits={"ann": UserLimit(max_accelerators=4)},
    )

    assert ids(result) == []
    assert result.waiting["job-1"].reason == "you use 4 of your 4 cards, the job needs 2"


def test_default_limit_applies_to_users_without_their_own():
    result = cycle(
        [job("job-ann", cards=4), job("job-bob", owner="bob", cards=4)],
        limits={"bob": UserLimit(max_accelerators=8)},
        default_limit=UserLimit(max_accelerators=2),
    )

    assert ids(result) == ["job-bob"]
    assert result.waiting["job-ann"].reason == "your limit is 2 cards at once, the job needs 4"


def test_one_user_at_the_limit_does_not_hold_back_another():
    pending = [job("job-a1", cards=4), job("job-a2", cards=4), job("job-b", owner="bob", cards=4)]

    result = cycle(pending, default_limit=UserLimit(max_accelerators=4))

    assert ids(result) == ["job-a1", "job-b"]


def test_user_cpu_limit():
    running = [Placement(job("old", flavour="cpu", cpu=6), (NodeSlot(0),))]

    result = cycle(
        [job("job-1", flavour="cpu", cpu=4)], running, default_limit=UserLimit(max_cpu=8)
    )

    assert result.waiting["job-1"].reason == "you use 6 of your 8 CPUs, the job needs 4"


def test_every_blocking_reason_is_listed():
    queues = {"default": QueueSpec("default", {"gpu-a100": FlavourQuota(accelerators=8)})}
    running = [Placement(job("old", cards=8), (NodeSlot(0, tuple(range(8))),))]

    result = cycle(
        [job("job-1", cards=2)],
        running,
        queues=queues,
        limits={"ann": UserLimit(max_accelerators=8)},
    )

    assert result.waiting["job-1"].reason == (
        "queue default has 0 of 8 gpu-a100 cards free, the job needs 2; "
        "you use 8 of your 8 cards, the job needs 2"
    )


def test_a_user_outside_a_restricted_queue_is_told_so():
    queues = {"team": QueueSpec("team", users=frozenset({"bob"}))}

    result = cycle([job("job-1", queue="team", cards=1)], queues=queues)

    assert ids(result) == []
    assert "you may not use queue team" in result.waiting["job-1"].reason


# --------------------------------------------------------------------------- nodes and cards


def test_single_node_job_gets_the_lowest_free_cards_on_the_fullest_node():
    # Node 0 has 2 cards free, node 1 is empty: a 2-card job fills node 0 and keeps node 1
    # whole for an 8-card job.
    running = [Placement(job("old", cards=6), (NodeSlot(0, (0, 1, 2, 3, 4, 5)),))]
    small = job("job-small", cards=2)
    whole = job("job-whole", cards=8)

    result = cycle([small, whole], running)

    assert [p.slots for p in result.admitted] == [
        (NodeSlot(0, (6, 7)),),
        (NodeSlot(1, tuple(range(8))),),
    ]


def test_card_indices_skip_those_held_by_running_jobs():
    running = [Placement(job("old", cards=2), (NodeSlot(0, (0, 2)),))]

    result = cycle([job("job-1", cards=3)], running)

    assert result.admitted[0].slots == (NodeSlot(0, (1, 3, 4)),)


def test_multi_node_job_lands_on_distinct_nodes():
    result = cycle([job("job-1", nodes=2, cards=8, cpu=32)])

    (placement,) = result.admitted
    assert placement.slots == (NodeSlot(0, tuple(range(8))), NodeSlot(1, tuple(range(8))))


def test_jobs_in_one_cycle_never_share_cards():
    pending = [job(f"job-{i}", cards=3) for i in range(6)]

    result = cycle(pending)

    taken = [(s.node, c) for p in result.admitted for s in p.slots for c in s.cards]
    assert len(taken) == len(set(taken)) == 12  # 4 jobs: two per node, 2 cards left on each
    assert result.waiting["job-4"].reason == (
        "no gpu-a100 node has 3 free cards (most free on one node: 2)"
    )


def test_cpu_and_memory_on_a_node_also_bound_placement():
    # Cards are free, but node CPUs are not: 48 of node 0's 64 CPUs and all of node 1's.
    running = [
        Placement(job("old-0", cards=1, cpu=48), (NodeSlot(0, (0,)),)),
        Placement(job("old-1", cards=1, cpu=64), (NodeSlot(1, (0,)),)),
    ]

    result = cycle([job("job-1", cards=1, cpu=32), job("job-2", cards=1, cpu=8)], running)

    assert ids(result) == ["job-2"]
    assert result.waiting["job-1"].reason == (
        "no gpu-a100 node has 32 free CPUs (most free on one node: 8)"
    )


def test_memory_shortage_is_named():
    running = [Placement(job("old", flavour="cpu", memory=60), (NodeSlot(i),)) for i in range(4)]

    result = cycle([job("job-1", flavour="cpu", memory=8)], running)

    assert result.waiting["job-1"].reason == (
        "no cpu node has 8 GB of free memory (most free on one node: 4 GB)"
    )


def test_resources_split_across_nodes_are_reported_as_such():
    # Node 0 keeps its cards but has no CPU left; node 1 has CPU but no cards.
    running = [
        Placement(job("old-0", cards=0, cpu=64), (NodeSlot(0),)),
        Placement(job("old-1", cards=8, cpu=1), (NodeSlot(1, tuple(range(8))),)),
    ]

    result = cycle([job("job-1", cards=1, cpu=4)], running)

    assert result.waiting["job-1"].reason == (
        "no gpu-a100 node has 1 card, 4 CPUs and 1 GB of memory free at once"
    )


def test_fractional_cpus_fill_a_node_exactly():
    pending = [job(f"job-{i}", flavour="cpu", cpu=0.1) for i in range(3)]
    flavours = {"cpu": Flavour("cpu", cpu_per_node=0.3, memory_gb_per_node=64, nodes=1)}

    result = cycle(pending, flavours=flavours)

    assert len(result.admitted) == 3


def test_cpu_jobs_pack_onto_the_fullest_node():
    running = [Placement(job("old", flavour="cpu", cpu=10), (NodeSlot(2),))]

    result = cycle([job("job-1", flavour="cpu", cpu=4)], running)

    assert result.admitted[0].slots == (NodeSlot(2),)


# --------------------------------------------------------------------------- positions


def test_positions_count_waiting_jobs_per_queue_in_priority_then_fifo_order():
    queues = {
        "default": QueueSpec("default", {"gpu-a100": FlavourQuota(accelerators=1)}),
        "other": QueueSpec("other", {"gpu-a100": FlavourQuota(accelerators=1)}),
    }
    pending = [
        job("d-runs", cards=1),
        job("d-normal", cards=1),
        job("o-runs", queue="other", cards=1),
        job("o-low", queue="other", cards=1, priority=LOW),
        job("d-high", cards=1, priority=HIGH),  # submitted late, but first in its queue
        job("o-normal", queue="other", cards=1),
    ]

    result = cycle(pending, queues=queues)

    assert ids(result) == ["d-high", "o-runs"]
    positions = {wid: w.position for wid, w in result.waiting.items()}
    assert positions == {"d-runs": 1, "d-normal": 2, "o-normal": 1, "o-low": 2}


# --------------------------------------------------------------------------- config drift


def test_unknown_queue_or_flavour_waits_with_a_reason_instead_of_failing():
    result = cycle([job("job-q", queue="gone", cards=1), job("job-f", flavour="gpu-h100")])

    assert result.waiting["job-q"].reason == (
        "queue 'gone' does not exist; resubmit to one of: default"
    )
    assert result.waiting["job-f"].reason == (
        "flavour 'gpu-h100' does not exist; resubmit with one of: cpu, gpu-a100"
    )


def test_running_jobs_on_removed_nodes_are_ignored_for_placement():
    running = [Placement(job("old", cards=8), (NodeSlot(7, tuple(range(8))),))]

    result = cycle([job("job-1", nodes=2, cards=8)], running)

    assert ids(result) == ["job-1"]


@pytest.mark.parametrize("strategy", ["BestEffortFIFO", "StrictFIFO"])
def test_empty_cycle(strategy):
    result = cycle([], queues={"default": QueueSpec("default", strategy=strategy)})

    assert result.admitted == [] and result.waiting == {}
