"""Datasets in the SDK: create, import, annotate, publish, download, accelerate, share.

A dataset has a working copy (imported files plus the edits made while annotating) and
published versions (immutable JSON Lines); only published versions feed jobs and mounts.
``ref`` is a dataset's id or its name. Answers are the API's dicts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import SxwlError
from .uploads import (
    DEFAULT_CHUNK_SIZE,
    Progress,
    ProgressCallback,
    UploadsAPI,
    pack_zip,
    poll_until,
)

ANNOTATION_TYPES = ("instruction", "qa", "ranking", "sharegpt")
RECORD_FILTERS = ("invalid", "edited", "reviewed")


def _q(value: str | int) -> str:
    return quote(str(value), safe="")


def import_progress(imp: dict[str, Any]) -> Progress:
    """A dataset import as a :class:`Progress` (bytes downloaded, unpacked or validated)."""
    phase = str(imp.get("phase") or "queued")
    if imp.get("status") != "running":
        phase = "done"
    return Progress(phase, int(imp.get("bytes_done") or 0), int(imp.get("bytes_total") or 0))


def acceleration_progress(version: dict[str, Any]) -> Progress:
    """A version's acceleration (the fast local copy) as a :class:`Progress`."""
    accel = version.get("acceleration") or {}
    phase = "accelerating" if accel.get("status") == "running" else "done"
    return Progress(phase, int(accel.get("done") or 0), int(accel.get("total") or 0))


class DatasetsAPI(UploadsAPI):
    """The dataset part of :class:`~jupyter_sxwl.client.Client` (a mixin)."""

    # -- the catalogue ---------------------------------------------------------------------

    def datasets(self, all_users: bool = False) -> list[dict[str, Any]]:
        """The datasets you can use: yours, those shared with you and the presets (admins
        with ``all_users``: everyone's). Each has ``draft`` counts (records, invalid,
        reviewed, edited, files) and ``latest`` (the newest version, or None)."""
        return list(self._get("datasets", all=1 if all_users else None)["datasets"])

    def dataset(self, ref: str) -> dict[str, Any]:
        """One dataset with its imported ``files`` and its ``versions`` (newest first)."""
        return dict(self._get(f"datasets/{_q(ref)}"))

    def create_dataset(
        self,
        name: str,
        annotation_type: str,
        description: str = "",
        data_type: str | None = None,
    ) -> dict[str, Any]:
        """Create an empty dataset. ``annotation_type`` decides what a record holds:
        ``instruction`` (alpaca: instruction, input, output), ``qa``, ``ranking`` or
        ``sharegpt`` (conversations)."""
        body: dict[str, Any] = {"name": name, "annotation_type": annotation_type}
        if description:
            body["description"] = description
        if data_type:
            body["data_type"] = data_type
        return dict(self._request("POST", "datasets", json=body).json())

    def update_dataset(
        self, ref: str, name: str | None = None, description: str | None = None
    ) -> dict[str, Any]:
        """Rename a dataset or change its description."""
        body = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
        return dict(self._request("PATCH", f"datasets/{_q(ref)}", json=body).json())

    def delete_dataset(self, ref: str) -> None:
        """Delete a dataset of yours: its working copy, its versions and its shares."""
        self._request("DELETE", f"datasets/{_q(ref)}")

    # -- imports ---------------------------------------------------------------------------

    def import_dataset(
        self,
        ref: str,
        path: str | os.PathLike[str] | None = None,
        url: str | None = None,
        wait: bool = True,
        progress: ProgressCallback | None = None,
        *,
        timeout: float | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> dict[str, Any]:
        """Add records to a dataset's working copy from a file, a folder or a URL.

        ``path`` is a ``.jsonl``/``.json``/``.csv`` file, a ``.zip``/``.tar.gz`` of them, or a
        folder (its data files are zipped first, in a temporary folder). ``url`` lets the
        platform fetch the file itself. Invalid records are kept, listed in the answer's
        ``problems`` (``file``, ``line``, ``field``, ``message``), to be fixed with
        :meth:`update_record` before publishing.

        Returns the import; with ``wait`` (the default) once it has ended, so check its
        ``status`` (``succeeded`` or ``failed``, with ``message``).
        """
        if (path is None) == (url is None):
            raise SxwlError("give either path (a file or folder) or url, not both or neither")
        if url is not None:
            imp = self._post(f"datasets/{_q(ref)}/imports", {"url": url})
        else:
            assert path is not None
            # Asked first, so a wrong name fails before a long upload rather than after it.
            ds = self.dataset(ref)
            if ds.get("read_only"):
                raise SxwlError(
                    f"dataset {ds.get('name')!r} is read-only for you ({ds.get('access')}); "
                    "import into a dataset of your own"
                )
            ref = str(ds["id"])
            upload = self._upload_data(Path(path), progress, chunk_size)
            imp = self._post_using_upload(
                f"datasets/{_q(ref)}/imports", {"upload_id": upload["id"]}
            )
        if not wait:
            return dict(imp)
        return self.wait_import(ref, str(imp["id"]), timeout=timeout, progress=progress)

    def _upload_data(
        self, source: Path, progress: ProgressCallback | None, chunk_size: int
    ) -> dict[str, Any]:
        if source.is_file():
            return self.upload_file(source, "dataset", chunk_size, progress)
        if not source.is_dir():
            raise SxwlError(f"path: {source} is neither a file nor a folder")
        with tempfile.TemporaryDirectory(prefix="sxwl-pack-") as tmp:
            archive = Path(tmp) / f"{source.resolve().name or 'dataset'}.zip"
            pack_zip(source, archive, progress=progress)
            return self.upload_file(archive, "dataset", chunk_size, progress)

    def dataset_imports(self, ref: str) -> list[dict[str, Any]]:
        """The imports of a dataset, newest first, each with its report."""
        return list(self._get(f"datasets/{_q(ref)}/imports")["imports"])

    def dataset_import(self, ref: str, import_id: str) -> dict[str, Any]:
        """One import: its phase and progress while it runs, its report once it ended."""
        return dict(self._get(f"datasets/{_q(ref)}/imports/{_q(import_id)}"))

    def wait_import(
        self,
        ref: str,
        import_id: str,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Poll an import until it ends; returns it whatever its status."""
        return poll_until(
            lambda: self.dataset_import(ref, import_id),
            lambda imp: imp.get("status") != "running",
            what=f"import {import_id}",
            progress=progress,
            to_progress=import_progress,
            timeout=timeout,
        )

    # -- records (the working copy) --------------------------------------------------------

    def records(
        self, ref: str, offset: int = 0, limit: int = 20, only: str | None = None
    ) -> dict[str, Any]:
        """A page of the working copy: ``{total, offset, records}``. ``only`` picks the
        ``invalid``, ``edited`` or ``reviewed`` ones. A record has ``id``, ``file``, ``line``,
        ``data`` (or ``raw`` text when it could not be parsed) and ``issues``."""
        if only is not None and only not in RECORD_FILTERS:
            raise SxwlError(f"only: must be one of {', '.join(RECORD_FILTERS)} or None")
        return dict(self._get(f"datasets/{_q(ref)}/records", offset=offset, limit=limit, only=only))

    def record(self, ref: str, rid: str) -> dict[str, Any]:
        """One record with ``previous``/``next`` ids for walking through the dataset."""
        return dict(self._get(f"datasets/{_q(ref)}/records/{_q(rid)}"))

    def update_record(
        self,
        ref: str,
        rid: str,
        data: dict[str, Any] | None = None,
        reviewed: bool | None = None,
    ) -> dict[str, Any]:
        """Replace a record's data and/or mark it reviewed; returns it with its ``issues``
        (empty when the new data is valid)."""
        body: dict[str, Any] = {}
        if data is not None:
            body["data"] = data
        if reviewed is not None:
            body["reviewed"] = reviewed
        if not body:
            raise SxwlError("give data, reviewed or both")
        return dict(self._request("PUT", f"datasets/{_q(ref)}/records/{_q(rid)}", json=body).json())

    def add_record(
        self, ref: str, data: dict[str, Any], reviewed: bool | None = None
    ) -> dict[str, Any]:
        """Add a record at the end of the working copy."""
        body: dict[str, Any] = {"data": data}
        if reviewed is not None:
            body["reviewed"] = reviewed
        return dict(self._post(f"datasets/{_q(ref)}/records", body))

    def delete_record(self, ref: str, rid: str) -> None:
        """Remove a record from the working copy (published versions keep it)."""
        self._request("DELETE", f"datasets/{_q(ref)}/records/{_q(rid)}")

    def restore_record(self, ref: str, rid: str, what: str = "all") -> dict[str, Any]:
        """Undo the edits of an imported record (``what="order"``: only a ranking record's
        candidate order)."""
        return dict(self._post(f"datasets/{_q(ref)}/records/{_q(rid)}/restore", {"what": what}))

    # -- versions --------------------------------------------------------------------------

    def publish(
        self,
        ref: str,
        notes: str = "",
        wait: bool = True,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Publish the working copy as a new version (refused while records are invalid).

        Returns the operation; with ``wait`` (the default) once it succeeded, its ``result``
        being ``{version, unchanged, sha256}`` (``unchanged``: nothing changed since the
        latest version, so no new one was made). Raises SxwlError when publishing failed.
        """
        body = {"notes": notes} if notes else {}
        op = dict(self._post(f"datasets/{_q(ref)}/publish", body))
        return self._finished_operation(op, f"publishing {ref}", wait, timeout, progress)

    def dataset_versions(self, ref: str) -> list[dict[str, Any]]:
        """The published versions, newest first: number, records, size, sha256, notes,
        acceleration."""
        return list(self._get(f"datasets/{_q(ref)}/versions")["versions"])

    def dataset_version(self, ref: str, version: int) -> dict[str, Any]:
        """One published version."""
        return dict(self._get(f"datasets/{_q(ref)}/versions/{int(version)}"))

    def download_dataset(
        self, ref: str, version: int | None = None, dest: str | os.PathLike[str] = "."
    ) -> Path:
        """Download a published version (the latest by default) as ``<name>-v<n>.jsonl`` into
        the folder ``dest``; streamed to disk and checked against its sha256. Returns the
        file."""
        ds = self.dataset(ref)
        number = int(version) if version is not None else int(ds.get("latest_version") or 0)
        if not number:
            raise SxwlError(
                f"version: dataset {ds.get('name')!r} has no published version; publish it first"
            )
        sha256 = next(
            (v.get("sha256") for v in ds.get("versions") or [] if v.get("number") == number),
            None,
        )
        from .client import safe_destination

        name = str(ds.get("name") or ref)
        target = safe_destination(dest, f"{name}-v{number}.jsonl")
        response = self._request(
            "GET", f"datasets/{_q(ds.get('id') or ref)}/versions/{number}/data", stream=True
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        self._save_stream(response, target, f"{name} v{number}", sha256)
        return target

    def accelerate(
        self,
        ref: str,
        version: int,
        wait: bool = False,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Make a fast local copy of a version for jobs and mounts; returns the version with
        its ``acceleration`` (``status`` running, ready or failed; ``done`` of ``total``
        bytes). With ``wait``, once the copy is ready or failed."""
        path = f"datasets/{_q(ref)}/versions/{int(version)}"
        out = dict(self._post(f"{path}/accelerate"))
        if not wait:
            return out
        return poll_until(
            lambda: self.dataset_version(ref, version),
            lambda v: (v.get("acceleration") or {}).get("status") != "running",
            what=f"acceleration of {ref} v{version}",
            progress=progress,
            to_progress=acceleration_progress,
            timeout=timeout,
        )

    def drop_acceleration(self, ref: str, version: int) -> dict[str, Any]:
        """Remove a version's fast copy (jobs then read the object store)."""
        path = f"datasets/{_q(ref)}/versions/{int(version)}/accelerate"
        return dict(self._request("DELETE", path).json())

    # -- sharing ---------------------------------------------------------------------------

    def share_dataset(self, ref: str, expires_in_days: int = 7) -> dict[str, Any]:
        """A share token for a dataset of yours: ``{id, token, expires_at, ...}``. The token
        is shown this once; whoever adds it (:meth:`add_shared_dataset`) can read the
        dataset until it expires or you revoke it (:meth:`revoke_share` with ``id``)."""
        body = {"expires_in_days": expires_in_days}
        return dict(self._request("POST", f"datasets/{_q(ref)}/shares", json=body).json())

    def dataset_shares(self, ref: str) -> list[dict[str, Any]]:
        """The shares made of a dataset (without their tokens)."""
        return list(self._get(f"datasets/{_q(ref)}/shares")["shares"])

    def add_shared_dataset(self, token: str) -> dict[str, Any]:
        """Add a dataset someone shared with you to your list (read-only)."""
        return dict(self._request("POST", "datasets/shared", json={"token": token}).json())

    def remove_shared_dataset(self, ref: str) -> None:
        """Take a dataset shared with you off your list."""
        self._request("DELETE", f"datasets/{_q(ref)}/shared")

    def revoke_share(self, share_id: str) -> dict[str, Any]:
        """Revoke a share (of a dataset or a model): its token opens nothing any more."""
        return dict(self._request("DELETE", f"shares/{_q(share_id)}").json())
