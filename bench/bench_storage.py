"""Storage benchmark: a large file through the platform's S3ObjectStore against boto3 defaults.

    .venv/bin/python bench/bench_storage.py [--size-mib 1024] [--repeat 3] [--part-mib N]

Starts its own SeaweedFS (``weed mini``, as the test suite does), writes a random file of
``--size-mib`` MiB, and in the same run times, alternating so neither side gets a warmer
server: upload and download through :class:`~jupyter_sxwl.storage.s3.S3ObjectStore` (its
default settings: sha256 computed on upload and verified on download), boto3's
``upload_file``/``download_file`` with default settings (no checksum beyond botocore's own), and
a plain ``cp`` of the file as the local-disk ceiling. Prints MB/s (10^6 bytes) of the best of
``--repeat`` runs each (the order of storage and boto3 swaps every round, with a pause before
each transfer), and the ratio storage/boto3 (the issue's target: at least 1.0). Not a
test: it never fails on a slow figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from jupyter_sxwl.storage.base import file_sha256
from jupyter_sxwl.storage.s3 import S3ObjectStore
from tests.support import start_seaweedfs

MiB = 1024 * 1024


def write_random_file(path: Path, size: int) -> None:
    """``size`` random bytes, written in 16 MiB pieces (never whole in memory)."""
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 16 * MiB)
            f.write(os.urandom(n))
            left -= n


def best_of(repeat: int, run: Callable[[], object], before: Callable[[], None]) -> float:
    """Shortest wall time of ``run`` over ``repeat`` tries (``before`` runs untimed first)."""
    times = []
    for _ in range(repeat):
        before()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size in MiB")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument(
        "--settle", type=float, default=3.0, help="seconds of rest before each transfer"
    )
    parser.add_argument(
        "--part-mib", type=int, default=None, help="S3ObjectStore part size (default: its own)"
    )
    args = parser.parse_args()
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

            def clear_dest() -> None:
                dest.unlink(missing_ok=True)

            def remove(key: str) -> Callable[[], None]:
                # Each upload starts with its own key absent, never touching the other's.
                return lambda: client.delete_object(Bucket="bench", Key=key)

            steps: list[tuple[str, Callable[[], object], Callable[[], None]]] = [
                (
                    "storage upload",
                    lambda: store.put_file_sync("store.bin", src),
                    remove("store.bin"),
                ),
                (
                    "storage upload, sha known",
                    lambda: store.put_file_sync("store.bin", src, sha256=src_sha256),
                    remove("store.bin"),
                ),
                (
                    "boto3 upload_file",
                    lambda: client.upload_file(str(src), "bench", "boto3.bin"),
                    remove("boto3.bin"),
                ),
                ("storage download", lambda: store.get_file_sync("store.bin", dest), clear_dest),
                (
                    "boto3 download_file",
                    lambda: client.download_file("bench", "boto3.bin", str(dest)),
                    clear_dest,
                ),
            ]
            results: dict[str, float] = {}
            print(f"SeaweedFS at {server.endpoint_url}; best of {args.repeat} each", flush=True)
            # Rounds alternate storage and boto3, so a server that slows as it fills (SeaweedFS
            # does, a little) favours neither side.
            for round_no in range(args.repeat):
                uploads, downloads = steps[:3], steps[3:]
                if round_no % 2:  # every other round, boto3 goes first
                    uploads, downloads = uploads[::-1], downloads[::-1]
                for label, run, before in uploads + downloads:
                    # SeaweedFS keeps working for a moment after a big upload; let it settle
                    # so the next transfer, whoever's it is, starts from a quiet server.
                    time.sleep(args.settle)
                    seconds = best_of(1, run, before)
                    print(f"  {label:<28} {seconds:6.2f} s", flush=True)
                    results[label] = min(results.get(label, seconds), seconds)
            results["cp"] = best_of(
                args.repeat,
                lambda: subprocess.run(["cp", str(src), str(dest)], check=True),
                clear_dest,
            )
            assert dest.stat().st_size == size
        print()
        print(f"{'transfer of ' + str(args.size_mib) + ' MiB':<28} {'seconds':>8} {'MB/s':>9}")
        for label, seconds in results.items():
            print(f"{label:<28} {seconds:8.2f} {size / seconds / 1e6:9.1f}")
        print()
        for way, ours, theirs in (
            ("upload", "storage upload", "boto3 upload_file"),
            ("upload, sha known", "storage upload, sha known", "boto3 upload_file"),
            ("download", "storage download", "boto3 download_file"),
        ):
            ratio = results[theirs] / results[ours]
            verdict = "meets" if ratio >= 1.0 else "misses"
            print(f"{way:<18} storage/boto3 = {ratio:5.2f}  ({verdict} the target ≥ 1.0)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
