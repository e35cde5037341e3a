"""Snapshots from a Hugging Face compatible hub, over real HTTP to a local fake hub.

The fake hub is a ``http.server`` that answers the two routes the hub source uses (the
revision API and ``resolve``) from an in-memory repository; the ``fetch`` and ``get_json``
passed in are small urllib clients, standing in for the platform's checked downloader.
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from jupyter_sxwl.catalog.models.hub_source import (
    HubDownloadError,
    HubSourceError,
    RepoFile,
    SnapshotProgress,
    download_snapshot,
    file_url,
    list_repo_files,
    select_files,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FakeRepo:
    """One repository on the fake hub: its files, and how the API describes them."""

    files: dict[str, bytes]
    lfs: set[str] = field(default_factory=set)  # files listed with an LFS sha256
    sizes: bool = True  # whether the API lists sizes
    wrong_sha: set[str] = field(default_factory=set)  # listed with a hash that will not match
    extra_siblings: list[str] = field(default_factory=list)  # listed but not served


@dataclass
class FakeHub:
    url: str
    repos: dict[tuple[str, str], FakeRepo]  # (repo_id, revision) -> repo
    requests: list[tuple[str, str | None]]  # (path, Authorization header)
    require_token: str | None = None


def _answer(repo_id: str, repo: FakeRepo) -> dict[str, Any]:
    siblings: list[dict[str, Any]] = []
    for name, data in repo.files.items():
        entry: dict[str, Any] = {"rfilename": name}
        if repo.sizes:
            entry["size"] = len(data)
        if name in repo.lfs:
            sha = hashlib.sha256(data).hexdigest()
            if name in repo.wrong_sha:
                sha = hashlib.sha256(b"something else").hexdigest()
            entry["lfs"] = {"sha256": sha, "size": len(data), "pointerSize": 134}
        siblings.append(entry)
    siblings += [{"rfilename": name} for name in repo.extra_siblings]
    return {"id": repo_id, "sha": COMMIT, "siblings": siblings}


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    state = FakeHub("", {}, [])

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            split = urlsplit(self.path)
            auth = self.headers.get("Authorization")
            state.requests.append((self.path, auth))
            if state.require_token and auth != f"Bearer {state.require_token}":
                self._send(401, b'{"error": "Invalid credentials"}')
                return
            parts = split.path.split("/")
            # /api/models/{owner}/{name}/revision/{revision}
            if parts[1:3] == ["api", "models"] and parts[5] == "revision":
                repo_id = f"{parts[3]}/{parts[4]}"
                revision = unquote(parts[6])
                repo = state.repos.get((repo_id, revision))
                if repo is None or split.query != "blobs=true":
                    self._send(404, b'{"error": "Repository not found"}')
                    return
                self._send(200, json.dumps(_answer(repo_id, repo)).encode())
                return
            # /{owner}/{name}/resolve/{commit}/{path}
            if len(parts) > 5 and parts[3] == "resolve" and parts[4] == COMMIT:
                repo_id = f"{parts[1]}/{parts[2]}"
                path = unquote("/".join(parts[5:]))
                for (rid, _), repo in state.repos.items():
                    if rid == repo_id and path in repo.files:
                        self._send(200, repo.files[path], "application/octet-stream")
                        return
            self._send(404, b"Entry not found")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def get_json(url: str, headers: Mapping[str, str]) -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, headers=dict(headers))) as r:
        return json.load(r)


def fetch(url: str, dest_path: Path, headers: Mapping[str, str]) -> None:
    request = urllib.request.Request(url, headers=dict(headers))
    with urllib.request.urlopen(request) as r, dest_path.open("wb") as f:
        while block := r.read(1 << 16):
            f.write(block)


def model_repo() -> FakeRepo:
    weights = bytes(range(256)) * 400
    return FakeRepo(
        files={
            ".gitattributes": b"*.safetensors filter=lfs\n",
            "README.md": b"# a model\n",
            "LICENSE": b"Apache-2.0\n",
            "config.json": b'{"model_type": "llama"}',
            "generation_config.json": b"{}",
            "tokenizer.json": b'{"version": "1.0"}',
            "tokenizer_config.json": b'{"bos_token": "<s>"}',
            "tokenizer.model": b"spm",
            "model-00001-of-00002.safetensors": weights,
            "model-00002-of-00002.safetensors": weights[::-1],
            "model.safetensors.index.json": b'{"weight_map": {}}',
            "pytorch_model.bin": b"pickle",
            "pytorch_model.bin.index.json": b"{}",
            "original/consolidated.00.pth": b"pth",
            "original/params.json": b"{}",
            "onnx/model.onnx": b"onnx",
            "model-q4.gguf": b"gguf",
            "modeling_llama.py": b"print('remote code')\n",
            "tokenizer/vocab.txt": b"a\nb\n",
        },
        lfs={"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"},
    )


EXPECTED_DEFAULT = [
    "config.json",
    "tokenizer_config.json",
    "README.md",
    "LICENSE",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer.model",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "model.safetensors.index.json",
    "tokenizer/vocab.txt",
]


def test_lists_files_with_sizes_and_lfs_hashes(hub: FakeHub) -> None:
    repo = model_repo()
    hub.repos[("acme/tiny", "main")] = repo
    files = {f.path: f for f in list_repo_files(hub.url, "acme/tiny", "main", get_json=get_json)}
    assert set(files) == set(repo.files)
    shard = files["model-00001-of-00002.safetensors"]
    assert shard.size == len(repo.files[shard.path])
    assert shard.sha256 == hashlib.sha256(repo.files[shard.path]).hexdigest()
    assert files["config.json"].sha256 is None


def test_default_snapshot_takes_what_transformers_loads(hub: FakeHub, tmp_path: Path) -> None:
    repo = model_repo()
    hub.repos[("acme/tiny", "main")] = repo
    seen: list[SnapshotProgress] = []
    snap = download_snapshot(
        hub.url + "/",
        "acme/tiny",
        "main",
        tmp_path / "snap",
        fetch=fetch,
        get_json=get_json,
        progress=seen.append,
    )
    assert [f.path for f in snap.files] == EXPECTED_DEFAULT
    assert snap.commit == COMMIT and snap.reused == []
    on_disk = sorted(
        str(p.relative_to(tmp_path / "snap")) for p in (tmp_path / "snap").rglob("*") if p.is_file()
    )
    assert on_disk == sorted(EXPECTED_DEFAULT)
    for name in EXPECTED_DEFAULT:
        assert (tmp_path / "snap" / name).read_bytes() == repo.files[name]
    total = sum(len(repo.files[n]) for n in EXPECTED_DEFAULT)
    assert [p.files_done for p in seen] == list(range(1, len(EXPECTED_DEFAULT) + 1))
    assert {p.files_total for p in seen} == {len(EXPECTED_DEFAULT)}
    assert {p.bytes_total for p in seen} == {total} and seen[-1].bytes_done == total
    assert snap.total_bytes == total
    # Files are fetched at the listed commit, so a moving branch cannot mix versions.
    resolves = [path for path, _ in hub.requests if "/resolve/" in path]
    assert resolves and all(f"/resolve/{COMMIT}/" in p for p in resolves)


def test_bin_weights_are_taken_when_there_are_no_safetensors(hub: FakeHub, tmp_path: Path) -> None:
    repo = model_repo()
    for name in list(repo.files):
        if "safetensors" in name:
            del repo.files[name]
    hub.repos[("acme/old", "main")] = repo
    snap = download_snapshot(hub.url, "acme/old", "main", tmp_path, fetch=fetch, get_json=get_json)
    paths = [f.path for f in snap.files]
    assert "pytorch_model.bin" in paths and "pytorch_model.bin.index.json" in paths
    assert (tmp_path / "pytorch_model.bin").read_bytes() == b"pickle"


def test_remote_code_is_taken_only_when_the_config_names_it(hub: FakeHub, tmp_path: Path) -> None:
    repo = model_repo()
    repo.files["config.json"] = json.dumps(
        {"model_type": "chatglm", "auto_map": {"AutoModel": "modeling_llama.ChatGLMModel"}}
    ).encode()
    hub.repos[("acme/glm", "main")] = repo
    snap = download_snapshot(hub.url, "acme/glm", "main", tmp_path, fetch=fetch, get_json=get_json)
    assert "modeling_llama.py" in [f.path for f in snap.files]
    assert (tmp_path / "modeling_llama.py").is_file()


def test_allow_patterns_choose_exactly(hub: FakeHub, tmp_path: Path) -> None:
    hub.repos[("acme/tiny", "main")] = model_repo()
    snap = download_snapshot(
        hub.url,
        "acme/tiny",
        "main",
        tmp_path,
        fetch=fetch,
        get_json=get_json,
        allow_patterns=["*.json", "tokenizer/*"],
    )
    assert sorted(f.path for f in snap.files) == sorted(
        [
            "config.json",
            "generation_config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "model.safetensors.index.json",
            "pytorch_model.bin.index.json",
            "original/params.json",
            "tokenizer/vocab.txt",
        ]
    )


def test_token_is_sent_and_a_refusal_names_the_repository(hub: FakeHub, tmp_path: Path) -> None:
    hub.repos[("meta-llama/gated", "main")] = model_repo()
    hub.require_token = "hf_secret"
    with pytest.raises(HubDownloadError, match=r"listing the files of meta-llama/gated at main"):
        download_snapshot(
            hub.url, "meta-llama/gated", "main", tmp_path, fetch=fetch, get_json=get_json
        )
    snap = download_snapshot(
        hub.url,
        "meta-llama/gated",
        "main",
        tmp_path,
        fetch=fetch,
        get_json=get_json,
        token="hf_secret",
    )
    assert len(snap.files) == len(EXPECTED_DEFAULT)
    assert hub.requests[-1][1] == "Bearer hf_secret"


def test_rerun_reuses_complete_files_and_repairs_changed_ones(hub: FakeHub, tmp_path: Path) -> None:
    repo = model_repo()
    hub.repos[("acme/tiny", "main")] = repo
    download_snapshot(hub.url, "acme/tiny", "main", tmp_path, fetch=fetch, get_json=get_json)
    shard = tmp_path / "model-00001-of-00002.safetensors"
    data = bytearray(shard.read_bytes())
    data[0] ^= 0xFF  # same size, other bytes: only the hash can tell
    shard.write_bytes(bytes(data))
    (tmp_path / "tokenizer.json").unlink()
    hub.requests.clear()
    snap = download_snapshot(hub.url, "acme/tiny", "main", tmp_path, fetch=fetch, get_json=get_json)
    fetched = sorted(unquote(p.split(f"/resolve/{COMMIT}/", 1)[1]) for p, _ in hub.requests[1:])
    assert fetched == ["model-00001-of-00002.safetensors", "tokenizer.json"]
    assert shard.read_bytes() == repo.files[shard.name]
    assert len(snap.reused) == len(EXPECTED_DEFAULT) - 2


def test_a_hash_mismatch_fails_and_leaves_no_file(hub: FakeHub, tmp_path: Path) -> None:
    repo = model_repo()
    repo.wrong_sha.add("model-00002-of-00002.safetensors")
    hub.repos[("acme/bad", "main")] = repo
    with pytest.raises(HubDownloadError, match=r"model-00002-of-00002.safetensors .* sha256"):
        download_snapshot(hub.url, "acme/bad", "main", tmp_path, fetch=fetch, get_json=get_json)
    assert not (tmp_path / "model-00002-of-00002.safetensors").exists()
    assert not list(tmp_path.glob("*.incomplete"))


def test_a_missing_file_fails_with_its_name(hub: FakeHub, tmp_path: Path) -> None:
    repo = model_repo()
    repo.extra_siblings.append("added_tokens.json")
    hub.repos[("acme/tiny", "main")] = repo
    with pytest.raises(HubDownloadError, match=r"downloading added_tokens.json of acme/tiny"):
        download_snapshot(hub.url, "acme/tiny", "main", tmp_path, fetch=fetch, get_json=get_json)
    assert not (tmp_path / "added_tokens.json.incomplete").exists()


def test_sizes_left_out_by_the_hub_are_counted_on_arrival(hub: FakeHub, tmp_path: Path) -> None:
    repo = model_repo()
    repo.sizes = False
    repo.lfs = set()
    hub.repos[("acme/mirror", "main")] = repo
    seen: list[SnapshotProgress] = []
    download_snapshot(
        hub.url,
        "acme/mirror",
        "main",
        tmp_path,
        fetch=fetch,
        get_json=get_json,
        progress=seen.append,
    )
    total = sum(len(repo.files[n]) for n in EXPECTED_DEFAULT)
    assert seen[-1].bytes_done == seen[-1].bytes_total == total


def test_revision_with_a_slash_is_quoted(hub: FakeHub, tmp_path: Path) -> None:
    hub.repos[("acme/tiny", "refs/pr/1")] = model_repo()
    files = list_repo_files(hub.url, "acme/tiny", "refs/pr/1", get_json=get_json)
    assert files
    assert hub.requests[-1][0] == "/api/models/acme/tiny/revision/refs%2Fpr%2F1?blobs=true"
    assert (
        file_url("https://hf-mirror.com/", "acme/tiny", "refs/pr/1", "sub dir/a#b.json")
        == "https://hf-mirror.com/acme/tiny/resolve/refs%2Fpr%2F1/sub%20dir/a%23b.json"
    )


@pytest.mark.parametrize(
    "repo_id",
    ["tiny", "acme/tiny/extra", "../etc", "acme/..", "acme/ti ny", "acme/tiny?x=1", "/acme", ""],
)
def test_bad_repo_ids_are_refused_before_any_request(hub: FakeHub, repo_id: str) -> None:
    with pytest.raises(HubSourceError, match="owner/name"):
        list_repo_files(hub.url, repo_id, "main", get_json=get_json)
    assert hub.requests == []


@pytest.mark.parametrize("path", ["../escape.json", "/etc/passwd", "a/../../b", "a\\b", "./x"])
def test_a_listing_with_an_unsafe_path_is_refused(hub: FakeHub, tmp_path: Path, path: str) -> None:
    repo = model_repo()
    repo.extra_siblings.append(path)
    hub.repos[("acme/evil", "main")] = repo
    with pytest.raises(HubSourceError, match="leaves the repository"):
        download_snapshot(
            hub.url, "acme/evil", "main", tmp_path / "d", fetch=fetch, get_json=get_json
        )
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("endpoint", ["ftp://hub", "huggingface.co", "https://u:p@hub", ""])
def test_bad_endpoints_are_refused(endpoint: str) -> None:
    with pytest.raises(HubSourceError, match="endpoint"):
        list_repo_files(endpoint, "acme/tiny", "main", get_json=get_json)


def test_bad_revisions_are_refused() -> None:
    for revision in ["", "../main", "a//b", "main/", "ma in"]:
        with pytest.raises(HubSourceError, match="revision"):
            file_url("https://huggingface.co", "acme/tiny", revision, "config.json")


def test_selection_rules_without_a_hub() -> None:
    files = [RepoFile(p) for p in model_repo().files]
    chosen = [f.path for f in select_files(files)]
    assert "modeling_llama.py" not in chosen and "pytorch_model.bin" not in chosen
    with_code = [f.path for f in select_files(files, include_code=True)]
    assert "modeling_llama.py" in with_code
    assert [f.path for f in select_files(files, ["*.gguf"])] == ["model-q4.gguf"]


def test_http_errors_surface_with_context(hub: FakeHub) -> None:
    with pytest.raises(HubDownloadError, match=r"acme/missing at main .*404") as info:
        list_repo_files(hub.url, "acme/missing", "main", get_json=get_json)
    assert isinstance(info.value.__cause__, urllib.error.HTTPError)
