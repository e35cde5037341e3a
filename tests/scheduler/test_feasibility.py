"""Submit-time checks: a job that can never run is refused with the field to change and how."""

from __future__ import annotations

from jupyter_sxwl.scheduler import (
    Flavour,
    FlavourQuota,
    Infeasible,
    QueueSpec,
    UserLimit,
    Workload,
    check_feasible,
)

FLAVOURS = {
    "cpu": Flavour("cpu", cpu_per_node=16, memory_gb_per_node=64, nodes=4),
    "gpu-a100": Flavour(
        "gpu-a100", "nvidia.com/gpu", 8, cpu_per_node=64, memory_gb_per_node=512, nodes=2
    ),
    "ascend-910b": Flavour(
        "ascend-910b", "huawei.com/Ascend910", 8, cpu_per_node=192, memory_gb_per_node=1024
    ),
}
QUEUES = {
    "default": QueueSpec(
        "default",
        {"cpu": FlavourQuota(cpu=32), "gpu-a100": FlavourQuota(accelerators=8, cpu=64)},
    ),
    "open": QueueSpec("open"),  # no quotas: bounded by capacity only
    "no-npu": QueueSpec(
        "no-npu", {"ascend-910b": FlavourQuota(accelerators=0), "cpu": FlavourQuota(cpu=8)}
    ),
    "team": QueueSpec("team", users=frozenset({"bob"})),
}


def job(**kw: object) -> Workload:
    fields: dict[str, object] = {
        "id": "job-1",
        "owner": "ann",
        "queue": "default",
        "flavour": "gpu-a100",
        "priority": 500,
        "seq": 1,
    }
    fields.update(kw)
    return Workload(**fields)  # type: ignore[arg-type]


UNLIMITED = UserLimit()


def problems(w: Workload, limit: UserLimit = UNLIMITED) -> list[Infeasible]:
    return check_feasible(w, FLAVOURS, QUEUES, limit)


def test_a_job_that_fits_has_no_problems():
    assert problems(job(nodes=1, accelerators_per_node=8, cpu_per_node=64)) == []
    assert problems(job(queue="open", flavour="ascend-910b", accelerators_per_node=8)) == []


def test_unknown_flavour_lists_the_choices():
    assert problems(job(queue="open", flavour="gpu-x")) == [
        Infeasible("flavour", "unknown flavour 'gpu-x'; choose one of: ascend-910b, cpu, gpu-a100")
    ]


def test_unknown_flavour_lists_only_what_the_queue_offers():
    (problem,) = problems(job(flavour="gpu-x"))
    assert problem.message == "unknown flavour 'gpu-x'; choose one of: cpu, gpu-a100"


def test_unknown_queue_lists_the_queues_the_user_may_use():
    assert problems(job(queue="nope")) == [
        Infeasible("queue", "unknown queue 'nope'; choose one of: default, no-npu, open")
    ]


def test_a_queue_restricted_to_others_is_refused():
    (problem,) = problems(job(queue="team"))
    assert problem.field == "queue"
    assert "you may not submit to queue 'team'" in problem.message
    assert problems(job(queue="team", owner="bob")) == []


def test_a_queue_without_the_flavour_says_so():
    (problem,) = problems(job(flavour="ascend-910b"))
    assert problem == Infeasible(
        "flavour",
        "queue default does not offer flavour ascend-910b; choose one of: cpu, gpu-a100 or "
        "another queue",
    )


def test_a_zero_card_quota_means_the_queue_does_not_offer_the_flavour():
    (problem,) = problems(job(queue="no-npu", flavour="ascend-910b", accelerators_per_node=1))
    assert problem.field == "flavour"
    assert problem.message.startswith("queue no-npu has no quota for ascend-910b")


def test_more_cards_per_node_than_a_node_has():
    (problem,) = problems(job(queue="open", accelerators_per_node=16))
    assert problem == Infeasible(
        "accelerators",
        "a gpu-a100 node has 8 cards; ask for at most 8 per node and use more nodes",
    )


def test_cards_on_a_cpu_flavour():
    (problem,) = problems(job(flavour="cpu", accelerators_per_node=1))
    assert problem.field == "accelerators"
    assert problem.message == (
        "cpu nodes have no accelerator cards; ask for 0 cards or choose an accelerated "
        "flavour: ascend-910b, gpu-a100"
    )


def test_more_nodes_than_the_flavour_has():
    (problem,) = problems(job(queue="open", nodes=3))
    assert problem == Infeasible("nodes", "there are only 2 gpu-a100 nodes; ask for at most 2")


def test_more_cpu_or_memory_per_node_than_a_node_has():
    found = problems(job(queue="open", flavour="cpu", cpu_per_node=32, memory_gb_per_node=128))
    assert [p.field for p in found] == ["cpu", "memory_gb"]
    assert (
        found[0].message == "a cpu node has 16 CPUs; ask for at most 16 per node and use more nodes"
    )
    assert found[1].message == "a cpu node has 64 GB of memory; ask for at most 64 GB per node"


def test_more_than_the_queue_quota_in_total():
    (problem,) = problems(job(nodes=2, accelerators_per_node=8))
    assert problem == Infeasible(
        "accelerators",
        "the job asks for 16 cards in total but queue default offers at most 8 cards of "
        "gpu-a100; ask for fewer or use another queue",
    )
    (problem,) = problems(job(flavour="cpu", nodes=3, cpu_per_node=16))
    assert problem.field == "cpu"
    assert "queue default offers at most 32 CPUs on cpu nodes" in problem.message


def test_more_than_the_user_limit():
    found = problems(
        job(queue="open", accelerators_per_node=8, cpu_per_node=16),
        UserLimit(max_accelerators=4, max_cpu=8),
    )
    assert found == [
        Infeasible(
            "accelerators",
            "the job asks for 8 cards in total but your limit is 4 cards at once; ask for "
            "fewer or ask an admin to raise it",
        ),
        Infeasible(
            "cpu",
            "the job asks for 16 CPUs in total but your limit is 8 CPUs at once; ask for "
            "fewer or ask an admin to raise it",
        ),
    ]


def test_every_problem_is_reported_at_once():
    found = problems(job(queue="nope", flavour="gpu-a100", nodes=4, accelerators_per_node=9))
    assert sorted(p.field for p in found) == ["accelerators", "nodes", "queue"]


def test_empty_or_negative_asks_are_refused():
    found = problems(job(nodes=0, accelerators_per_node=-1, cpu_per_node=0, memory_gb_per_node=-1))
    assert {p.field for p in found} >= {"nodes", "accelerators", "cpu", "memory_gb"}


def test_messages_are_one_sentence_each():
    found = problems(
        job(queue="nope", flavour="cpu", nodes=9, accelerators_per_node=2, cpu_per_node=99),
        UserLimit(max_accelerators=1, max_cpu=1),
    )
    assert found
    for p in found:
        assert ". " not in p.message and not p.message.endswith(".")
