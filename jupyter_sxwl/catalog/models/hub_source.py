"""Downloading a model snapshot from a Hugging Face compatible hub, without huggingface_hub.

The hub is any endpoint that speaks the Hugging Face HTTP API (huggingface.co, or a mirror
such as hf-mirror.com). Two of its routes are used:

- ``GET {endpoint}/api/models/{repo_id}/revision/{revision}?blobs=true``: the commit and the
  repository's files (``siblings[].rfilename``, with ``size`` and, for LFS files,
  ``lfs.sha256`` when the hub reports them);
- ``GET {endpoint}/{repo_id}/resolve/{revision}/{path}``: one file's bytes (often a redirect to
  a CDN).

The HTTP itself is the caller's: :func:`download_snapshot` takes a ``get_json`` and a ``fetch``
callable, so the platform passes its own downloader and its rules on which addresses may be
reached apply to every request, redirects included. This module decides which files to take,
where they go, and checks what arrives.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

GetJson = Callable[[str, Mapping[str, str]], Any]
"""``get_json(url, headers)``: GET the URL and return its decoded JSON body; raise on failure."""

Fetch = Callable[[str, Path, Mapping[str, str]], None]
"""``fetch(url, dest_path, headers)``: GET the URL (following redirects) into ``dest_path``."""

# A repo id is owner/name as the hub allows them: letters, digits, '-', '_', '.'; no '..'.
_REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
# A revision is a branch, tag or commit; branches may hold '/' (refs/pr/1).
_REVISION = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")

# Files taken by default: what loading, tokenising, chatting with and licensing a model need.
_DEFAULT_SUFFIXES = (".safetensors", ".json", ".model", ".tiktoken", ".txt", ".jinja")
_DEFAULT_NAMES = re.compile(r"^(readme\.md|use_policy\.md|license.*|notice.*)$", re.IGNORECASE)
# Formats for other runtimes and original checkpoints: not what transformers loads.
_SKIPPED_DIRS = frozenset(("original", "onnx", "openvino", "coreml", "gguf"))
_SKIPPED_SUFFIXES = (
    ".pth",
    ".pt",
    ".ckpt",
    ".gguf",
    ".onnx",
    ".msgpack",
    ".h5",
    ".ot",
    ".tflite",
    ".mlmodel",
)
# Read first: whether they name remote code (auto_map) decides whether *.py files are taken.
_CODE_MARKERS = ("config.json", "tokenizer_config.json")


class HubSourceError(ValueError):
    """An argument or a hub's answer is unusable: a bad repo id, revision, endpoint or path."""


class HubDownloadError(RuntimeError):
    """Talking to the hub failed; the message says which repository, revision and file."""


@dataclass(frozen=True)
class RepoFile:
    """A file of a repository: its path, and its size and LFS sha256 when the hub says."""

    path: str
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class RepoInfo:
    """What the hub says about one revision: the commit it resolves to and its files."""

    repo_id: str
    revision: str
    commit: str | None
    files: list[RepoFile]


@dataclass(frozen=True)
class SnapshotProgress:
    """Progress after one file: ``path`` is the file just finished (or found complete).

    ``bytes_total`` counts the files whose size the hub reported, plus those of the others
    that have arrived, so it can grow when a hub leaves sizes out.
    """

    path: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


@dataclass(frozen=True)
class Snapshot:
    """A downloaded snapshot: the files now under ``dest`` (``reused`` were there already)."""

    repo_id: str
    revision: str
    commit: str | None
    dest: Path
    files: list[RepoFile]
    reused: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        """The snapshot's size, counting files whose size the hub did not report as 0."""
        return sum(f.size or 0 for f in self.files)


# ---------------------------------------------------------------------------------------------
# names and URLs


def validate_repo_id(repo_id: str) -> str:
    """``repo_id`` if it is ``owner/name`` with safe characters; HubSourceError otherwise."""
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    if len(parts) != 2 or not all(_REPO_PART.match(p) and ".." not in p for p in parts):
        raise HubSourceError(
            f"repo_id {repo_id!r} is not a model repository id: write it as owner/name "
            "(letters, digits, '-', '_', '.'), e.g. Qwen/Qwen2.5-0.5B-Instruct"
        )
    return repo_id


def validate_revision(revision: str) -> str:
    """``revision`` if it is a plausible branch, tag or commit; HubSourceError otherwise."""
    if (
        not isinstance(revision, str)
        or not _REVISION.match(revision)
        or revision.startswith("/")
        or revision.endswith("/")
        or any(part in ("", ".", "..") for part in revision.split("/"))
    ):
        raise HubSourceError(
            f"revision {revision!r} is not a branch, tag or commit: use e.g. 'main', a tag, "
            "or a 40-character commit hash"
        )
    return revision


def validate_repo_path(path: str) -> str:
    """A file path from the hub if it is relative and stays inside the repository."""
    if (
        not isinstance(path, str)
        or not path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(ord(c) < 0x20 for c in path)
        or re.match(r"^[A-Za-z]:", path)
        or any(part in ("", ".", "..") for part in path.split("/"))
    ):
        raise HubSourceError(
            f"the hub lists a file path {path!r} that is absolute or leaves the repository: "
            "refusing to download this repository"
        )
    return path


def normalise_endpoint(endpoint: str) -> str:
    """The endpoint without a trailing slash; it must be an http(s) URL with a host."""
    parts = urlsplit(endpoint.strip()) if isinstance(endpoint, str) else None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise HubSourceError(
            f"endpoint {endpoint!r} is not a hub URL: use e.g. https://huggingface.co or "
            "https://hf-mirror.com (http or https, no query, no credentials)"
        )
    return endpoint.strip().rstrip("/")


def api_url(endpoint: str, repo_id: str, revision: str) -> str:
    """The URL of the revision's metadata, with file sizes (``blobs=true``)."""
    return (
        f"{normalise_endpoint(endpoint)}/api/models/{validate_repo_id(repo_id)}"
        f"/revision/{quote(validate_revision(revision), safe='')}?blobs=true"
    )


def file_url(endpoint: str, repo_id: str, revision: str, path: str) -> str:
    """The URL of one file at a revision: ``{endpoint}/{repo_id}/resolve/{revision}/{path}``."""
    return (
        f"{normalise_endpoint(endpoint)}/{validate_repo_id(repo_id)}/resolve/"
        f"{quote(validate_revision(revision), safe='')}/{quote(validate_repo_path(path), safe='/')}"
    )


def _headers(token: str | None) -> dict[str, str]:
    if token is None or token == "":
        return {}
    if not isinstance(token, str) or any(c in token for c in "\r\n") or token != token.strip():
        raise HubSourceError("token must be a single-line access token without spaces around it")
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------------------------------------
# listing


def _int_or_none(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None


def parse_repo_info(repo_id: str, revision: str, answer: object) -> RepoInfo:
    """Read the hub's answer to the revision API into a :class:`RepoInfo`.

    Every listed path is checked (:func:`validate_repo_path`); sizes and LFS hashes are kept
    when present and well-formed.
    """
    if not isinstance(answer, dict) or not isinstance(answer.get("siblings"), list):
        raise HubDownloadError(
            f"the hub's answer about {repo_id} at {revision} has no 'siblings' list of files: "
            "the endpoint does not speak the Hugging Face model API"
        )
    files: list[RepoFile] = []
    for sibling in answer["siblings"]:
        name = sibling.get("rfilename") if isinstance(sibling, dict) else None
        if not isinstance(name, str):
            raise HubDownloadError(
                f"the hub's answer about {repo_id} at {revision} lists a file without an "
                f"'rfilename': {json.dumps(sibling)[:120]}"
            )
        validate_repo_path(name)
        lfs = sibling.get("lfs") if isinstance(sibling.get("lfs"), dict) else {}
        size = _int_or_none(sibling.get("size"))
        if size is None:
            size = _int_or_none(lfs.get("size"))
        sha = lfs.get("sha256")
        if not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
            sha = None
        files.append(RepoFile(name, size, sha))
    commit = answer.get("sha")
    return RepoInfo(repo_id, revision, commit if isinstance(commit, str) else None, files)


def repo_info(
    endpoint: str,
    repo_id: str,
    revision: str = "main",
    *,
    get_json: GetJson,
    token: str | None = None,
) -> RepoInfo:
    """Ask the hub which commit ``revision`` is and which files it holds."""
    url = api_url(endpoint, repo_id, revision)
    try:
        answer = get_json(url, _headers(token))
    except Exception as e:
        raise HubDownloadError(
            f"listing the files of {repo_id} at {revision} from {normalise_endpoint(endpoint)} "
            f"failed: {e}. Check the repo id and revision; a gated model needs a token of an "
            "account that accepted its licence"
        ) from e
    return parse_repo_info(repo_id, revision, answer)


def list_repo_files(
    endpoint: str,
    repo_id: str,
    revision: str = "main",
    *,
    get_json: GetJson,
    token: str | None = None,
) -> list[RepoFile]:
    """The files of ``repo_id`` at ``revision``, with sizes where the hub reports them."""
    return repo_info(endpoint, repo_id, revision, get_json=get_json, token=token).files


# ---------------------------------------------------------------------------------------------
# choosing files


def _default_wanted(path: str, has_safetensors: bool, include_code: bool) -> bool:
    p = PurePosixPath(path)
    name = p.name
    lower = name.lower()
    if any(part.startswith(".") for part in p.parts):  # .gitattributes, .cache/
        return False
    if any(part.lower() in _SKIPPED_DIRS for part in p.parts[:-1]):
        return False
    if lower.endswith(_SKIPPED_SUFFIXES):
        return False
    if lower.endswith(".bin") or lower.endswith(".bin.index.json"):
        # PyTorch pickles only when there are no safetensors of the same weights.
        return not has_safetensors
    if lower.endswith(".py"):
        # Remote code lives at the top level, and is only wanted when the config asks for it.
        return include_code and len(p.parts) == 1
    return lower.endswith(_DEFAULT_SUFFIXES) or (
        len(p.parts) == 1 and bool(_DEFAULT_NAMES.match(name))
    )


def select_files(
    files: Iterable[RepoFile],
    allow_patterns: Sequence[str] | None = None,
    *,
    include_code: bool = False,
) -> list[RepoFile]:
    """The files a snapshot takes, in the listing's order.

    With ``allow_patterns`` (shell patterns such as ``*.json`` or ``tokenizer/*``, matched
    against the whole path), exactly the files matching one of them. Otherwise the default:
    configuration, tokenizer and generation files (``*.json``, ``*.model``, ``*.tiktoken``,
    ``*.txt``, ``*.jinja``), weights as ``*.safetensors`` (``*.bin`` only when the repository
    has no safetensors), README and licence files, and top-level ``*.py`` only when
    ``include_code``; never hidden files, ``original/`` or ONNX/OpenVINO/Core ML/GGUF folders,
    nor ``*.pth``, ``*.gguf`` and other runtimes' weights.
    """
    files = list(files)
    if allow_patterns is not None:
        patterns = [allow_patterns] if isinstance(allow_patterns, str) else list(allow_patterns)
        return [f for f in files if any(fnmatch.fnmatchcase(f.path, pat) for pat in patterns)]
    has_safetensors = any(f.path.lower().endswith(".safetensors") for f in files)
    return [f for f in files if _default_wanted(f.path, has_safetensors, include_code)]


def _names_remote_code(path: Path) -> bool:
    """True when a downloaded config.json/tokenizer_config.json has an ``auto_map``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and bool(data.get("auto_map"))


# ---------------------------------------------------------------------------------------------
# downloading


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _target(dest: Path, path: str) -> Path:
    target = dest.joinpath(*validate_repo_path(path).split("/"))
    # Belt and braces after the path check: symlinks already under dest must not lead out.
    if not target.resolve().is_relative_to(dest.resolve()):
        raise HubSourceError(f"the file {path!r} would be written outside {dest}: refusing it")
    return target


def _complete(target: Path, f: RepoFile, verify: bool) -> bool:
    """True when ``target`` already holds the file (same size, and hash when known)."""
    if f.size is None or not target.is_file() or target.stat().st_size != f.size:
        return False
    return not (verify and f.sha256 is not None and _sha256(target) != f.sha256)


def download_snapshot(
    endpoint: str,
    repo_id: str,
    revision: str,
    dest: Path,
    *,
    fetch: Fetch,
    get_json: GetJson,
    allow_patterns: Sequence[str] | None = None,
    token: str | None = None,
    progress: Callable[[SnapshotProgress], None] | None = None,
    verify: bool = True,
) -> Snapshot:
    """Download the files of ``repo_id`` at ``revision`` into ``dest`` (created if missing).

    The files are chosen by :func:`select_files`; by default ``config.json`` and
    ``tokenizer_config.json`` come first and the repository's top-level ``*.py`` files are
    taken only when one of them names remote code (``auto_map``). Each file goes through
    ``fetch`` into ``NAME.incomplete`` next to its place and is moved there once its size
    (and, with ``verify``, the LFS sha256) matches what the hub listed, so an interrupted
    download never leaves a file that looks whole; a rerun reuses complete files. ``progress``
    is called after every file. ``token`` is sent as ``Authorization: Bearer``.
    """
    endpoint = normalise_endpoint(endpoint)
    validate_repo_id(repo_id)
    validate_revision(revision)
    headers = _headers(token)
    dest = Path(dest)
    info = repo_info(endpoint, repo_id, revision, get_json=get_json, token=token)
    # Pin the files to the commit the listing came from, so a branch moving mid-download
    # cannot mix two versions.
    at = info.commit if info.commit and re.fullmatch(r"[0-9a-f]{40}", info.commit) else revision

    def get(f: RepoFile) -> bool:
        target = _target(dest, f.path)
        if _complete(target, f, verify):
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".incomplete")
        url = file_url(endpoint, repo_id, at, f.path)
        try:
            fetch(url, part, headers)
        except Exception as e:
            part.unlink(missing_ok=True)
            raise HubDownloadError(
                f"downloading {f.path} of {repo_id} at {revision} from {endpoint} failed: {e}"
            ) from e
        size = part.stat().st_size if part.is_file() else None
        if size is None or (f.size is not None and size != f.size):
            part.unlink(missing_ok=True)
            raise HubDownloadError(
                f"{f.path} of {repo_id} at {revision} arrived with {size} bytes but the hub "
                f"lists {f.size}: the transfer was cut short or the mirror is stale; retry"
            )
        if verify and f.sha256 is not None and _sha256(part) != f.sha256:
            part.unlink(missing_ok=True)
            raise HubDownloadError(
                f"{f.path} of {repo_id} at {revision} does not match the sha256 the hub lists: "
                "the file is corrupt or the mirror serves another version; retry"
            )
        os.replace(part, target)
        return True

    first: list[RepoFile] = []
    if allow_patterns is None:
        by_path = {f.path: f for f in info.files}
        first = [by_path[name] for name in _CODE_MARKERS if name in by_path]
    fetched_first = [get(f) for f in first]
    include_code = any(_names_remote_code(_target(dest, f.path)) for f in first)
    chosen = select_files(info.files, allow_patterns, include_code=include_code)
    first_paths = {f.path for f in first}
    plan = first + [f for f in chosen if f.path not in first_paths]

    files_total = len(plan)
    # Files the hub gave no size for count into the total once they have arrived.
    bytes_total = sum(f.size or 0 for f in plan)
    reused: list[str] = []
    bytes_done = 0
    for i, f in enumerate(plan):
        fetched = fetched_first[i] if i < len(first) else get(f)
        if not fetched:
            reused.append(f.path)
        if f.size is None:
            size = _target(dest, f.path).stat().st_size
            bytes_total += size
        else:
            size = f.size
        bytes_done += size
        if progress is not None:
            progress(SnapshotProgress(f.path, i + 1, files_total, bytes_done, bytes_total))
    return Snapshot(repo_id, revision, info.commit, dest, plan, reused)
