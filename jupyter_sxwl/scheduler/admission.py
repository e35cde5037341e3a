"""Admission: which pending workloads start now, and why the others wait.

Pure decisions over the plain data in ``model.py``; the caller loads state and acts on the
result. The rules follow Kueue: a workload is admitted when its ClusterQueue's nominal quota
for its flavour, its owner's limit and the flavour's free nodes all have room, highest
priority first and FIFO within a priority. ``StrictFIFO`` queues stop at their first workload
that does not fit; ``BestEffortFIFO`` queues let later ones that fit go past it.

One cycle must stay cheap with ten thousand pending workloads, so usage is summed once per
cycle, node fits are cached per demand shape, and reason strings are cached and shared.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from operator import attrgetter

from .model import (
    AdmissionResult,
    Flavour,
    FlavourQuota,
    Infeasible,
    NodeSlot,
    Placement,
    QueueSpec,
    UserLimit,
    Waiting,
    Workload,
)

__all__ = ["admit", "check_feasible"]

# CPU and memory are floats (0.5 CPU is a valid ask); sums like 0.1 + 0.2 must not make a job
# that exactly fills a node look one hair too big.
_EPS = 1e-9


def _num(x: float) -> str:
    """A quantity as a person writes it: 4, not 4.0; 0.5 stays 0.5."""
    if x == int(x):
        return str(int(x))
    return format(x, ".6g")


def _plural(n: float, one: str, many: str) -> str:
    return f"{_num(n)} {one if n == 1 else many}"


def _choices(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def _has_no_quota(flavour: Flavour, quota: FlavourQuota) -> bool:
    """A zero quota for the flavour's main resource means the queue does not really offer it."""
    if flavour.is_accelerated:
        return quota.accelerators == 0
    return quota.cpu == 0


def _offered(queue: QueueSpec, flavours: Mapping[str, Flavour]) -> list[str]:
    """Flavour names a workload in ``queue`` could use (an empty quotas dict offers them all)."""
    if not queue.quotas:
        return sorted(flavours)
    return sorted(
        name
        for name, quota in queue.quotas.items()
        if name in flavours and not _has_no_quota(flavours[name], quota)
    )


def _may_use(queue: QueueSpec, owner: str) -> bool:
    return queue.users is None or owner in queue.users


# --------------------------------------------------------------------------- submit time


def check_feasible(
    w: Workload,
    flavours: Mapping[str, Flavour],
    queues: Mapping[str, QueueSpec],
    user_limit: UserLimit,
) -> list[Infeasible]:
    """Every reason ``w`` can never be admitted, however long it waits.

    Called at submit time so a user learns at once, with the field to change and how, instead
    of waiting forever. An empty list means the workload fits the site, its queue and the
    owner's limit when nothing else runs; whether it starts now is ``admit``'s business.
    """
    problems: list[Infeasible] = []

    def bad(field_name: str, message: str) -> None:
        problems.append(Infeasible(field_name, message))

    # Shape sanity first: a negative or empty ask would slip past every "too big" check.
    if w.nodes < 1:
        bad("nodes", f"a job needs at least 1 node but asks for {w.nodes}; ask for 1 or more")
    if w.accelerators_per_node < 0:
        bad("accelerators", "cards per node cannot be negative; ask for 0 or more")
    if w.cpu_per_node <= 0:
        bad("cpu", "a job needs some CPU on each node; ask for a positive number such as 1")
    if w.memory_gb_per_node < 0:
        bad("memory_gb", "memory per node cannot be negative; ask for 0 GB or more")

    queue = queues.get(w.queue)
    if queue is None or not _may_use(queue, w.owner):
        open_to_user = [q.name for q in queues.values() if _may_use(q, w.owner)]
        fix = (
            f"choose one of: {_choices(open_to_user)}"
            if open_to_user
            else "no queue is open to you yet, ask an admin for access"
        )
        if queue is None:
            bad("queue", f"unknown queue '{w.queue}'; {fix}")
        else:
            bad("queue", f"you may not submit to queue '{w.queue}'; {fix} or ask an admin")
        queue = None  # quota checks below only make sense for a queue the user may use

    flavour = flavours.get(w.flavour)
    if flavour is None:
        names = _offered(queue, flavours) if queue is not None else sorted(flavours)
        bad("flavour", f"unknown flavour '{w.flavour}'; choose one of: {_choices(names)}")
    else:
        problems.extend(_check_against_flavour(w, flavour, flavours))
        if queue is not None:
            problems.extend(_check_against_queue(w, flavour, queue, flavours))

    if user_limit.max_accelerators is not None and w.accelerators > user_limit.max_accelerators:
        bad(
            "accelerators",
            f"the job asks for {_plural(w.accelerators, 'card', 'cards')} in total but your "
            f"limit is {_plural(user_limit.max_accelerators, 'card', 'cards')} at once; ask "
            "for fewer or ask an admin to raise it",
        )
    if user_limit.max_cpu is not None and w.cpu > user_limit.max_cpu + _EPS:
        bad(
            "cpu",
            f"the job asks for {_plural(w.cpu, 'CPU', 'CPUs')} in total but your limit is "
            f"{_plural(user_limit.max_cpu, 'CPU', 'CPUs')} at once; ask for fewer or ask an "
            "admin to raise it",
        )
    return problems


def _check_against_flavour(
    w: Workload, f: Flavour, flavours: Mapping[str, Flavour]
) -> list[Infeasible]:
    """What no node (or set of nodes) of flavour ``f`` could ever give ``w``."""
    out: list[Infeasible] = []
    if not f.is_accelerated and w.accelerators_per_node > 0:
        accelerated = [name for name, other in flavours.items() if other.is_accelerated]
        fix = (
            f"ask for 0 cards or choose an accelerated flavour: {_choices(accelerated)}"
            if accelerated
            else "ask for 0 cards"
        )
        out.append(Infeasible("accelerators", f"{f.name} nodes have no accelerator cards; {fix}"))
    elif w.accelerators_per_node > f.accelerators_per_node:
        k = f.accelerators_per_node
        out.append(
            Infeasible(
                "accelerators",
                f"a {f.name} node has {_plural(k, 'card', 'cards')}; ask for at most {k} per "
                "node and use more nodes",
            )
        )
    if w.nodes > f.nodes:
        out.append(
            Infeasible(
                "nodes",
                f"there {'is' if f.nodes == 1 else 'are'} only "
                f"{_plural(f.nodes, f.name + ' node', f.name + ' nodes')}; "
                f"ask for at most {f.nodes}",
            )
        )
    if w.cpu_per_node > f.cpu_per_node + _EPS:
        c = _num(f.cpu_per_node)
        out.append(
            Infeasible(
                "cpu",
                f"a {f.name} node has {_plural(f.cpu_per_node, 'CPU', 'CPUs')}; ask for at "
                f"most {c} per node and use more nodes",
            )
        )
    if w.memory_gb_per_node > f.memory_gb_per_node + _EPS:
        m = _num(f.memory_gb_per_node)
        out.append(
            Infeasible(
                "memory_gb",
                f"a {f.name} node has {m} GB of memory; ask for at most {m} GB per node",
            )
        )
    return out


def _check_against_queue(
    w: Workload, f: Flavour, queue: QueueSpec, flavours: Mapping[str, Flavour]
) -> list[Infeasible]:
    """What queue ``queue``'s nominal quota for ``f`` could never give ``w``."""
    if not queue.quotas:
        return []  # no quotas listed: the queue is bounded by capacity only
    quota = queue.quotas.get(f.name)
    others = [n for n in _offered(queue, flavours) if n != f.name]
    elsewhere = (
        f"choose one of: {_choices(others)} or another queue" if others else "use another queue"
    )
    if quota is None:
        return [
            Infeasible(
                "flavour", f"queue {queue.name} does not offer flavour {f.name}; {elsewhere}"
            )
        ]
    if _has_no_quota(f, quota):
        return [Infeasible("flavour", f"queue {queue.name} has no quota for {f.name}; {elsewhere}")]
    out: list[Infeasible] = []
    if quota.accelerators is not None and w.accelerators > quota.accelerators:
        out.append(
            Infeasible(
                "accelerators",
                f"the job asks for {_plural(w.accelerators, 'card', 'cards')} in total but queue "
                f"{queue.name} offers at most {_plural(quota.accelerators, 'card', 'cards')} "
                f"of {f.name}; ask for fewer or use another queue",
            )
        )
    if quota.cpu is not None and w.cpu > quota.cpu + _EPS:
        out.append(
            Infeasible(
                "cpu",
                f"the job asks for {_plural(w.cpu, 'CPU', 'CPUs')} in total but queue "
                f"{queue.name} offers at most {_plural(quota.cpu, 'CPU', 'CPUs')} on {f.name} "
                "nodes; ask for fewer or use another queue",
            )
        )
    return out


# --------------------------------------------------------------------------- admission cycle


class _NodePool:
    """Free cards, CPU and memory on each node of one flavour, reserved as the cycle goes.

    Plain parallel lists rather than objects per node: a cycle touches them thousands of times.
    ``order`` keeps every node's best-fit key sorted, so finding the fullest node that still
    fits is a bisection rather than a scan of every node for every workload.
    """

    __slots__ = ("cards", "cpu", "failed", "flavour", "mem", "order", "reasons")

    def __init__(self, flavour: Flavour) -> None:
        self.flavour = flavour
        n = flavour.nodes
        self.cards: list[list[int]] = [list(range(flavour.accelerators_per_node)) for _ in range(n)]
        self.cpu: list[float] = [flavour.cpu_per_node] * n
        self.mem: list[float] = [flavour.memory_gb_per_node] * n
        # (free cards, free cpu, free memory, node) per node, ascending: best fit first.
        self.order: list[tuple[int, float, float, int]] | None = None
        # Free room only shrinks during a cycle, so a shape that did not fit never will.
        self.failed: set[tuple[int, int, float, float]] = set()
        self.reasons: dict[tuple[int, int, float, float], str] = {}

    def take_running(self, w: Workload, slot: NodeSlot) -> None:
        """Mark what a running workload holds on one node as used."""
        i = slot.node
        if not 0 <= i < len(self.cpu):
            return  # the flavour shrank under a running job: that node is no longer counted
        if slot.cards:
            held = set(slot.cards)
            self.cards[i] = [c for c in self.cards[i] if c not in held]
        self.cpu[i] -= w.cpu_per_node
        self.mem[i] -= w.memory_gb_per_node
        self.order = None

    def _key(self, i: int) -> tuple[int, float, float, int]:
        return (len(self.cards[i]), self.cpu[i], self.mem[i], i)

    def fit(self, shape: tuple[int, int, float, float]) -> list[int] | None:
        """Distinct nodes for ``shape`` (nodes, cards, cpu, memory per node), or None.

        Best-fit: the fullest nodes that still fit (fewest free cards, then CPU, then memory;
        the node index breaks ties) keep whole nodes free for big jobs.
        """
        if shape in self.failed:
            return None
        order = self.order
        if order is None:
            order = self.order = sorted(self._key(i) for i in range(len(self.cpu)))
        n, a, c, m = shape
        c -= _EPS
        m -= _EPS
        chosen: list[int] = []
        if n >= 1:
            # Keys before this point have too few cards, or exactly enough cards but too
            # little CPU; after it only CPU and memory still need checking.
            for _, fcpu, fmem, i in islice(order, bisect_left(order, (a, c, m)), None):
                if fcpu >= c and fmem >= m:
                    chosen.append(i)
                    if len(chosen) == n:
                        return sorted(chosen)
        self.failed.add(shape)
        return None

    def reserve(self, chosen: list[int], w: Workload) -> tuple[NodeSlot, ...]:
        """Take ``w``'s share on each chosen node; lowest free card indices first."""
        order = self.order
        assert order is not None  # fit() built it
        a = w.accelerators_per_node
        slots = []
        for i in chosen:
            del order[bisect_left(order, self._key(i))]
            free = self.cards[i]
            slots.append(NodeSlot(i, tuple(free[:a])))
            self.cards[i] = free[a:]
            self.cpu[i] -= w.cpu_per_node
            self.mem[i] -= w.memory_gb_per_node
            insort(order, self._key(i))
        return tuple(slots)

    def why_not(self, shape: tuple[int, int, float, float]) -> str:
        """Why ``shape`` does not fit, in words. Call after the cycle's reservations: the
        answer describes the nodes as the cycle leaves them, which is what the user sees."""
        reason = self.reasons.get(shape)
        if reason is None:
            reason = self.reasons[shape] = self._why_not(shape)
        return reason

    def _why_not(self, shape: tuple[int, int, float, float]) -> str:
        n, a, c, m = shape
        together = sum(
            1
            for free, fcpu, fmem in zip(self.cards, self.cpu, self.mem, strict=True)
            if len(free) >= a and fcpu >= c - _EPS and fmem >= m - _EPS
        )
        name = self.flavour.name
        if n < 1:
            return f"the job asks for {n} nodes; resubmit it with at least 1"
        if n > len(self.cpu):
            wanted = _plural(n, name + " node", name + " nodes")
            return f"the job needs {wanted} but only {len(self.cpu)} exist"
        parts: list[str] = []

        def short(count: int, best: float, what: str, unit: str) -> None:
            if count >= n:
                return
            if n == 1 or count == 0:
                parts.append(
                    f"no {name} node has {what} (most free on one node: {_num(max(best, 0))}{unit})"
                )
            else:
                verb = "has" if count == 1 else "have"
                node_s = "node" if count == 1 else "nodes"
                parts.append(f"only {count} {name} {node_s} {verb} {what}, the job needs {n}")

        if a > 0:
            short(
                sum(1 for x in self.cards if len(x) >= a),
                max(len(x) for x in self.cards),
                f"{_plural(a, 'free card', 'free cards')}",
                "",
            )
        short(
            sum(1 for x in self.cpu if x >= c - _EPS),
            max(self.cpu),
            f"{_plural(c, 'free CPU', 'free CPUs')}",
            "",
        )
        short(
            sum(1 for x in self.mem if x >= m - _EPS),
            max(self.mem),
            f"{_num(m)} GB of free memory",
            " GB",
        )
        if not parts:
            # Each resource exists somewhere, just not all on the same node.
            want = (f"{_plural(a, 'card', 'cards')}, " if a > 0 else "") + (
                f"{_plural(c, 'CPU', 'CPUs')} and {_num(m)} GB of memory free at once"
            )
            if n == 1 or together == 0:
                parts.append(f"no {name} node has {want}")
            else:
                verb = "has" if together == 1 else "have"
                node_s = "node" if together == 1 else "nodes"
                parts.append(f"only {together} {name} {node_s} {verb} {want}, the job needs {n}")
        return "; ".join(parts)


@dataclass(slots=True)
class _QueueFlavour:
    """One queue's use of one flavour this cycle, and what (if anything) always blocks it."""

    queue: QueueSpec | None
    flavour: Flavour | None
    pool: _NodePool | None
    blocked: str  # non-empty: a reason no workload of this queue and flavour can be admitted
    quota_acc: int | None = None
    quota_cpu: float | None = None
    used_acc: int = 0
    used_cpu: float = 0.0
    # (cards, cpu) asked -> reason; cleared whenever usage changes.
    reasons: dict[tuple[int, float], str] = field(default_factory=dict)

    def why_not(self, need_acc: int, need_cpu: float) -> str:
        """Why the quota cannot take this demand now, or "" when it can."""
        key = (need_acc, need_cpu)
        reason = self.reasons.get(key)
        if reason is not None:
            return reason
        parts = []
        q, f = self.queue, self.flavour
        assert q is not None and f is not None  # only called when nothing blocks structurally
        if self.quota_acc is not None and need_acc > self.quota_acc - self.used_acc:
            quota = _plural(self.quota_acc, f.name + " card", f.name + " cards")
            if need_acc > self.quota_acc:
                parts.append(f"queue {q.name} offers at most {quota}, the job needs {need_acc}")
            else:
                free = max(self.quota_acc - self.used_acc, 0)
                parts.append(f"queue {q.name} has {free} of {quota} free, the job needs {need_acc}")
        if self.quota_cpu is not None and need_cpu > self.quota_cpu - self.used_cpu + _EPS:
            what = f"{f.name} CPU" if f.is_accelerated else "CPU"
            quota = _plural(self.quota_cpu, what, what + "s")
            needs = _num(need_cpu)
            if need_cpu > self.quota_cpu + _EPS:
                parts.append(f"queue {q.name} offers at most {quota}, the job needs {needs}")
            else:
                free_cpu = _num(max(self.quota_cpu - self.used_cpu, 0.0))
                parts.append(
                    f"queue {q.name} has {free_cpu} of {quota} free, the job needs {needs}"
                )
        reason = "; ".join(parts)
        self.reasons[key] = reason
        return reason


class _UserUse:
    """What one owner holds across all queues this cycle, against their limit."""

    __slots__ = ("acc", "cpu", "limit", "reasons")

    def __init__(self, limit: UserLimit) -> None:
        self.limit = limit
        self.acc = 0
        self.cpu = 0.0
        self.reasons: dict[tuple[int, float], str] = {}  # cleared whenever usage changes

    def why_not(self, need_acc: int, need_cpu: float) -> str:
        key = (need_acc, need_cpu)
        reason = self.reasons.get(key)
        if reason is not None:
            return reason
        parts = []
        max_acc, max_cpu = self.limit.max_accelerators, self.limit.max_cpu
        if max_acc is not None and need_acc > max_acc - self.acc:
            limit = _plural(max_acc, "card", "cards")
            if need_acc > max_acc:
                parts.append(f"your limit is {limit} at once, the job needs {need_acc}")
            else:
                parts.append(f"you use {self.acc} of your {limit}, the job needs {need_acc}")
        if max_cpu is not None and need_cpu > max_cpu - self.cpu + _EPS:
            limit, needs = _plural(max_cpu, "CPU", "CPUs"), _num(need_cpu)
            if need_cpu > max_cpu + _EPS:
                parts.append(f"your limit is {limit} at once, the job needs {needs}")
            else:
                parts.append(f"you use {_num(self.cpu)} of your {limit}, the job needs {needs}")
        reason = "; ".join(parts)
        self.reasons[key] = reason
        return reason


_LATER = Waiting(0, "")  # placeholder for a reason worded after the cycle


def admit(
    pending: Iterable[Workload],
    running: Iterable[Placement],
    flavours: Mapping[str, Flavour],
    queues: Mapping[str, QueueSpec],
    user_limits: Mapping[str, UserLimit],
    default_limit: UserLimit,
) -> AdmissionResult:
    """Run one admission cycle: which pending workloads start now, on which nodes and cards.

    Workloads are considered highest priority first, then in submission order. One is admitted
    when its queue's nominal quota for its flavour, its owner's limit (``user_limits`` or else
    ``default_limit``) and ``nodes`` distinct nodes of its flavour all have room, counting
    ``running`` and what this cycle already admitted. Every other workload gets a ``Waiting``
    with its 1-based position among the waiting workloads of its queue and every blocking
    reason in words.
    """
    pools: dict[str, _NodePool] = {}
    qfs: dict[tuple[str, str], _QueueFlavour] = {}
    users: dict[str, _UserUse] = {}

    def pool_for(flavour_name: str) -> _NodePool | None:
        pool = pools.get(flavour_name)
        if pool is None:
            f = flavours.get(flavour_name)
            if f is None:
                return None
            pool = pools[flavour_name] = _NodePool(f)
        return pool

    def qf_for(queue_name: str, flavour_name: str) -> _QueueFlavour:
        key = (queue_name, flavour_name)
        st = qfs.get(key)
        if st is not None:
            return st
        q, f = queues.get(queue_name), flavours.get(flavour_name)
        blocked, quota = "", None
        if q is None:
            blocked = f"queue '{queue_name}' does not exist; resubmit to one of: {_choices(queues)}"
        elif f is None:
            names = _choices(_offered(q, flavours))
            blocked = f"flavour '{flavour_name}' does not exist; resubmit with one of: {names}"
        elif q.quotas:
            quota = q.quotas.get(flavour_name)
            if quota is None:
                blocked = f"queue {queue_name} does not offer flavour {flavour_name}"
            elif _has_no_quota(f, quota):
                blocked = f"queue {queue_name} has no quota for {flavour_name}"
        st = qfs[key] = _QueueFlavour(q, f, pool_for(flavour_name), blocked)
        if quota is not None:
            st.quota_acc, st.quota_cpu = quota.accelerators, quota.cpu
        return st

    def user_for(owner: str) -> _UserUse:
        u = users.get(owner)
        if u is None:
            u = users[owner] = _UserUse(user_limits.get(owner, default_limit))
        return u

    # Usage from running work, summed once for the whole cycle.
    for p in running:
        w = p.workload
        st = qf_for(w.queue, w.flavour)
        st.used_acc += w.accelerators
        st.used_cpu += w.cpu
        u = user_for(w.owner)
        u.acc += w.accelerators
        u.cpu += w.cpu
        if st.pool is not None:
            for slot in p.slots:
                st.pool.take_running(w, slot)

    result = AdmissionResult()
    admitted, waiting = result.admitted, result.waiting
    positions: dict[str, int] = {}  # queue name -> waiting workloads seen so far
    strict_blocker: dict[str, str] = {}  # StrictFIFO queue name -> shared "waiting behind" reason
    # Waiting workloads whose nodes did not fit: (id, position, other reasons, pool, shape).
    # Their node reason is worded once per shape after the loop, from the final free room.
    no_room: list[tuple[str, int, str, _NodePool, tuple[int, int, float, float]]] = []

    # Two stable sorts (reverse keeps stability) beat one sort on a tuple key.
    order = sorted(pending, key=attrgetter("seq"))
    order.sort(key=attrgetter("priority"), reverse=True)
    for w in order:
        qname = w.queue
        behind = strict_blocker.get(qname)
        if behind is not None:
            pos = positions[qname] = positions.get(qname, 0) + 1
            waiting[w.id] = Waiting(pos, behind)
            continue

        st = qfs.get((qname, w.flavour)) or qf_for(qname, w.flavour)
        q = st.queue
        if st.blocked or (q is not None and q.users is not None and w.owner not in q.users):
            reason = st.blocked
            if q is not None and not _may_use(q, w.owner):
                reason = f"you may not use queue {qname}; ask an admin for access"
            pos = positions[qname] = positions.get(qname, 0) + 1
            waiting[w.id] = Waiting(pos, reason)
            continue  # never admissible, so it must not hold a StrictFIFO queue back

        pool = st.pool
        assert q is not None and pool is not None  # not blocked, so both exist
        need_acc = w.nodes * w.accelerators_per_node
        need_cpu = w.nodes * w.cpu_per_node
        u = users.get(w.owner) or user_for(w.owner)
        # Inline fast checks: most workloads either fit or hit a cached reason.
        qa, qc = st.quota_acc, st.quota_cpu
        if (qa is None or need_acc <= qa - st.used_acc) and (
            qc is None or need_cpu <= qc - st.used_cpu + _EPS
        ):
            quota_why = ""
        else:
            quota_why = st.why_not(need_acc, need_cpu)
        ua, uc = u.limit.max_accelerators, u.limit.max_cpu
        if (ua is None or need_acc <= ua - u.acc) and (uc is None or need_cpu <= uc - u.cpu + _EPS):
            user_why = ""
        else:
            user_why = u.why_not(need_acc, need_cpu)
        shape = (w.nodes, w.accelerators_per_node, w.cpu_per_node, w.memory_gb_per_node)
        chosen = pool.fit(shape)

        if chosen is not None and not quota_why and not user_why:
            admitted.append(Placement(w, pool.reserve(chosen, w)))
            st.used_acc += need_acc
            st.used_cpu += need_cpu
            st.reasons.clear()
            u.acc += need_acc
            u.cpu += need_cpu
            u.reasons.clear()
            continue

        pos = positions[qname] = positions.get(qname, 0) + 1
        reason = f"{quota_why}; {user_why}" if quota_why and user_why else quota_why or user_why
        if chosen is None:
            no_room.append((w.id, pos, reason, pool, shape))
            waiting[w.id] = _LATER  # keeps the dict in admission order; replaced below
        else:
            waiting[w.id] = Waiting(pos, reason)
        if q.strategy == "StrictFIFO":
            # A job that could never run must not hold the queue forever: Kueue sets such
            # workloads aside too. Only a job that merely waits for room blocks the ones behind.
            if check_feasible(w, flavours, queues, u.limit):
                continue
            # Nor does one that waits only for its owner's personal limit: strict order is
            # about the queue's resources, and one user's cap must not stall everyone else.
            if chosen is not None and not quota_why and user_why:
                continue
            strict_blocker[qname] = f"waiting behind {w.id} (StrictFIFO)"

    for wid, pos, reason, pool, shape in no_room:
        nodes_why = pool.why_not(shape)
        waiting[wid] = Waiting(pos, f"{reason}; {nodes_why}" if reason else nodes_why)
    return result
