"""Models in the SDK: the model repository (create, import versions, list files, download,
export to S3, share).

A model holds numbered versions; each is a set of files (weights, config, tokenizer)
imported from an upload, a URL, a finished job, a lab folder or, for the platform's preset
models, their public source. ``ref`` is a model's id or its name. Answers are the API's dicts.
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
    pack_tar,
    poll_until,
)


def _q(value: str | int) -> str:
    return quote(str(value), safe="")


def version_progress(version: dict[str, Any]) -> Progress:
    """A model version being imported (or copied from a share) as a :class:`Progress`."""
    phase = str(version.get("phase") or "queued")
    if version.get("status") != "importing":
        phase = "done"
    return Progress(
        phase, int(version.get("bytes_done") or 0), int(version.get("bytes_total") or 0)
    )


class ModelsAPI(UploadsAPI):
    """The model part of :class:`~jupyter_sxwl.client.Client` (a mixin)."""

    # -- the repository --------------------------------------------------------------------

    def models(self, all_users: bool = False) -> list[dict[str, Any]]:
        """The models you can use: yours and the platform's presets (admins with
        ``all_users``: everyone's). ``latest_version`` is the newest ready version."""
        return list(self._get("models", all=1 if all_users else None)["models"])

    def model(self, ref: str) -> dict[str, Any]:
        """One model with all its ``versions`` (newest first)."""
        return dict(self._get(f"models/{_q(ref)}"))

    def create_model(self, name: str, description: str = "", family: str = "") -> dict[str, Any]:
        """Create an empty model; ``family`` says what architecture it is (``llama``,
        ``qwen2``…), for the people choosing it."""
        body: dict[str, Any] = {"name": name}
        if description:
            body["description"] = description
        if family:
            body["family"] = family
        return dict(self._request("POST", "models", json=body).json())

    def update_model(
        self, ref: str, name: str | None = None, description: str | None = None
    ) -> dict[str, Any]:
        """Rename a model or change its description."""
        body = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
        return dict(self._request("PATCH", f"models/{_q(ref)}", json=body).json())

    def delete_model(self, ref: str) -> None:
        """Delete a model of yours with all its versions and shares."""
        self._request("DELETE", f"models/{_q(ref)}")

    # -- versions --------------------------------------------------------------------------

    def import_model(
        self,
        ref: str,
        path: str | os.PathLike[str] | None = None,
        url: str | None = None,
        job_id: str | None = None,
        lab_dir: str | os.PathLike[str] | None = None,
        preset: bool = False,
        wait: bool = True,
        progress: ProgressCallback | None = None,
        *,
        notes: str = "",
        timeout: float | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> dict[str, Any]:
        """Import a new version of a model from exactly one source:

        - ``path``: a weights file or an archive of them (``.tar``, ``.zip``, ``.tar.gz``…),
          uploaded;
        - ``url``: fetched by the platform;
        - ``job_id``: what a finished job saved in its model folder;
        - ``lab_dir``: a folder of this lab, packed as an uncompressed ``.tar`` (weights do not
          compress) and uploaded;
        - ``preset``: (admins, preset models) fetched from the model's public source.

        Returns the version (``status`` importing, ready or failed, with ``message``); with
        ``wait`` (the default) once it is no longer importing.
        """
        chosen = [
            k
            for k, v in (("path", path), ("url", url), ("job_id", job_id), ("lab_dir", lab_dir))
            if v is not None
        ] + (["preset"] if preset else [])
        if len(chosen) != 1:
            raise SxwlError(
                "give exactly one source: path, url, job_id, lab_dir or preset"
                + (f" (got {', '.join(chosen)})" if chosen else "")
            )
        if path is not None or lab_dir is not None:
            # Asked first, so a wrong name fails before a long upload rather than after it.
            model = self.model(ref)
            if model.get("read_only"):
                raise SxwlError(
                    f"model {model.get('name')!r} is read-only for you ({model.get('access')}); "
                    "import into a model of your own"
                )
            ref = str(model["id"])
        body: dict[str, Any]
        if path is not None:
            source = Path(path)
            if source.is_dir():
                raise SxwlError(f"path: {source} is a folder; import it with lab_dir=")
            up = self.upload_file(source, "model", chunk_size, progress)
            body = {"source": "upload", "upload_id": up["id"]}
        elif lab_dir is not None:
            folder = Path(lab_dir)
            with tempfile.TemporaryDirectory(prefix="sxwl-pack-") as tmp:
                archive = Path(tmp) / f"{folder.resolve().name or 'model'}.tar"
                pack_tar(folder, archive, progress=progress)
                up = self.upload_file(archive, "model", chunk_size, progress)
            body = {"source": "lab", "upload_id": up["id"]}
        elif url is not None:
            body = {"source": "url", "url": url}
        elif job_id is not None:
            body = {"source": "job", "job_id": job_id}
        else:
            body = {"source": "preset"}
        if notes:
            body["notes"] = notes
        version = dict(self._post_using_upload(f"models/{_q(ref)}/versions", body))
        if not wait:
            return version
        return self.wait_model_version(
            ref, int(version["number"]), timeout=timeout, progress=progress
        )

    def import_shared_model(
        self,
        token: str,
        name: str | None = None,
        wait: bool = True,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Copy a model version someone shared with you into your repository (as ``name``,
        default: its own name). Returns ``{"model", "version"}``; with ``wait``, once the copy
        is no longer importing."""
        body: dict[str, Any] = {"token": token}
        if name:
            body["name"] = name
        out = dict(self._post("models/import-shared", body))
        if wait:
            out["version"] = self.wait_model_version(
                str(out["model"]["id"]),
                int(out["version"]["number"]),
                timeout=timeout,
                progress=progress,
            )
        return out

    def model_versions(self, ref: str) -> list[dict[str, Any]]:
        """A model's versions, newest first: number, status, size, files, source, lineage."""
        return list(self._get(f"models/{_q(ref)}/versions")["versions"])

    def model_version(self, ref: str, version: int) -> dict[str, Any]:
        """One version of a model."""
        return dict(self._get(f"models/{_q(ref)}/versions/{int(version)}"))

    def wait_model_version(
        self,
        ref: str,
        version: int,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Poll a version until it is no longer importing; returns it (ready or failed)."""
        return poll_until(
            lambda: self.model_version(ref, version),
            lambda v: v.get("status") != "importing",
            what=f"the import of {ref} v{version}",
            progress=progress,
            to_progress=version_progress,
            timeout=timeout,
        )

    def delete_model_version(self, ref: str, version: int) -> None:
        """Delete one version of a model (its files go; the other versions stay)."""
        self._request("DELETE", f"models/{_q(ref)}/versions/{int(version)}")

    def model_files(self, ref: str, version: int | None = None) -> list[dict[str, Any]]:
        """The files of a ready version (the latest by default): ``{path, size, sha256}``."""
        number = self._model_number(ref, version)[1]
        return list(self._get(f"models/{_q(ref)}/versions/{number}/files")["files"])

    def _model_number(self, ref: str, version: int | None) -> tuple[dict[str, Any], int]:
        if version is not None:
            return {}, int(version)
        model = self.model(ref)
        if not model.get("latest_version"):
            raise SxwlError(
                f"version: model {model.get('name')!r} has no ready version; import one first"
            )
        return model, int(model["latest_version"])

    def download_model(
        self, ref: str, version: int | None = None, dest: str | os.PathLike[str] = "."
    ) -> Path:
        """Download a version (the latest ready one by default) file by file into
        ``dest/<name>-v<n>/``, each streamed to disk and checked against its sha256.
        Returns that folder."""
        from .client import safe_destination

        model, number = self._model_number(ref, version)
        model = model or self.model(ref)
        files = self.model_files(ref, number)
        folder = safe_destination(dest, f"{model.get('name') or ref}-v{number}")
        # Every name is checked before anything is written.
        targets = [(f, safe_destination(folder, str(f["path"]))) for f in files]
        for f, target in targets:
            response = self._request(
                "GET",
                f"models/{_q(ref)}/versions/{number}/files/{quote(str(f['path']), safe='/')}",
                stream=True,
                # Large weights: no read timeout beyond a stall of several minutes.
                timeout=(self.timeout[0], max(self.timeout[1], 300.0)),
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            self._save_stream(response, target, str(f["path"]), f.get("sha256"))
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def export_model(
        self,
        ref: str,
        version: int,
        bucket: str,
        prefix: str = "",
        *,
        wait: bool = True,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
        **s3: Any,
    ) -> dict[str, Any]:
        """Copy a version's files to an S3 bucket of yours (``s3``: ``endpoint_url``,
        ``region``, ``access_key_id``, ``secret_access_key``, ``path_style``). Returns the
        operation; with ``wait``, once it succeeded (raises SxwlError when it failed)."""
        known = {"endpoint_url", "region", "access_key_id", "secret_access_key", "path_style"}
        unknown = sorted(set(s3) - known)
        if unknown:
            raise SxwlError(f"{unknown[0]}: not an export option; use {', '.join(sorted(known))}")
        body: dict[str, Any] = {"bucket": bucket, **{k: v for k, v in s3.items() if v is not None}}
        if prefix:
            body["prefix"] = prefix
        op = dict(self._post(f"models/{_q(ref)}/versions/{int(version)}/export", body))
        return self._finished_operation(op, f"exporting {ref} v{version}", wait, timeout, progress)

    # -- sharing ---------------------------------------------------------------------------

    def share_model(
        self, ref: str, version: int | None = None, expires_in_days: int = 7
    ) -> dict[str, Any]:
        """A share token for a model of yours (one version, or whichever is latest when it is
        used): ``{id, token, expires_at, ...}``. The receiver copies it with
        :meth:`import_shared_model`."""
        body: dict[str, Any] = {"expires_in_days": expires_in_days}
        if version is not None:
            body["version"] = int(version)
        return dict(self._request("POST", f"models/{_q(ref)}/shares", json=body).json())

    def model_shares(self, ref: str) -> list[dict[str, Any]]:
        """The shares made of a model (without their tokens)."""
        return list(self._get(f"models/{_q(ref)}/shares")["shares"])
