"""Fine-tunes in the SDK: supervised fine-tuning (LoRA, LoRA+, QLoRA, full) of a model version
on published dataset versions, with live metrics, evaluation, predictions and export to the
model repository.

Parameters carry LLaMA-Factory's names (``learning_rate``, ``lora_rank``, ``cutoff_len``…);
a LLaMA-Factory training YAML can be given as it is (``yaml=``). The platform checks
everything before a job is queued: a wrong value is an :class:`SxwlAPIError` whose ``errors``
name the field (``params.learning_rate``, ``datasets[0]``, ``model``, ``yaml``).

``ft`` is a fine-tune's id (``ft-…``). Answers are the API's dicts.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .errors import SxwlError
from .uploads import Progress, ProgressCallback, UploadsAPI, poll_until

# The statuses of a fine-tune are those of its training job.
FINETUNE_FINAL_STATUSES = frozenset({"Succeeded", "Failed", "Stopped", "TimedOut"})
# Resource fields of a fine-tune (the job's shape), as the API names them.
RESOURCE_FIELDS = (
    "flavour",
    "accelerators_per_node",
    "nodes",
    "procs_per_node",
    "cpu_per_node",
    "memory_gb_per_node",
    "queue",
    "priority",
    "max_run_minutes",
)

DatasetSpec = str | Mapping[str, Any] | tuple[str, int | None]


def _q(value: str | int) -> str:
    return quote(str(value), safe="")


def dataset_ref(spec: DatasetSpec) -> dict[str, Any]:
    """``"alpaca_zh_demo"``, ``"alpaca_zh_demo:2"``, ``("faq", 2)`` or ``{"name", "version"}``
    -> ``{"name", "version"?}`` as the API takes it (no version: the latest published)."""
    if isinstance(spec, Mapping):
        ref = {"name": str(spec.get("name") or "")}
        if spec.get("version") is not None:
            ref["version"] = spec["version"]
        return ref
    if isinstance(spec, tuple):
        name, number = spec
        return {"name": name} if number is None else {"name": name, "version": int(number)}
    head, sep, tail = str(spec).rpartition(":")
    if not sep:
        return {"name": str(spec)}
    if not tail.isdigit() or not head:
        raise SxwlError(f"datasets: {spec!r} is not NAME or NAME:VERSION, e.g. alpaca_zh_demo:1")
    return {"name": head, "version": int(tail)}


def default_finetune_name(model: str | None = None) -> str:
    """A name for a fine-tune nobody named: the model's name (when known) and the time."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", model or "").strip("-._")[:40] or "finetune"
    return f"{stem}-{time.strftime('%m%d-%H%M%S')}"


def read_yaml_arg(yaml: str | os.PathLike[str]) -> str:
    """The YAML text of ``yaml``: a path (``os.PathLike``, or a one-line string naming an
    existing ``.yaml``/``.yml`` file) is read; any other string is the text itself."""
    if isinstance(yaml, os.PathLike) or (
        "\n" not in yaml
        and yaml.strip().lower().endswith((".yaml", ".yml"))
        and Path(yaml.strip()).expanduser().is_file()
    ):
        path = Path(yaml if isinstance(yaml, os.PathLike) else yaml.strip()).expanduser()
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise SxwlError(f"yaml: cannot read {path}: {e}") from e
    return str(yaml)


def training_progress(ft: Mapping[str, Any]) -> Progress:
    """A fine-tune as a :class:`Progress`: optimiser steps done of all, phase from its status
    (``queued``, ``starting``, ``training``, ``stopping``, then ``done``)."""
    status = str(ft.get("status") or "")
    progress = ft.get("progress") or {}
    phase = {"Running": "training"}.get(status, status.lower() or "queued")
    if status in FINETUNE_FINAL_STATUSES:
        phase = "done"
    return Progress(
        phase, int(progress.get("step") or 0), int(progress.get("total_steps") or 0), "steps"
    )


def _safe_extract(tar: tarfile.TarFile, dest: Path) -> list[Path]:
    """Extract regular files and folders only, each checked to land inside ``dest``."""
    from .client import safe_destination

    written = []
    for member in tar.getmembers():
        if member.isdir():
            continue
        if not member.isfile():
            continue  # no links or devices from an archive
        target = safe_destination(dest, member.name.lstrip("./") or member.name)
        source = tar.extractfile(member)
        if source is None:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with source, open(target, "wb") as f:
            while chunk := source.read(1 << 20):
                f.write(chunk)
        written.append(target)
    return written


class FinetunesAPI(UploadsAPI):
    """The fine-tune part of :class:`~jupyter_sxwl.client.Client` (a mixin)."""

    if TYPE_CHECKING:  # the Client's job methods used here

        def follow_logs(
            self, job_id: str, attempt: int | None = None, poll: float = 1.0
        ) -> Iterator[str]: ...

        def full_log(self, job_id: str, attempt: int | None = None) -> str: ...

    # -- what can be set -------------------------------------------------------------------

    def finetune_defaults(self) -> dict[str, Any]:
        """The parameters with their defaults and meanings: ``{"params": {name: default},
        "fields": [{"name", "type", "default", "description", "choices"?}], "templates",
        "lr_scheduler_types", "finetuning_types"}``."""
        return dict(self._get("finetunes/defaults"))

    def parse_finetune_yaml(self, yaml: str | os.PathLike[str]) -> dict[str, Any]:
        """What a LLaMA-Factory YAML (text or file) means here, without starting anything:
        ``{"model", "model_version", "datasets", "eval_datasets", "params", "ignored"}``
        (``ignored``: keys the platform manages itself, with why)."""
        return dict(self._post("finetunes/parse-yaml", {"yaml": read_yaml_arg(yaml)}))

    # -- fine-tunes ------------------------------------------------------------------------

    def create_finetune(
        self,
        name: str | None = None,
        model: str | None = None,
        datasets: Sequence[DatasetSpec] | DatasetSpec | None = None,
        *,
        model_version: int | None = None,
        eval_datasets: Sequence[DatasetSpec] | DatasetSpec | None = None,
        params: Mapping[str, Any] | None = None,
        yaml: str | os.PathLike[str] | None = None,
        resources: Mapping[str, Any] | None = None,
        **more_params: Any,
    ) -> dict[str, Any]:
        """Start a fine-tune; returns it (status ``Queued`` usually).

        Either name the parts: ``model`` (a model of the repository, its latest ready version
        unless ``model_version``), ``datasets`` (published datasets: ``"alpaca_zh_demo"``,
        ``"faq:2"``, ``("faq", 2)``…), ``params`` and/or parameters as keyword arguments
        (``learning_rate=1e-4, lora_rank=16``); or give a LLaMA-Factory training ``yaml`` (its
        text or a path), from which ``model_name_or_path``, ``dataset`` and the parameters are
        taken; what is named explicitly wins over the YAML. ``name`` defaults to the model's
        name and the time (``sxwl-tiny-llama-0612-153012``).

        ``resources`` is the job's shape: ``flavour``, ``accelerators_per_node``, ``nodes``,
        ``procs_per_node``, ``cpu_per_node``, ``memory_gb_per_node``, ``queue``,
        ``priority``, ``max_run_minutes`` (missing ones: the platform's defaults).
        """
        body: dict[str, Any] = {"name": name or default_finetune_name(model)}
        if yaml is not None:
            body["yaml"] = read_yaml_arg(yaml)
        if model:
            body["model"] = model
        if model_version is not None:
            body["model_version"] = int(model_version)
        for key, value in (("datasets", datasets), ("eval_datasets", eval_datasets)):
            if value is None:
                continue
            specs = [value] if isinstance(value, str | Mapping | tuple) else list(value)
            body[key] = [dataset_ref(s) for s in specs]
        merged = {**dict(params or {}), **more_params}
        if merged:
            body["params"] = merged
        if resources:
            unknown = sorted(set(resources) - set(RESOURCE_FIELDS))
            if unknown:
                raise SxwlError(
                    f"resources.{unknown[0]}: not a resource field; use "
                    + ", ".join(RESOURCE_FIELDS)
                )
            body["resources"] = {k: v for k, v in resources.items() if v is not None}
        if "yaml" not in body and ("model" not in body or "datasets" not in body):
            raise SxwlError("give model and datasets, or a LLaMA-Factory yaml naming them")
        return dict(self._request("POST", "finetunes", json=body).json())

    def finetunes(self) -> list[dict[str, Any]]:
        """Your fine-tunes, newest first."""
        return list(self._get("finetunes")["items"])

    def finetune(self, ft: str) -> dict[str, Any]:
        """One fine-tune: status, method, model, datasets, params, resources, ``progress``
        (the last training point), ``evaluations`` and ``exports``."""
        return dict(self._get(f"finetunes/{_q(ft)}"))

    def finetune_metrics(self, ft: str, after: int | None = None) -> dict[str, Any]:
        """Metric points with a step above ``after`` (all of them by default):
        ``{"points": [...], "progress": {...last train point...} | None}``.

        A point has ``kind`` ``train`` (``step``, ``total_steps``, ``epoch``, ``loss``,
        ``learning_rate``, ``grad_norm``, ``tokens_per_second``, ``samples_per_second``,
        ``memory_mb``, ``eta_seconds``, ``elapsed_seconds``), ``eval`` (``step``,
        ``eval_loss``) or ``done`` (``train_loss``, ``train_runtime``, throughput, peak memory).
        """
        return dict(self._get(f"finetunes/{_q(ft)}/metrics", after=after))

    def finetune_points(self, ft: str, after: int | None = None) -> list[dict[str, Any]]:
        """All metric points with a step above ``after``, however many pages that takes."""
        points: list[dict[str, Any]] = []
        while True:
            page = self.finetune_metrics(ft, after=after).get("points") or []
            steps = [p["step"] for p in page if isinstance(p.get("step"), int)]
            points.extend(page)
            if not steps or (after is not None and max(steps) <= after):
                return points
            after = max(steps)

    def follow_finetune_metrics(
        self, ft: str, after: int | None = None, poll: float = 1.0
    ) -> Iterator[dict[str, Any]]:
        """Yield metric points as the fine-tune writes them, until it reaches a final status
        (the points written before it ended included)."""
        last = after
        # Kinds already yielded at step ``last`` (an eval and a done point share the last
        # train point's step and may land later); None: all of them, as ``after`` says.
        at_last: set[Any] | None = None
        while True:
            # The status first: points written before it was final are all read below.
            final = self.finetune(ft).get("status") in FINETUNE_FINAL_STATUSES
            for point in self.finetune_points(ft, after=None if last is None else last - 1):
                step, kind = point.get("step"), point.get("kind")
                if not isinstance(step, int) or (last is not None and step < last):
                    continue
                if step == last:
                    if at_last is None or kind in at_last:
                        continue
                    at_last.add(kind)
                else:
                    last, at_last = step, {kind}
                yield point
            if final:
                return
            time.sleep(poll)

    def wait_finetune(
        self,
        ft: str,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
        poll: float = 1.0,
    ) -> dict[str, Any]:
        """Poll until the fine-tune reaches a final status (Succeeded, Failed, Stopped,
        TimedOut) and return it; ``progress`` gets the steps done of all (see
        :func:`training_progress`). Raises SxwlTimeoutError after ``timeout`` seconds."""
        return poll_until(
            lambda: self.finetune(ft),
            lambda state: state.get("status") in FINETUNE_FINAL_STATUSES,
            what=f"fine-tune {ft}",
            progress=progress,
            to_progress=training_progress,
            timeout=timeout,
            poll=poll,
        )

    def stop_finetune(self, ft: str) -> dict[str, Any]:
        """Stop a queued or running fine-tune; its checkpoints stay, for :meth:`resume_finetune`."""
        return dict(self._post(f"finetunes/{_q(ft)}/stop"))

    def resume_finetune(self, ft: str) -> dict[str, Any]:
        """Run a stopped (or failed) fine-tune again from its last checkpoint; it ends at the
        same total number of steps."""
        return dict(self._post(f"finetunes/{_q(ft)}/resume"))

    def delete_finetune(self, ft: str) -> None:
        """Delete a fine-tune (stopping it first). Model versions exported from it stay."""
        self._request("DELETE", f"finetunes/{_q(ft)}")

    def finetune_logs(self, ft: str, follow: bool = False) -> Iterator[str]:
        """The log of the fine-tune's training job: all of it so far, or with ``follow``
        as it is written until the job ends."""
        job_id = str(self.finetune(ft).get("job_id") or "")
        if not job_id:
            raise SxwlError(f"fine-tune {ft} has no job yet; try again in a moment")
        if follow:
            yield from self.follow_logs(job_id)
        else:
            yield self.full_log(job_id)

    # -- evaluation ------------------------------------------------------------------------

    def evaluate_finetune(
        self,
        ft: str,
        dataset: DatasetSpec | None = None,
        *,
        max_samples: int | None = None,
        max_new_tokens: int | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Generate answers with the fine-tuned model and score them against the labels:
        ROUGE-1/2/L and BLEU-4 (percentages, as LLaMA-Factory reports them).

        ``dataset`` is a published dataset (``"faq"``, ``"faq:2"``); by default the
        validation split the training held out (``val_size``). Returns the evaluation; with
        ``wait`` (the default) once it ended, its ``scores`` filled. Raises SxwlError when
        it failed.
        """
        body: dict[str, Any] = {"dataset": None if dataset is None else dataset_ref(dataset)}
        if max_samples is not None:
            body["max_samples"] = int(max_samples)
        if max_new_tokens is not None:
            body["max_new_tokens"] = int(max_new_tokens)
        ev = dict(self._post(f"finetunes/{_q(ft)}/evaluate", body))
        if not wait:
            return ev
        return self.wait_evaluation(ft, str(ev["id"]), timeout=timeout)

    def finetune_evaluation(self, ft: str, evaluation: str) -> dict[str, Any]:
        """One evaluation: ``status`` (running, succeeded, failed), ``scores``, ``message``."""
        return dict(self._get(f"finetunes/{_q(ft)}/evaluations/{_q(evaluation)}"))

    def wait_evaluation(
        self, ft: str, evaluation: str, timeout: float | None = None, poll: float = 1.0
    ) -> dict[str, Any]:
        """Poll an evaluation until it ends; return it, or raise SxwlError if it failed."""
        ev = poll_until(
            lambda: self.finetune_evaluation(ft, evaluation),
            lambda e: e.get("status") != "running",
            what=f"evaluation {evaluation} of {ft}",
            timeout=timeout,
            poll=poll,
        )
        if ev.get("status") == "failed":
            raise SxwlError(
                f"evaluation {evaluation} of {ft} failed: {ev.get('message') or 'no reason given'}"
            )
        return ev

    def _evaluation_id(self, ft: str, evaluation: str | None) -> str:
        if evaluation:
            return evaluation
        done = [
            e for e in self.finetune(ft).get("evaluations") or [] if e.get("status") == "succeeded"
        ]
        if not done:
            raise SxwlError(
                f"evaluation: fine-tune {ft} has no finished evaluation; evaluate it first"
            )
        return str(max(done, key=lambda e: str(e.get("created_at") or ""))["id"])

    def finetune_predictions(
        self, ft: str, evaluation: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The predictions of an evaluation (the latest finished one by default):
        ``[{"prompt", "label", "predict"}, ...]``, at most ``limit`` of them."""
        eid = self._evaluation_id(ft, evaluation)
        response = self._request(
            "GET", f"finetunes/{_q(ft)}/evaluations/{_q(eid)}/predictions", stream=True
        )
        rows: list[dict[str, Any]] = []
        with response:
            for line in response.iter_lines(decode_unicode=False):
                if not line.strip():
                    continue
                rows.append(json.loads(line.decode("utf-8")))
                if limit is not None and len(rows) >= limit:
                    break
        return rows

    def download_predictions(
        self,
        ft: str,
        evaluation: str | None = None,
        dest: str | os.PathLike[str] = ".",
    ) -> Path:
        """Save an evaluation's predictions (the latest finished one by default) as
        ``<ft>-<evaluation>-predictions.jsonl`` in the folder ``dest``; returns the file."""
        from .client import safe_destination

        eid = self._evaluation_id(ft, evaluation)
        target = safe_destination(dest, f"{ft}-{eid}-predictions.jsonl")
        response = self._request(
            "GET", f"finetunes/{_q(ft)}/evaluations/{_q(eid)}/predictions", stream=True
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        self._save_stream(response, target, f"predictions of {eid}")
        return target

    # -- export ----------------------------------------------------------------------------

    def export_finetune(
        self,
        ft: str,
        model_name: str,
        merge: bool = True,
        notes: str = "",
        *,
        wait: bool = True,
        timeout: float | None = None,
        poll: float = 1.0,
    ) -> dict[str, Any]:
        """Register the fine-tuned model as a new version of the model ``model_name``
        (created when it does not exist): the adapter merged into the base (``merge``) or the
        adapter alone. The version carries its lineage (base, datasets, parameters, scores).

        Returns the export; with ``wait`` (the default) once it is ready, its ``model`` being
        ``{"id", "name", "version"}``. Raises SxwlError when it failed.
        """
        body = {"model_name": model_name, "merge": bool(merge), "notes": notes}
        ex = dict(self._post(f"finetunes/{_q(ft)}/export", body))
        if not wait:
            return ex
        ex_id = str(ex["id"])

        def fetch() -> dict[str, Any]:
            exports = self.finetune(ft).get("exports") or []
            return dict(next((e for e in exports if e.get("id") == ex_id), ex))

        ex = poll_until(
            fetch,
            lambda e: e.get("status") != "running",
            what=f"export {ex_id} of {ft}",
            timeout=timeout,
            poll=poll,
        )
        if ex.get("status") == "failed":
            raise SxwlError(
                f"export {ex_id} of {ft} failed: {ex.get('message') or 'no reason given'}"
            )
        return ex

    # -- TensorBoard -----------------------------------------------------------------------

    def download_tensorboard(
        self, ft: str, dest: str | os.PathLike[str] = ".", extract: bool = True
    ) -> Path:
        """Download the fine-tune's TensorBoard event files. With ``extract`` (the default)
        they are unpacked into ``dest/<ft>/`` and that folder is returned (open it with
        ``tensorboard --logdir``); otherwise ``dest/<ft>-tensorboard.tar`` is."""
        from .client import safe_destination

        response = self._request("GET", f"finetunes/{_q(ft)}/tensorboard", stream=True)
        if not extract:
            target = safe_destination(dest, f"{ft}-tensorboard.tar")
            target.parent.mkdir(parents=True, exist_ok=True)
            self._save_stream(response, target, f"TensorBoard files of {ft}")
            return target
        folder = safe_destination(dest, ft)
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="sxwl-tb-") as tmp:
            archive = Path(tmp) / "runs.tar"
            self._save_stream(response, archive, f"TensorBoard files of {ft}")
            try:
                with tarfile.open(archive) as tar:
                    _safe_extract(tar, folder)
            except tarfile.TarError as e:
                raise SxwlError(f"the TensorBoard archive of {ft} is unreadable: {e}") from e
        return folder
