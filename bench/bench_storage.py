"""Storage benchmark: a large file through the platform's S3ObjectStore against boto3 defaults.

    .venv/bin/python bench/bench_storage.py [--size-mib 1024] [--rounds 4] [--part-mib N]
                                            [--sign-payload]

Starts its own SeaweedFS (``weed mini``, as the test suite does), writes a random file of
``--size-mib`` MiB, and times in the same run, round after round:

* upload through :class:`~jupyter_sxwl.storage.s3.S3ObjectStore` with its default settings,
  once with the file's sha256 unknown (the store computes it while sending the parts) and once
  with it known (as after the catalog's import, which hashes while it receives a file);
* download through the store, its sha256 verified;
* boto3's ``upload_file`` and ``download_file`` with default settings (no checksum of ours);
  over plain HTTP boto3 signs each part's body (a sha256) and adds a CRC32, while the store
  leaves bodies unsigned and checks the object's sha256 on every read instead
  (``--sign-payload`` measures the store signing bodies too);
* a plain ``cp`` of the file, the floor: what the local disk alone costs.

Each round runs the same transfers; the order of the store's and boto3's swaps every round.
SeaweedFS slows a little as it fills, so a transfer late in a round is slower than the same one
early: keep the number of rounds even, so that each side goes first equally often. Before each
transfer the previous one's written pages are flushed (``sync``) and the server gets
``--settle`` seconds of rest. One untimed upload each comes first, so the server's start-up work
counts for nobody. Prints every run, then the median over the rounds in seconds and MB/s (10^6
bytes), and the ratio storage/boto3 of the medians (the target: at least 1.0) beside each
round's own ratio. Not a test: it never fails on a slow figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from jupyter_sxwl.storage.base import file_sha256
from jupyter_sxwl.storage.s3 import S3ObjectStore
from tests.support import start_seaweedfs

MiB = 1024 * 1024
TARGET = 1.0


@dataclass
class Step:
    """One timed transfer: ``prepare`` runs untimed before it (removing what it will write)."""

    label: str
    run: Callable[[], object]
    prepare: Callable[[], None]
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def write_random_file(path: Path, size: int) -> None:
    """``size`` random bytes, written in 16 MiB pieces (never whole in memory)."""
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 16 * MiB)
            f.write(os.urandom(n))
            left -= n


def timed(step: Step, settle: float) -> float:
    """Run ``step`` once from a quiet start; return its wall time in seconds."""
    step.prepare()
    os.sync()  # the previous transfer's dirty pages must not be written back during this one
    time.sleep(settle)
    start = time.perf_counter()
    step.run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size in MiB (1024)")
    parser.add_argument(
        "--rounds", "--repeat", type=int, default=4, help="timed rounds; the median counts (4)"
    )
    parser.add_argument(
        "--settle", type=float, default=3.0, help="seconds of rest before each transfer (3)"
    )
    parser.add_argument(
        "--part-mib", type=int, default=None, help="S3ObjectStore part size (its own: 16)"
    )
    parser.add_argument(
        "--sign-payload",
        action="store_true",
        help="S3ObjectStore.sign_payload on (off by default; boto3 signs over plain HTTP)",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.rounds % 2:
        print("note: with an odd number of rounds the store goes first once more than boto3")
    size = args.size_mib * MiB
    work = Path(tempfile.mkdtemp(prefix="sxwl-bench-storage-"))
    try:
        src, dest = work / "src.bin", work / "dest.bin"
        print(f"writing a {args.size_mib} MiB random file …", flush=True)
        write_random_file(src, size)
        src_sha256 = file_sha256(src)  # what the catalog knows after importing a file
        with start_seaweedfs("bench-storage") as server:
            client = server.client()  # path-style only; everything else boto3's defaults
            client.create_bucket(Bucket="bench")
            store = S3ObjectStore(
                endpoint_url=server.endpoint_url,
                bucket="bench",
                path_style=True,
                region="us-east-1",
                access_key_id=server.access_key,
                secret_access_key=server.secret_key,
            )
            if args.part_mib:
                store.multipart_chunksize = store.multipart_threshold = args.part_mib * MiB
            if args.sign_payload:
                store.sign_payload = True
                print("S3ObjectStore.sign_payload = True: not the default; signed like boto3")

            def clear_dest() -> None:
                dest.unlink(missing_ok=True)

            def remove(key: str) -> Callable[[], None]:
                # Each upload starts with its own key absent, never touching the other's.
                return lambda: client.delete_object(Bucket="bench", Key=key)

            up_hashed = Step(
                "storage put_file, sha256 unknown",
                lambda: store.put_file_sync("store.bin", src),
                remove("store.bin"),
            )
            up_known = Step(
                "storage put_file, sha256 known",
                lambda: store.put_file_sync("store.bin", src, sha256=src_sha256),
                remove("store.bin"),
            )
            up_boto3 = Step(
                "boto3 upload_file",
                lambda: client.upload_file(str(src), "bench", "boto3.bin"),
                remove("boto3.bin"),
            )
            down = Step(
                "storage get_file, verified",
                lambda: store.get_file_sync("store.bin", dest),
                clear_dest,
            )
            down_boto3 = Step(
                "boto3 download_file",
                lambda: client.download_file("bench", "boto3.bin", str(dest)),
                clear_dest,
            )
            copy = Step(
                "cp (local disk, the floor)",
                lambda: subprocess.run(["cp", str(src), str(dest)], check=True),
                clear_dest,
            )
            load = os.getloadavg()[0]
            print(
                f"SeaweedFS at {server.endpoint_url}; {args.rounds} rounds after a warm-up; "
                f"load average {load:.2f} on {os.cpu_count()} CPUs",
                flush=True,
            )
            if load > 0.5:
                print("  (other work is running: expect noisy figures)", flush=True)
            for warm_up in (up_boto3, up_hashed):
                timed(warm_up, 0)
            for round_no in range(args.rounds):
                ours_first = round_no % 2 == 0
                uploads = [up_hashed, up_known, up_boto3]
                downloads = [down, down_boto3]
                if not ours_first:
                    uploads, downloads = uploads[::-1], downloads[::-1]
                print(f"round {round_no + 1} ({'storage' if ours_first else 'boto3'} first)")
                # The store's download reads the object its last upload left: the file's bytes
                # with their sha256, however it was uploaded.
                for step in [*uploads, *downloads, copy]:
                    seconds = timed(step, args.settle if step is not copy else 0)
                    step.seconds.append(seconds)
                    print(
                        f"  {step.label:<34} {seconds:6.2f} s {size / seconds / 1e6:8.1f} MB/s",
                        flush=True,
                    )
            assert dest.stat().st_size == size
            load_after = os.getloadavg()[0]
        print()
        print(
            f"median of {args.rounds} rounds of {args.size_mib} MiB; load average {load_after:.2f}"
        )
        print(f"  {'transfer':<34} {'seconds':>7} {'MB/s':>8}   runs (s)")
        for step in (up_hashed, up_known, up_boto3, down, down_boto3, copy):
            runs = " ".join(f"{s:.2f}" for s in step.seconds)
            print(f"  {step.label:<34} {step.median:7.2f} {size / step.median / 1e6:8.1f}   {runs}")
        print()
        print(f"storage/boto3 speed (median boto3 time / median storage time; target ≥ {TARGET})")
        for way, ours, theirs in (
            ("upload, sha256 unknown", up_hashed, up_boto3),
            ("upload, sha256 known", up_known, up_boto3),
            ("download, verified", down, down_boto3),
        ):
            ratio = theirs.median / ours.median
            per_round = " ".join(
                f"{b / s:.2f}" for s, b in zip(ours.seconds, theirs.seconds, strict=True)
            )
            verdict = "meets" if ratio >= TARGET else "misses"
            print(f"  {way:<24} {ratio:5.2f}  {verdict} the target   (rounds: {per_round})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
