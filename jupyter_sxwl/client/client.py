"""``Client``: the Python SDK for the platform's REST API (``docs/rest-api.md``).

Answers are plain dicts shaped as the API documents them, so they print, serialise and compare
without ceremony. Every failure is an ``SxwlError`` carrying a message a user can act on.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import requests

from . import mounts as lab_mounts
from .code_package import pack_directory
from .connection import Connection, discover
from .datasets import DatasetsAPI
from .errors import SxwlAPIError, SxwlConnectionError, SxwlError, SxwlTimeoutError
from .finetunes import FinetunesAPI
from .models import ModelsAPI
from .services import ServicesAPI

# A job in one of these will not change by itself any more.
FINAL_STATUSES = frozenset({"Succeeded", "Failed", "Stopped", "TimedOut"})
ACTIVE_STATUSES = frozenset({"Queued", "Starting", "Running", "Stopping"})
PRIORITIES = ("low", "normal", "high")

Job = dict[str, Any]


def safe_destination(dest: str | os.PathLike[str], rel_path: str) -> Path:
    """Where an artifact called ``rel_path`` lands under ``dest``; refuses any escape.

    The platform names the files, but a download must never write outside the folder the user
    chose, whatever the name says: absolute paths, ``..`` parts and names that resolve through
    an existing symlink to somewhere else are all refused.
    """
    if not rel_path or "\x00" in rel_path or "\\" in rel_path:
        raise SxwlError(f"path: {rel_path!r} is not a valid artifact path")
    pure = PurePosixPath(rel_path)
    if pure.is_absolute() or any(part in ("..", "") for part in rel_path.split("/")):
        raise SxwlError(f"path: {rel_path!r} escapes the download folder; refusing to write it")
    if pure.parts and pure.parts[0].endswith(":"):  # "C:" style drive prefixes
        raise SxwlError(f"path: {rel_path!r} escapes the download folder; refusing to write it")
    base = Path(dest).resolve()
    target = (base / Path(*pure.parts)).resolve()
    try:
        target.relative_to(base)
    except ValueError:
        raise SxwlError(
            f"path: {rel_path!r} leads outside {base} (through a symlink?); refusing to write it"
        ) from None
    if target == base:
        raise SxwlError(f"path: {rel_path!r} names the download folder itself")
    return target


class Client(DatasetsAPI, ModelsAPI, FinetunesAPI, ServicesAPI):
    """A connection to the sxwl platform: jobs here, datasets (``DatasetsAPI``), models
    (``ModelsAPI``), fine-tunes (``FinetunesAPI``), uploads (``UploadsAPI``), services
    (``ServicesAPI``) and mounts.

    ``Client()`` finds the platform by itself (see ``jupyter_sxwl.client.connection``):
    explicit ``url``/``token``, then ``SXWL_URL``/``SXWL_TOKEN``, then a hub lab's
    ``SXWL_PLATFORM_URL``/``JUPYTERHUB_API_TOKEN``, then ``sxwl login``'s file, then a local
    Jupyter server's runtime file.

    Args:
        url: the platform (``http://host/services/sxwl/``) or its API root (``…/api/v1/``).
        token: a hub API token (or the local Jupyter server's token).
        timeout: seconds to wait for an answer to one request.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.connection: Connection = discover(url, token)
        self.timeout = (connect_timeout, timeout)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {self.connection.token}"
        self.session.headers["User-Agent"] = "jupyter_sxwl-client"

    def clone(self) -> Client:
        """A new client on the same connection, with its own HTTP session: one per thread,
        since a ``requests.Session`` is not meant to be shared between threads."""
        other = Client(
            self.connection.url,
            self.connection.token,
            timeout=self.timeout[1],
            connect_timeout=self.timeout[0],
        )
        other.connection = self.connection  # keep where it came from, for messages
        return other

    @property
    def url(self) -> str:
        """The API root, ending in ``api/v1/``."""
        return self.connection.url

    def __repr__(self) -> str:
        return f"Client(url={self.url!r})"

    def close(self) -> None:
        """Close the HTTP connections (the client can still be used; it reconnects)."""
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP -------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        timeout: Any = None,
    ) -> requests.Response:
        url = self.url + path.lstrip("/")
        try:
            response = self.session.request(
                method,
                url,
                params={k: v for k, v in (params or {}).items() if v is not None},
                json=json,
                data=data,
                headers=headers,
                stream=stream,
                timeout=self.timeout if timeout is None else timeout,
                allow_redirects=False,
            )
        except requests.Timeout as e:
            raise SxwlConnectionError(
                f"the platform at {self.url} did not answer {method} {path} in time ({e})"
            ) from e
        except requests.RequestException as e:
            raise SxwlConnectionError(
                f"cannot reach the platform at {self.url} (from {self.connection.source}): {e}"
            ) from e
        if response.status_code >= 300:
            self._raise_for(response)
        return response

    def _raise_for(self, response: requests.Response) -> None:
        text = response.text
        error = SxwlAPIError.from_response(
            response.status_code,
            response.reason or "",
            response.headers.get("Content-Type", ""),
            text,
        )
        response.close()
        # A redirect means the hub sent us to its login page rather than to the API: the token
        # was not accepted, same as a 401/403.
        if response.status_code in (301, 302, 303, 307, 308, 401, 403) and not error.errors:
            error.detail = (
                f"{error.detail} (the platform at {self.url} refused the token from "
                f"{self.connection.source}; get a fresh one and run `sxwl login` or set SXWL_TOKEN)"
            )
            error.args = (error.detail,)
        raise error

    def _get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params).json()

    def _post(self, path: str, body: Any = None) -> Any:
        response = self._request("POST", path, json={} if body is None else body)
        return response.json() if response.content else None

    # -- platform ---------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Version, the current user (``{"name", "admin"}``), flavours, queues, priorities and
        job types the platform offers."""
        return dict(self._get("info"))

    def flavours(self) -> list[dict[str, Any]]:
        """The accelerator catalogue: name, resource name, cards/CPU/memory per node, nodes,
        price per card-hour."""
        return list(self._get("flavours")["items"])

    def queues(self) -> list[dict[str, Any]]:
        """The queues with their quotas per flavour and how many jobs run and wait in each."""
        return list(self._get("queues")["items"])

    # -- jobs -------------------------------------------------------------------------------

    def upload_code(self, code_dir: str | os.PathLike[str], name: str | None = None) -> dict:
        """Pack ``code_dir`` (see ``code_package``) and upload it; returns
        ``{"id", "name", "size", "files"}``."""
        package = pack_directory(code_dir)
        try:
            name = name or Path(code_dir).resolve().name or "code"
            response = self._request(
                "POST",
                "code-packages",
                params={"name": name},
                data=package.file,
                headers={"Content-Type": "application/gzip"},
                # Large folders take time to send; the answer comes once all is stored.
                timeout=(self.timeout[0], max(self.timeout[1], 600.0)),
            )
        finally:
            package.close()
        result = dict(response.json())
        if package.skipped:
            result["skipped"] = package.skipped
        return result

    def submit_job(self, *, code_dir: str | os.PathLike[str] | None = None, **fields: Any) -> Job:
        """Submit a job; returns it (status ``Queued`` usually).

        ``fields`` are the API's job fields: ``name`` and ``command`` (required), ``job_type``
        (single, pytorch, mpi, deepspeed), ``nodes``, ``procs_per_node``, ``flavour``,
        ``accelerators_per_node``, ``cpu_per_node``, ``memory_gb_per_node``, ``queue``,
        ``priority``, ``env`` (dict), ``working_dir``, ``checkpoint_path``,
        ``checkpoint_capacity_gb``, ``model_path``, ``model_capacity_gb``,
        ``max_run_minutes``, ``image``, ``code_package``. Fields left None are not sent, so the
        platform's defaults apply.

        ``code_dir`` uploads that folder first (``.git``, caches and ``.sxwlignore`` entries
        left out) and runs the job in a copy of it.
        """
        body = {k: v for k, v in fields.items() if v is not None}
        if code_dir is not None:
            if body.get("code_package"):
                raise SxwlError("give either code_dir or code_package, not both")
            body["code_package"] = self.upload_code(code_dir)["id"]
        return dict(self._request("POST", "jobs", json=body).json())

    def jobs(
        self, status: str | None = None, q: str | None = None, all_users: bool = False
    ) -> list[Job]:
        """Your jobs, newest first as the platform orders them; ``all_users`` (admins) lists
        everyone's. Filter by ``status`` or by a substring ``q`` of the name."""
        params = {"status": status, "q": q, "all": 1 if all_users else None}
        return list(self._get("jobs", **params)["items"])

    def job(self, job_id: str) -> Job:
        """One job, with its status, queue position and why it waits."""
        return dict(self._get(f"jobs/{quote(job_id, safe='')}"))

    def stop(self, job_id: str) -> Job:
        """Stop a queued or running job (every process of it)."""
        return dict(self._post(f"jobs/{quote(job_id, safe='')}/stop"))

    def restart(self, job_id: str, resume: bool = False) -> Job:
        """Run a job again as a new attempt; ``resume`` keeps its checkpoint directory so the
        script can continue from its last checkpoint."""
        return dict(self._post(f"jobs/{quote(job_id, safe='')}/restart", {"resume": resume}))

    def delete(self, job_id: str) -> None:
        """Delete a job (stopping it first if it runs), its logs and its files."""
        self._request("DELETE", f"jobs/{quote(job_id, safe='')}")

    def set_priority(self, job_id: str, priority: str) -> Job:
        """Change a queued job's priority (low, normal, high). Admins only."""
        return dict(
            self._request(
                "PATCH", f"jobs/{quote(job_id, safe='')}", json={"priority": priority}
            ).json()
        )

    # -- logs -------------------------------------------------------------------------------

    def _log_bytes(self, job_id: str, attempt: int | None, offset: int) -> tuple[bytes, int]:
        response = self._request(
            "GET",
            f"jobs/{quote(job_id, safe='')}/logs",
            params={"attempt": attempt, "offset": offset or None},
        )
        data = response.content
        next_offset = int(response.headers.get("X-Log-Offset", offset + len(data)))
        return data, next_offset

    def logs(self, job_id: str, attempt: int | None = None, offset: int = 0) -> tuple[str, int]:
        """The log of one attempt (the latest by default) from byte ``offset`` on.

        Returns ``(text, next_offset)``; pass ``next_offset`` back to read only what is new.
        """
        data, next_offset = self._log_bytes(job_id, attempt, offset)
        return data.decode("utf-8", errors="replace"), next_offset

    def full_log(self, job_id: str, attempt: int | None = None) -> str:
        """The whole log of one attempt so far (the platform hands it out in chunks)."""
        parts: list[bytes] = []
        offset = 0
        while True:
            data, next_offset = self._log_bytes(job_id, attempt, offset)
            # An offset that does not advance would loop forever (a proxy dropping the
            # header, say): take what came and stop.
            if not data or next_offset <= offset:
                if data and not parts:
                    parts.append(data)
                break
            parts.append(data)
            offset = next_offset
        # Decoded once: a chunk boundary may split a UTF-8 character.
        return b"".join(parts).decode("utf-8", errors="replace")

    def follow_logs(
        self, job_id: str, attempt: int | None = None, poll: float = 1.0
    ) -> Iterator[str]:
        """Yield the log of one attempt as it is written, until that attempt ends.

        Streams ``logs?follow=1``; should the stream break or end while the job is still
        active (for instance while it waits in a queue), it goes on by reading from the last
        offset every ``poll`` seconds, so no text is lost or repeated.
        """
        job = self.job(job_id)
        attempt = attempt if attempt is not None else job.get("attempt")
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        offset = 0
        try:
            response = self._request(
                "GET",
                f"jobs/{quote(job_id, safe='')}/logs",
                params={"follow": 1, "attempt": attempt},
                stream=True,
                # No read timeout: a quiet training step may print nothing for minutes.
                timeout=(self.timeout[0], None),
            )
            with response:
                for chunk in response.iter_content(chunk_size=None):
                    if chunk:
                        offset += len(chunk)
                        text = decoder.decode(chunk)
                        if text:
                            yield text
        except (SxwlConnectionError, requests.RequestException):
            pass  # continue below from the offset reached
        while True:
            data, offset = self._log_bytes(job_id, attempt, offset)
            text = decoder.decode(data)
            if text:
                yield text
            job = self.job(job_id)
            if job.get("status") in FINAL_STATUSES or job.get("attempt") != attempt:
                data, offset = self._log_bytes(job_id, attempt, offset)
                text = decoder.decode(data, final=True)
                if text:
                    yield text
                return
            time.sleep(poll)

    def search_logs(self, job_id: str, q: str, regex: bool = False) -> dict[str, Any]:
        """Lines of the log that contain ``q`` (or match it as a regular expression):
        ``{"matches": [{"line", "text"}], "total"}``."""
        return dict(
            self._get(f"jobs/{quote(job_id, safe='')}/logs", q=q, regex=1 if regex else None)
        )

    # -- results ----------------------------------------------------------------------------

    def usage(self, job_id: str) -> list[dict[str, Any]]:
        """Hardware samples while the job ran: ``t``, ``cpu_percent``, ``memory_mb``,
        ``accelerator_percent``, ``accelerator_memory_mb``."""
        return list(self._get(f"jobs/{quote(job_id, safe='')}/usage")["samples"])

    def metrics(self, job_id: str) -> list[dict[str, Any]]:
        """The points the job appended to ``$SXWL_METRICS_FILE`` (``{"step", "loss", ...}``)."""
        return list(self._get(f"jobs/{quote(job_id, safe='')}/metrics")["points"])

    def artifacts(self, job_id: str) -> list[dict[str, Any]]:
        """Files the job saved in its model directory: ``{"path", "size", "modified"}``."""
        return list(self._get(f"jobs/{quote(job_id, safe='')}/artifacts")["items"])

    def download(
        self, job_id: str, path: str | None = None, dest: str | os.PathLike[str] = "."
    ) -> list[Path]:
        """Download one artifact (``path``) or all of them into ``dest``, keeping their
        relative paths. Returns the files written. Names that would land outside ``dest``
        are refused before anything is written."""
        paths = [path] if path else [a["path"] for a in self.artifacts(job_id)]
        targets = [(p, safe_destination(dest, p)) for p in paths]
        written = []
        for rel, target in targets:
            self._download_one(job_id, rel, target)
            written.append(target)
        return written

    def _download_one(self, job_id: str, rel: str, target: Path) -> None:
        response = self._request(
            "GET",
            f"jobs/{quote(job_id, safe='')}/artifacts/{quote(rel, safe='/')}",
            stream=True,
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        self._save_stream(response, target, rel)

    def _save_stream(
        self, response: requests.Response, target: Path, what: str, sha256: str | None = None
    ) -> None:
        """Write a streamed answer to ``target``, checking its sha256 when one is given."""
        # Write next to the target and rename, so an interrupted download leaves no half file.
        partial = target.with_name(target.name + ".part")
        digest = hashlib.sha256() if sha256 else None
        try:
            with response, open(partial, "wb") as f:
                for chunk in response.iter_content(chunk_size=1 << 20):
                    f.write(chunk)
                    if digest is not None:
                        digest.update(chunk)
            if digest is not None and digest.hexdigest() != sha256:
                raise SxwlError(
                    f"the download of {what} does not match its sha256 (got "
                    f"{digest.hexdigest()[:12]}…, expected {str(sha256)[:12]}…); download it again"
                )
            os.replace(partial, target)
        except requests.RequestException as e:
            partial.unlink(missing_ok=True)
            raise SxwlConnectionError(f"download of {what} broke off: {e}") from e
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    # -- waiting ----------------------------------------------------------------------------

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 1.0) -> Job:
        """Poll until the job reaches a final status (Succeeded, Failed, Stopped, TimedOut)
        and return it; raise ``SxwlTimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job.get("status") in FINAL_STATUSES:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise SxwlTimeoutError(
                    f"job {job_id} is still {job.get('status')} after {timeout:g} s"
                )
            time.sleep(
                poll if deadline is None else min(poll, max(0.0, deadline - time.monotonic()))
            )

    # -- mounts -----------------------------------------------------------------------------

    def mount(self, kind: str, name: str, version: int | None = None) -> Path:
        """Mount a published dataset version or a ready model version (the latest by
        default), read-only, at ``~/mnt/datasets/<name>`` or ``~/mnt/models/<name>``
        (``$SXWL_MOUNT_ROOT`` moves ``~/mnt``); returns that path.

        A dataset mount holds ``data.jsonl``, ``dataset_info.json`` (for LLaMA-Factory) and
        ``manifest.json``; a model mount holds the model's files. The platform and this lab
        must share a file system (true for local labs and the hub's local spawner).
        """
        if kind not in lab_mounts.KINDS:
            raise SxwlError(f"kind: must be one of {', '.join(lab_mounts.KINDS)}, not {kind!r}")
        body: dict[str, Any] = {"kind": kind, "name": name}
        if version is not None:
            body["version"] = int(version)
        resolved = self._post("mounts/resolve", body)
        try:
            return lab_mounts.link(kind, str(resolved.get("name") or name), resolved["path"])
        except lab_mounts.MountError as e:
            raise SxwlError(str(e)) from e

    def unmount(self, kind: str, name: str) -> bool:
        """Remove a mount; False when there was none. The user's own files are never touched."""
        try:
            return lab_mounts.unlink(kind, name)
        except lab_mounts.MountError as e:
            raise SxwlError(str(e)) from e

    def mounts(self) -> list[dict[str, Any]]:
        """The mounts of this lab: ``{kind, name, path, target, ok}`` (``ok``: the mounted
        version is still there)."""
        return lab_mounts.list_mounts()
