"""Platform benchmark: submit throughput, admission cycle at 10,000 pending, submit-to-running.

    .venv/bin/python bench/bench_platform.py [--jobs 10000] [--users 100] [--threads 8]

Starts a real JupyterHub with the platform (SQLite), like ``make demo``, and talks to it over
HTTP through the hub's proxy with real hub tokens, as the SDK does. Every figure is printed
beside a baseline measured in the same run, and the target from the issue. Not a test: it
never fails on a slow figure.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support import start_hub

CONFIG = """
import os
c = get_config()
c.SxwlPlatform.data_dir = os.path.join(os.environ["SXWL_STATE_DIR"], "platform")
c.SxwlPlatform.flavours = [
    {"name": "cpu", "cpu_per_node": 2, "memory_gb_per_node": 8, "nodes": 4},
    # One small node: the benchmark's 10,000 jobs wait here, as on a busy cluster.
    {"name": "busy", "cpu_per_node": 1, "memory_gb_per_node": 1, "nodes": 1},
]
c.SxwlPlatform.queues = [{"name": "default"}]
c.SxwlPlatform.default_user_limit = {}
"""


def rate(label: str, count: int, seconds: float) -> float:
    per_second = count / seconds
    print(f"  {label:<46} {count:>6} in {seconds:6.2f} s = {per_second:8.1f}/s")
    return per_second


def hammer(
    sessions: list[requests.Session],
    count: int,
    threads: int,
    one: Callable[[requests.Session, int], None],
) -> float:
    """Run ``one(session, i)`` for i in range(count) on ``threads`` threads; seconds taken."""
    local = threading.local()
    counter = iter(range(count))
    lock = threading.Lock()

    def worker(w: int) -> None:
        local.session = sessions[w % len(sessions)]
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            one(sessions[i % len(sessions)], i)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    with start_hub(name="bench", platform_config_text=CONFIG, timeout=120) as hub:
        api = hub.platform_url
        print(f"hub at {hub.url}; creating {args.users} users and tokens")
        sessions = []
        for n in range(args.users):
            s = requests.Session()
            s.headers["Authorization"] = f"token {hub.token_for(f'user{n:03d}')}"
            sessions.append(s)
        admin = requests.Session()
        admin.headers["Authorization"] = f"token {hub.token_for('admin', admin=True)}"
        for s in sessions:  # warm the platform's token cache, as a running lab would have
            s.get(api + "flavours", timeout=30).raise_for_status()

        print("\n1. REST throughput through the hub proxy (hub token auth)")

        def noop(s: requests.Session, i: int) -> None:
            s.get(api + "flavours", timeout=30).raise_for_status()

        baseline = rate(
            "baseline: authenticated GET flavours", 2000, hammer(sessions, 2000, args.threads, noop)
        )
        body: dict[str, Any] = {
            "command": "sleep 600",
            "flavour": "busy",
            "cpu_per_node": 1,
            "memory_gb_per_node": 1,
        }

        def submit(s: requests.Session, i: int) -> None:
            r = s.post(api + "jobs", json={**body, "name": f"bench-{i}"}, timeout=60)
            if r.status_code != 201:
                raise RuntimeError(r.text)

        submits = rate(
            f"POST jobs as {args.users} users",
            args.jobs,
            hammer(sessions, args.jobs, args.threads, submit),
        )
        print(f"  submits/s vs no-op GET/s: {submits / baseline:.2f}   (target >= 200 submits/s)")

        print(
            f"\n2. admission cycle with {args.jobs} pending "
            "(the platform's own timer, SQL included)"
        )
        cycles = []
        for _ in range(7):
            before = admin.get(api + "admin/scheduler", timeout=30).json()
            sessions[0].post(api + "jobs", json={**body, "name": "wake"}, timeout=60)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                status = admin.get(api + "admin/scheduler", timeout=30).json()
                if status["cycles"] > before["cycles"]:
                    break
                time.sleep(0.05)
            cycles.append(status["last_cycle_ms"])
        print(f"  pending jobs: {status['pending']}")
        print(
            f"  cycle: median {statistics.median(cycles):.1f} ms, max {max(cycles):.1f} ms"
            "   (target < 100 ms)"
        )
        from jupyter_sxwl.scheduler import admit
        from jupyter_sxwl.scheduler.model import Flavour, QueueSpec, UserLimit, Workload

        pending = [
            Workload(f"j{i}", f"u{i % 100}", "default", "busy", 500, i) for i in range(args.jobs)
        ]
        flavours = {"busy": Flavour("busy", cpu_per_node=1, memory_gb_per_node=1)}
        started = time.perf_counter()
        admit(pending, [], flavours, {"default": QueueSpec("default")}, {}, UserLimit())
        print(
            "  baseline: the pure admission decision alone: "
            f"{(time.perf_counter() - started) * 1000:.1f} ms"
        )

        print("\n3. submit-to-running of a local job")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        print(
            "  baseline: starting a bare python process: "
            f"{(time.perf_counter() - started) * 1000:.0f} ms"
        )
        latencies = []
        for n in range(5):
            t0 = time.perf_counter()
            r = sessions[1].post(
                api + "jobs",
                json={"name": f"quick-{n}", "command": "sleep 3", "cpu_per_node": 1},
                timeout=60,
            )
            job_id = r.json()["id"]
            while True:
                status = sessions[1].get(api + f"jobs/{job_id}", timeout=30).json()["status"]
                if status != "Queued" and status != "Starting":
                    break
                time.sleep(0.01)
            latencies.append(time.perf_counter() - t0)
            sessions[1].post(api + f"jobs/{job_id}/stop", timeout=60)
        print(
            f"  submit-to-Running: median {statistics.median(latencies) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms   (target < 1000 ms)"
        )
        print("\nstopping the hub (and the one admitted 'sleep 600' job)")


if __name__ == "__main__":
    main()
