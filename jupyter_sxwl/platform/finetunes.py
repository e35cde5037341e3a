"""Fine-tunes (F1 to F4, T4): supervised fine-tuning of a model version on dataset versions.

A fine-tune is an ordinary job of the platform (admission, queues, quotas, logs, stop and
resume all apply) running ``python -m jupyter_sxwl.runtime.finetune train`` with its whole
configuration in ``SXWL_FINETUNE_CONFIG``, a variable only the platform may set. The base
model version and the dataset versions are job mounts, pinned when the fine-tune is created.
Everything a user can get wrong is checked before the job is queued.

Evaluations and exports are jobs too, reading the training job's output. A watcher notices
when they end: an evaluation's ``eval_results.json`` becomes its scores, an export's output
becomes a new model version with its lineage. The watcher looks at the database, not at
memory, so work that ended while the platform was down is picked up at the next start.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import os
import tarfile
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import and_, func, select

from ..backends.base import JobType
from ..runtime.finetune.config import (
    FINETUNING_TYPES,
    LR_SCHEDULERS,
    QUANTIZATION_BITS,
    TEMPLATES,
    FinetuneParams,
    SpecError,
    check_lora_target,
    check_sft_annotation,
    parse_llamafactory_yaml,
)
from ..scheduler.model import Flavour
from ..store.database import Database
from ..store.models import (
    Dataset,
    DatasetVersion,
    Finetune,
    FinetuneEvaluation,
    FinetuneExport,
    Job,
    utcnow,
)
from .auth import Identity
from .errors import Problem, problem_from_validation
from .jobs import JobManager, iso, new_id
from .payloads import (
    FINAL_STATUSES,
    NAME_RE,
    JobSubmit,
    MountSpec,
    Priority,
    catalogue_name,
    check_text,
    text_field,
)

RUNNER = "python -m jupyter_sxwl.runtime.finetune"
MAX_DATASETS = 16
MAX_POINTS = 10_000
LOG_TAIL_BYTES = 16 << 10
SCORE_KEYS = ("rouge-1", "rouge-2", "rouge-l", "bleu-4", "samples", "runtime_seconds")


class FinetuneResources(BaseModel):
    """Where and how big a fine-tune runs; the job's resource fields, with fine-tune defaults."""

    model_config = ConfigDict(extra="forbid")

    flavour: str = Field("cpu", description="a flavour of the accelerator catalogue")
    accelerators_per_node: int = Field(0, description="accelerator cards per node")
    nodes: int = Field(1, description="nodes; more than one node or process trains with DDP")
    procs_per_node: int = Field(1, description="processes per node, one per accelerator")
    cpu_per_node: float = Field(2.0, description="CPU cores per node")
    memory_gb_per_node: float = Field(4.0, description="memory per node, GiB")
    queue: str = Field("default", description="the queue to wait in")
    priority: Priority = Field("normal", description="low or normal; high is for admins")
    max_run_minutes: int | None = Field(
        None, description="stop as TimedOut after this many minutes; null: run to the end"
    )


class DatasetRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="the dataset's name or id")
    version: int | None = Field(None, description="a published version; null: the latest")


class FinetuneCreate(BaseModel):
    """What POST finetunes accepts (documentation; the handler checks field by field)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="1-63 letters, digits, '.', '_' or '-'")
    model: str | None = Field(None, description="the base model's name or id")
    model_version: int | None = Field(None, description="a ready version; null: the latest")
    datasets: list[DatasetRef] = Field(default_factory=list, description="training data")
    eval_datasets: list[DatasetRef] = Field(default_factory=list, description="evaluation data")
    params: dict[str, Any] = Field(
        default_factory=dict, description="FinetuneParams (see GET finetunes/defaults)"
    )
    resources: FinetuneResources | None = None
    yaml: str | None = Field(
        None, description="a LLaMA-Factory training YAML; explicit fields win over it"
    )


class EvaluateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: DatasetRef | None = Field(
        None, description="a published dataset version; null: the fine-tune's validation split"
    )
    max_samples: int | None = Field(None, ge=1, description="evaluate at most this many records")
    max_new_tokens: int | None = Field(
        None, ge=1, le=4096, description="tokens generated per record (default: the params')"
    )


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_name: str = Field(description="the model (yours; created if missing) to add a version to")
    merge: bool = Field(True, description="merge the adapter into the base; false: adapter only")
    notes: str = Field("", description="notes of the new model version")


# -- devices ----------------------------------------------------------------------------------


def flavour_device(flavour: Flavour | None, accelerators_per_node: int) -> str:
    """What a job on ``flavour`` with that many cards computes on: cuda, npu, cpu or other.

    Flavours are configuration, so the device is read from what they say: the device
    variable or the Kubernetes resource name.
    """
    if flavour is None or not flavour.is_accelerated or accelerators_per_node < 1:
        return "cpu"
    described = f"{flavour.device_env or ''} {flavour.resource_name or ''}".lower()
    if "cuda" in described or "nvidia" in described:
        return "cuda"
    if "ascend" in described or "npu" in described:
        return "npu"
    return "other"


def device_errors(
    params: FinetuneParams, flavour: Flavour | None, accelerators: int, flavours: list[Flavour]
) -> list[tuple[str, str]]:
    """QLoRA needs CUDA; fp16 needs CUDA or an NPU."""
    device = flavour_device(flavour, accelerators)
    where = f"flavour {flavour.name!r}" if flavour else "this flavour"
    if flavour is not None and flavour.is_accelerated and accelerators < 1:
        where += " with accelerators_per_node 0"
    cuda = [f.name for f in flavours if flavour_device(f, 1) == "cuda"]
    hint = (
        f"choose {' or '.join(cuda)} with accelerators_per_node ≥ 1"
        if cuda
        else ("this platform has no CUDA flavour")
    )
    errors = []
    if params.quantization_bit is not None and device != "cuda":
        errors.append(
            (
                "params.quantization_bit",
                f"QLoRA ({params.quantization_bit}-bit) needs a CUDA GPU and {where} has none; "
                f"{hint}, or use LoRA (leave quantization_bit empty)",
            )
        )
    if params.fp16 and device not in ("cuda", "npu"):
        errors.append(
            (
                "params.fp16",
                f"fp16 training needs a CUDA GPU or an Ascend NPU and {where} has none; "
                "turn fp16 off (bf16 works on CPUs)",
            )
        )
    return errors


# -- metrics ----------------------------------------------------------------------------------


class MetricsIndex:
    """Where each point of one ``metrics.jsonl`` lies, read on incrementally.

    Each refresh reads only the bytes appended since the last one; ``points(after)`` reads
    only the lines it returns. A resumed attempt repeats the steps after its checkpoint: the
    earlier points of those steps are dropped, so the curve stays one continuous line. A
    file replaced by a fresh start (restart without resume) is noticed and read anew.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.inode: int | None = None
        self.head = b""
        self.offset = 0
        self.steps: list[int] = []
        self.spans: list[tuple[int, int]] = []
        self.progress: dict[str, Any] | None = None

    def refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._reset()
            return
        with open(self.path, "rb") as f:
            head = f.read(64)
            if (
                st.st_ino != self.inode
                or st.st_size < self.offset
                or (self.head and head[: len(self.head)] != self.head)
            ):
                self._reset()
                self.inode = st.st_ino
            if not self.head:
                self.head = head
            if st.st_size <= self.offset:
                return
            f.seek(self.offset)
            data = f.read(st.st_size - self.offset)
        end = data.rfind(b"\n")
        if end < 0:
            return  # a line being written
        pos = self.offset
        for line in data[: end + 1].splitlines(keepends=True):
            start, pos = pos, pos + len(line)
            try:
                point = json.loads(line)
            except ValueError:
                continue
            if not isinstance(point, dict):
                continue
            step = point.get("step")
            if type(step) is not int:
                continue
            if point.get("kind") == "train":
                while self.steps and self.steps[-1] >= step:
                    self.steps.pop()
                    self.spans.pop()
                self.progress = point
            self.steps.append(step)
            self.spans.append((start, pos))
        self.offset = pos

    def points(self, after: int | None, limit: int = MAX_POINTS) -> list[dict[str, Any]]:
        """Points with ``step > after`` (all when None), cut only between steps."""
        first = 0 if after is None else bisect.bisect_right(self.steps, after)
        if first >= len(self.steps):
            return []
        last = min(len(self.steps), first + limit)
        while last < len(self.steps) and self.steps[last] == self.steps[last - 1]:
            last += 1
        spans = self.spans[first:last]
        base = spans[0][0]
        with open(self.path, "rb") as f:
            f.seek(base)
            data = f.read(spans[-1][1] - base)
        try:
            return [json.loads(data[a - base : b - base]) for a, b in spans]
        except ValueError:
            # The file was replaced between the refresh and this read: start over next time.
            self._reset()
            return []


# -- the manager ------------------------------------------------------------------------------


class FinetuneManager:
    """Everything a user can do with fine-tunes; called by the REST handlers."""

    def __init__(
        self,
        db: Database,
        jobs: JobManager,
        datasets: Any,
        models: Any,
        work: Any,
        flavours: dict[str, Flavour],
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        interval: float = 2.0,
    ) -> None:
        self.db = db
        self.jobs = jobs
        self.datasets = datasets
        self.models = models
        self.work = work
        self.flavours = flavours
        self.log = log or logging.getLogger("jupyter_sxwl.finetunes")
        self.interval = interval
        self._indexes: OrderedDict[str, MetricsIndex] = OrderedDict()
        self._registering: set[str] = set()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- defaults and YAML ---------------------------------------------------------------------

    @staticmethod
    def defaults() -> dict[str, Any]:
        choices: dict[str, list[Any]] = {
            "stage": ["sft"],
            "finetuning_type": list(FINETUNING_TYPES),
            "template": list(TEMPLATES),
            "lr_scheduler_type": list(LR_SCHEDULERS),
            "quantization_bit": list(QUANTIZATION_BITS),
        }
        schema = FinetuneParams.model_json_schema()["properties"]
        fields = []
        for name, info in FinetuneParams.model_fields.items():
            prop = schema.get(name, {})
            kinds = [p.get("type") for p in prop.get("anyOf", [prop])]
            entry: dict[str, Any] = {
                "name": name,
                "type": next((k for k in kinds if k and k != "null"), "string"),
                "nullable": "null" in kinds,
                "default": info.default,
                "description": info.description or "",
            }
            if name in choices:
                entry["choices"] = choices[name]
            fields.append(entry)
        return {
            "params": FinetuneParams.model_validate({}).model_dump(mode="json"),
            "fields": fields,
            "templates": list(TEMPLATES),
            "lr_scheduler_types": list(LR_SCHEDULERS),
            "finetuning_types": list(FINETUNING_TYPES),
        }

    @staticmethod
    def parse_yaml(body: dict[str, Any]) -> dict[str, Any]:
        extra = sorted(set(body) - {"yaml"})
        if extra:
            raise Problem.fields([(k, "is not a known field; send {yaml}") for k in extra])
        text = body.get("yaml")
        if not isinstance(text, str):
            raise Problem.invalid("yaml", "is required: the text of a LLaMA-Factory YAML file")
        try:
            spec = parse_llamafactory_yaml(text)
        except SpecError as e:
            raise Problem.fields(e.errors) from None
        return {
            "model": spec.model,
            "model_version": None,
            "datasets": [{"name": n, "version": None} for n in spec.datasets],
            "eval_datasets": [{"name": n, "version": None} for n in spec.eval_datasets],
            "params": spec.params,
            "ignored": spec.ignored,
        }

    # -- create --------------------------------------------------------------------------------

    async def create(self, identity: Identity, body: dict[str, Any]) -> dict[str, Any]:
        known = set(FinetuneCreate.model_fields)
        errors: list[tuple[str, str]] = [
            (k, "is not a known field; remove it (see GET finetunes/defaults)")
            for k in sorted(set(body) - known)
        ]
        missing: list[tuple[str, str]] = []  # references to nothing the caller can see: 404

        # A YAML spec first; explicit fields win over it.
        model_ref: Any = body.get("model")
        model_version: Any = body.get("model_version")
        raw_datasets: Any = body.get("datasets")
        raw_eval: Any = body.get("eval_datasets")
        raw_params: Any = body.get("params", {})
        if not isinstance(raw_params, dict):
            errors.append(("params", "must be an object of FinetuneParams"))
            raw_params = {}
        if body.get("yaml") is not None:
            try:
                imported = self.parse_yaml({"yaml": body["yaml"]})
            except Problem as e:
                errors.extend((x["field"], x["message"]) for x in e.errors)
                imported = {"params": {}, "datasets": [], "eval_datasets": [], "model": None}
            raw_params = {**imported["params"], **raw_params}
            model_ref = model_ref if model_ref is not None else imported["model"]
            raw_datasets = raw_datasets if raw_datasets is not None else imported["datasets"]
            raw_eval = raw_eval if raw_eval is not None else imported["eval_datasets"]

        name = body.get("name")
        try:
            if not isinstance(name, str):
                raise ValueError("is required, e.g. 'qwen-support-lora'")
            check_text(name, "name")
            if not NAME_RE.match(name):
                raise ValueError(
                    "must start with a letter or digit and hold at most 63 letters, digits, "
                    "'.', '_' or '-'"
                )
        except ValueError as e:
            errors.append(("name", str(e)))

        params: FinetuneParams | None = None
        try:
            params = FinetuneParams.model_validate(raw_params)
        except ValidationError as e:
            for err in e.errors():
                loc = ".".join(str(p) for p in err["loc"])
                msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
                if err.get("type") == "extra_forbid" or err.get("type") == "extra_forbidden":
                    msg = "is not a fine-tune parameter (see GET finetunes/defaults)"
                errors.append((f"params.{loc}" if loc else "params", msg))

        model = self._resolve_model(identity, model_ref, model_version, errors, missing)
        datasets = self._resolve_datasets(identity, raw_datasets, "datasets", errors, missing, 1)
        evals = self._resolve_datasets(identity, raw_eval, "eval_datasets", errors, missing, 0)
        by_id = {d["id"]: d for d in datasets}
        for i, d in enumerate(evals):
            same = by_id.get(d["id"])
            if same is not None and same["version"] != d["version"]:
                errors.append(
                    (
                        f"eval_datasets[{i}]",
                        f"{d['name']} is also a training dataset, at version {same['version']}; "
                        "use one version of it",
                    )
                )
        names: dict[str, str] = {}
        for field, d in [(f"datasets[{i}]", d) for i, d in enumerate(datasets)] + [
            (f"eval_datasets[{i}]", d) for i, d in enumerate(evals)
        ]:
            if names.get(d["name"], d["id"]) != d["id"]:
                errors.append((field, f"another dataset named {d['name']!r} is in the list"))
            names[d["name"]] = d["id"]

        if model is not None and params is not None and params.finetuning_type == "lora":
            modules = await self.models.linear_modules(model["id"], model["version"])
            if modules is not None:
                try:
                    check_lora_target(params, modules)
                except ValueError as e:
                    errors.append(("params.lora_target", str(e)))

        resources, spec_or_none = self._resources(body.get("resources"), name, errors)
        if spec_or_none is not None:
            flavour = self.flavours.get(resources["flavour"])
            if params is not None:
                errors.extend(
                    device_errors(
                        params,
                        flavour,
                        resources["accelerators_per_node"],
                        list(self.flavours.values()),
                    )
                )
            errors.extend(
                (f"resources.{f}" if f in resources else f, m)
                for f, m in await self.jobs.check_spec(identity, spec_or_none)
            )
        if missing:
            raise Problem.fields(missing + errors, 404)
        if errors:
            raise Problem.fields(errors)
        assert params is not None and model is not None and spec_or_none is not None

        ft_id = new_id("ft")
        config = {
            "params": params.model_dump(mode="json"),
            "model_dir": f"models/{model['name']}",
            "adapter_dir": None,
            "datasets": [self._run_dataset(d) for d in datasets],
            "eval_datasets": [self._run_dataset(d) for d in evals],
            "output_dir": None,
            "checkpoint_dir": None,
            "metrics_file": None,
            "resume": None,
            "evaluate": {"max_samples": None, "max_new_tokens": None},
            "export": {"merge": True},
            "lineage": {"finetune": ft_id, "base": model, "datasets": datasets},
        }
        mounts = [MountSpec(kind="model", name=model["id"], version=model["version"])]
        seen: set[str] = set()
        for d in datasets + evals:
            if d["id"] not in seen:
                seen.add(d["id"])
                mounts.append(MountSpec(kind="dataset", name=d["id"], version=d["version"]))
        spec = spec_or_none.model_copy(update={"command": f"{RUNNER} train", "mounts": mounts})
        job = await self.jobs.submit_spec(
            identity, spec, platform_env={"SXWL_FINETUNE_CONFIG": json.dumps(config)}
        )
        with self.db.session() as session:
            ft = Finetune(
                id=ft_id,
                owner=identity.name,
                name=spec.name,
                job_id=job["id"],
                method=params.method,
                model=model,
                datasets=datasets,
                eval_datasets=evals,
                params=params.model_dump(mode="json"),
                resources=resources,
                message="",
                message_attempt=0,
            )
            session.add(ft)
            session.flush()
        return await self.get(identity, ft_id)

    def _resolve_model(
        self,
        identity: Identity,
        ref: Any,
        version: Any,
        errors: list[tuple[str, str]],
        missing: list[tuple[str, str]],
    ) -> dict[str, Any] | None:
        if not isinstance(ref, str) or not ref.strip():
            errors.append(("model", "is required: the name or id of a model, e.g. sxwl-tiny-llama"))
            return None
        if version is not None and (type(version) is not int or version < 1):
            errors.append(("model_version", "must be a version number (1, 2, ...) or left out"))
            return None
        candidates = [ref.strip()]
        if "/" in ref:  # a hub id from a LLaMA-Factory file: Qwen/Qwen2.5-0.5B-Instruct
            candidates.append(ref.strip().rsplit("/", 1)[-1])
        for i, candidate in enumerate(candidates):
            try:
                info: dict[str, Any] = self.models.resolve_ref(identity, candidate, version)
                return info
            except Problem as e:
                if e.status == 404 and not e.errors and e.detail.startswith("version "):
                    missing.append(("model_version", e.detail))
                    return None
                if e.status == 404 and not e.errors and i + 1 < len(candidates):
                    continue
                if e.status == 404 and not e.errors:
                    missing.append(("model", f"there is no model {ref!r} you can use"))
                else:
                    errors.append(("model_version", e.detail.removeprefix("version: ")))
                return None
        return None

    def _resolve_datasets(
        self,
        identity: Identity,
        raw: Any,
        field: str,
        errors: list[tuple[str, str]],
        missing: list[tuple[str, str]],
        at_least: int,
    ) -> list[dict[str, Any]]:
        raw = [] if raw is None else raw
        if not isinstance(raw, list) or len(raw) > MAX_DATASETS:
            errors.append((field, f"must be a list of at most {MAX_DATASETS} {{name, version}}"))
            return []
        if len(raw) < at_least:
            errors.append((field, "is required: at least one published dataset version"))
            return []
        out: list[dict[str, Any]] = []
        for i, item in enumerate(raw):
            where = f"{field}[{i}]"
            if isinstance(item, str):
                item = {"name": item}
            try:
                ref = DatasetRef.model_validate(item)
            except ValidationError:
                errors.append((where, "must be {name, version?} naming a published dataset"))
                continue
            if ref.version is not None and ref.version < 1:
                errors.append((f"{where}.version", "must be a version number (1, 2, ...)"))
                continue
            try:
                info = self.datasets.resolve_ref(identity, ref.name, ref.version)
            except Problem as e:
                if not e.errors:
                    if e.detail.startswith("version ") and ref.version is not None:
                        missing.append((f"{where}.version", e.detail))
                    else:
                        missing.append((where, f"there is no dataset {ref.name!r} you can use"))
                else:
                    errors.append((where, e.detail.removeprefix("version: ")))
                continue
            with self.db.session() as session:
                ds = session.get(Dataset, info["id"])
                v = session.scalar(
                    select(DatasetVersion).where(
                        DatasetVersion.dataset_id == info["id"],
                        DatasetVersion.number == info["version"],
                    )
                )
                atype = ds.annotation_type if ds is not None else ""
                records = v.records if v is not None else 0
            try:
                check_sft_annotation(atype)
            except ValueError as e:
                errors.append((where, f"{info['name']} is {atype} data: {e}"))
                continue
            out.append({**info, "annotation_type": atype, "records": records})
        return out

    @staticmethod
    def _run_dataset(d: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": d["name"],
            "version": d["version"],
            "annotation_type": d["annotation_type"],
            "path": f"datasets/{d['name']}/data.jsonl",
        }

    def _resources(
        self, raw: Any, name: Any, errors: list[tuple[str, str]]
    ) -> tuple[dict[str, Any], JobSubmit | None]:
        """The resources with defaults, and a job spec built from them (None if invalid)."""
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            errors.append(("resources", "must be an object (see FinetuneResources)"))
            return {}, None
        resources = FinetuneResources.model_validate({}).model_dump()
        for key in sorted(set(raw) - set(resources)):
            errors.append((f"resources.{key}", "is not a resource field; remove it"))
        resources.update({k: v for k, v in raw.items() if k in resources})
        nodes, procs = resources["nodes"], resources["procs_per_node"]
        distributed = type(nodes) is int and type(procs) is int and nodes * procs > 1
        try:
            spec = JobSubmit.model_validate(
                {
                    **resources,
                    "name": name if isinstance(name, str) and NAME_RE.match(name) else "finetune",
                    "command": f"{RUNNER} train",
                    "job_type": (JobType.pytorch if distributed else JobType.single).value,
                }
            )
        except ValidationError as e:
            for err in e.errors():
                loc = ".".join(str(p) for p in err["loc"])
                msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
                errors.append((f"resources.{loc}" if loc else "resources", msg))
            return resources, None
        return {k: getattr(spec, k) for k in resources}, spec

    # -- reading -------------------------------------------------------------------------------

    def _load(self, session: Any, identity: Identity, ft_id: str) -> Finetune:
        ft = session.scalar(select(Finetune).where(Finetune.id == ft_id))
        if ft is None or not identity.can_see(ft.owner):
            raise Problem.not_found(f"fine-tune {ft_id!r}")
        return ft  # type: ignore[no-any-return]

    def _index(self, job_id: str, run_dir: Path) -> MetricsIndex:
        index = self._indexes.get(job_id)
        if index is None:
            index = self._indexes[job_id] = MetricsIndex(run_dir / "metrics.jsonl")
            while len(self._indexes) > 512:
                self._indexes.popitem(last=False)
        else:
            self._indexes.move_to_end(job_id)
        return index

    def _progress_sync(self, indexes: list[MetricsIndex | None]) -> list[dict[str, Any] | None]:
        out: list[dict[str, Any] | None] = []
        for index in indexes:
            if index is None:
                out.append(None)
                continue
            with index.lock:
                index.refresh()
                out.append(index.progress)
        return out

    def _rows_out(self, session: Any, rows: list[Finetune]) -> list[dict[str, Any]]:
        """The API view of fine-tunes, without their progress (filled in by the caller)."""
        ids = [ft.id for ft in rows]
        jobs = {
            j.id: j
            for j in session.scalars(select(Job).where(Job.id.in_([ft.job_id for ft in rows])))
        }
        evals: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        exports: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for ev in session.scalars(
            select(FinetuneEvaluation)
            .where(FinetuneEvaluation.finetune_id.in_(ids))
            .order_by(FinetuneEvaluation.created_at)
        ):
            evals[ev.finetune_id].append(self._eval_out(ev))
        for ex in session.scalars(
            select(FinetuneExport)
            .where(FinetuneExport.finetune_id.in_(ids))
            .order_by(FinetuneExport.created_at)
        ):
            exports[ex.finetune_id].append(self._export_out(ex))
        out = []
        for ft in rows:
            job = jobs.get(ft.job_id)
            if job is None:
                status, message, started, finished, attempt = (
                    "Failed",
                    ft.message or "its training job was deleted",
                    None,
                    None,
                    0,
                )
            else:
                status, started, finished, attempt = (
                    job.status,
                    iso(job.started_at),
                    iso(job.finished_at),
                    job.attempt,
                )
                if status in ("Failed", "TimedOut") and ft.message_attempt == job.attempt:
                    message = ft.message
                else:
                    message = job.message or ""
            waiting = self.jobs.dispatcher.waiting.get(ft.job_id) if status == "Queued" else None
            out.append(
                {
                    "id": ft.id,
                    "name": ft.name,
                    "owner": ft.owner,
                    "status": status,
                    "job_id": ft.job_id,
                    "attempt": attempt,
                    "method": ft.method,
                    "model": ft.model,
                    "datasets": ft.datasets,
                    "eval_datasets": ft.eval_datasets or [],
                    "params": ft.params,
                    "resources": ft.resources,
                    "progress": None,
                    "created_at": iso(ft.created_at),
                    "started_at": started,
                    "finished_at": finished,
                    "message": message,
                    "wait_reason": waiting.reason if waiting else None,
                    "evaluations": evals[ft.id],
                    "exports": exports[ft.id],
                    "_run_dir": job.run_dir if job is not None else None,
                }
            )
        return out

    async def _with_progress(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        indexes = [
            self._index(item["job_id"], Path(item["_run_dir"])) if item["_run_dir"] else None
            for item in items
        ]
        progress = await asyncio.to_thread(self._progress_sync, indexes)
        for item, p in zip(items, progress, strict=True):
            item["progress"] = p
            del item["_run_dir"]
        return items

    async def get(self, identity: Identity, ft_id: str) -> dict[str, Any]:
        with self.db.session() as session:
            items = self._rows_out(session, [self._load(session, identity, ft_id)])
        return (await self._with_progress(items))[0]

    async def list_finetunes(
        self, identity: Identity, all_users: bool = False, limit: int = 200, offset: int = 0
    ) -> dict[str, Any]:
        query = select(Finetune)
        if not (all_users and identity.admin):
            query = query.where(Finetune.owner == identity.name)
        with self.db.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = list(
                session.scalars(query.order_by(Finetune.seq.desc()).limit(limit).offset(offset))
            )
            items = self._rows_out(session, rows)
        return {"items": await self._with_progress(items), "total": total}

    async def metrics(
        self, identity: Identity, ft_id: str, after: int | None, limit: int = MAX_POINTS
    ) -> dict[str, Any]:
        with self.db.session() as session:
            ft = self._load(session, identity, ft_id)
            job = session.scalar(select(Job).where(Job.id == ft.job_id))
            if job is None:
                return {"points": [], "progress": None}
            index = self._index(job.id, Path(job.run_dir))

        def read() -> dict[str, Any]:
            with index.lock:
                index.refresh()
                return {"points": index.points(after, limit), "progress": index.progress}

        return await asyncio.to_thread(read)

    # -- stop, resume, delete ------------------------------------------------------------------

    def _visible(self, identity: Identity, ft_id: str) -> None:
        with self.db.session() as session:
            self._load(session, identity, ft_id)

    def _job_of(self, identity: Identity, ft_id: str) -> tuple[Finetune, Job]:
        with self.db.session() as session:
            ft = self._load(session, identity, ft_id)
            job = session.scalar(select(Job).where(Job.id == ft.job_id))
            if job is None:
                raise Problem(409, "the fine-tune's training job was deleted; create it again")
            return ft, job

    async def stop(self, identity: Identity, ft_id: str) -> dict[str, Any]:
        _, job = self._job_of(identity, ft_id)
        await self.jobs.stop(identity, job.id)
        return await self.get(identity, ft_id)

    async def resume(self, identity: Identity, ft_id: str) -> dict[str, Any]:
        _, job = self._job_of(identity, ft_id)
        if job.status not in ("Stopped", "Failed", "TimedOut"):
            raise Problem(
                409,
                f"the fine-tune is {job.status}; only a stopped, failed or timed-out fine-tune "
                "resumes",
            )
        # Resuming keeps the checkpoints and metrics.jsonl; the runner goes on from the
        # newest checkpoint and the repeated steps replace the old points (MetricsIndex).
        await self.jobs.restart(identity, job.id, {"resume": True})
        return await self.get(identity, ft_id)

    async def delete(self, identity: Identity, ft_id: str) -> None:
        with self.db.session() as session:
            ft = self._load(session, identity, ft_id)
            evals = list(
                session.scalars(
                    select(FinetuneEvaluation).where(FinetuneEvaluation.finetune_id == ft.id)
                )
            )
            exports = list(
                session.scalars(select(FinetuneExport).where(FinetuneExport.finetune_id == ft.id))
            )
            if any(ex.id in self._registering for ex in exports):
                raise Problem(
                    409, "an export is being stored as a model version; delete once it is ready"
                )
            job_ids = [ft.job_id] + [e.job_id for e in evals] + [e.job_id for e in exports]
        for job_id in job_ids:
            with contextlib.suppress(Problem):
                await self.jobs.delete(identity, job_id)
            self._indexes.pop(job_id, None)
        with self.db.session() as session:
            for table in (FinetuneEvaluation, FinetuneExport):
                for row in session.scalars(select(table).where(table.finetune_id == ft_id)):
                    session.delete(row)
            gone = session.scalar(select(Finetune).where(Finetune.id == ft_id))
            if gone is not None:
                session.delete(gone)

    # -- evaluate and export -------------------------------------------------------------------

    def _trained(self, identity: Identity, ft_id: str) -> tuple[Finetune, Job, Path]:
        ft, job = self._job_of(identity, ft_id)
        if job.status != "Succeeded":
            raise Problem(
                409, f"the fine-tune is {job.status}; evaluate or export it once it has succeeded"
            )
        output = Path(job.run_dir) / "volumes" / "model"
        if not output.is_dir() or not any(output.iterdir()):
            raise Problem(409, "the fine-tune succeeded but saved no model; run it again")
        return ft, job, output

    def _follow_up_spec(self, ft: Finetune, job: Job, kind: str, mounts: list[MountSpec]) -> Any:
        """A single-process job on the training job's flavour, for evaluate or export."""
        return JobSubmit.model_validate(
            {
                "name": f"{ft.name[:55]}-{kind}",
                "command": f"{RUNNER} {kind}",
                "job_type": JobType.single.value,
                "flavour": job.flavour,
                "accelerators_per_node": min(job.accelerators_per_node, 1),
                "cpu_per_node": job.cpu_per_node,
                "memory_gb_per_node": job.memory_gb_per_node,
                "queue": job.queue,
                "priority": job.priority,
                "max_run_minutes": job.max_run_minutes,
                "mounts": mounts,
            }
        )

    def _base_config(self, ft: Finetune, output: Path) -> tuple[dict[str, Any], list[MountSpec]]:
        """model_dir/adapter_dir and mounts reading the trained output."""
        if ft.params.get("finetuning_type") == "full":
            return {"model_dir": str(output), "adapter_dir": None}, []
        model = ft.model
        return (
            {"model_dir": f"models/{model['name']}", "adapter_dir": str(output)},
            [MountSpec(kind="model", name=model["id"], version=model["version"])],
        )

    async def evaluate(
        self, identity: Identity, ft_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        self._visible(identity, ft_id)  # a foreign fine-tune is a 404 whatever the body says
        try:
            request = EvaluateRequest.model_validate(body or {})
        except ValidationError as e:
            raise problem_from_validation(e) from None
        ft, job, output = self._trained(identity, ft_id)
        owner = Identity(ft.owner)
        errors: list[tuple[str, str]] = []
        missing: list[tuple[str, str]] = []
        chosen: list[dict[str, Any]] = []
        if request.dataset is not None:
            chosen = self._resolve_datasets(
                owner, [request.dataset.model_dump()], "dataset", errors, missing, 1
            )
            rename = {"dataset[0]": "dataset", "dataset[0].version": "dataset.version"}
            errors = [(rename.get(f, f), m) for f, m in errors]
            missing = [(rename.get(f, f), m) for f, m in missing]
            if missing:
                raise Problem.fields(missing, 404)
            if errors:
                raise Problem.fields(errors)
        elif not ft.params.get("val_size"):
            raise Problem.invalid(
                "dataset",
                "the fine-tune held out no validation split (val_size 0); choose a dataset",
            )
        base, mounts = self._base_config(ft, output)
        datasets = chosen or ft.datasets
        for d in datasets:
            mounts.append(MountSpec(kind="dataset", name=d["id"], version=d["version"]))
        config = {
            "params": ft.params,
            **base,
            "datasets": [] if chosen else [self._run_dataset(d) for d in ft.datasets],
            "eval_datasets": [self._run_dataset(d) for d in chosen],
            "evaluate": {
                "max_samples": request.max_samples,
                "max_new_tokens": request.max_new_tokens,
            },
            "lineage": {"finetune": ft.id},
        }
        ev_id = new_id("ev")
        spec = self._follow_up_spec(ft, job, "evaluate", mounts)
        out_job = await self.jobs.submit_spec(
            owner, spec, platform_env={"SXWL_FINETUNE_CONFIG": json.dumps(config)}
        )
        with self.db.session() as session:
            ev = FinetuneEvaluation(
                id=ev_id,
                finetune_id=ft.id,
                owner=ft.owner,
                job_id=out_job["id"],
                status="running",
                dataset=(
                    {
                        "id": chosen[0]["id"],
                        "name": chosen[0]["name"],
                        "version": chosen[0]["version"],
                    }
                    if chosen
                    else None
                ),
                options=request.model_dump(exclude={"dataset"}),
                message="",
            )
            session.add(ev)
            session.flush()
            return self._eval_out(ev)

    def evaluation(self, identity: Identity, ft_id: str, ev_id: str) -> dict[str, Any]:
        with self.db.session() as session:
            return self._eval_out(self._evaluation(session, identity, ft_id, ev_id))

    def _evaluation(
        self, session: Any, identity: Identity, ft_id: str, ev_id: str
    ) -> FinetuneEvaluation:
        ft = self._load(session, identity, ft_id)
        ev = session.get(FinetuneEvaluation, ev_id)
        if ev is None or ev.finetune_id != ft.id:
            raise Problem.not_found(f"evaluation {ev_id!r}")
        return ev  # type: ignore[no-any-return]

    def predictions_file(self, identity: Identity, ft_id: str, ev_id: str) -> Path:
        with self.db.session() as session:
            ev = self._evaluation(session, identity, ft_id, ev_id)
            job = session.scalar(select(Job).where(Job.id == ev.job_id))
        path = Path(job.run_dir) / "volumes" / "model" / "predictions.jsonl" if job else None
        if path is None or not path.is_file():
            raise Problem.not_found("predictions (the evaluation has not written them yet)")
        return path

    async def export(self, identity: Identity, ft_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._visible(identity, ft_id)
        extra = sorted(set(body or {}) - set(ExportRequest.model_fields))
        if extra:
            raise Problem.fields([(k, "is not a known field; remove it") for k in extra])
        try:
            model_name = catalogue_name(body.get("model_name"), "my-finetuned-model")
        except Problem as e:
            raise Problem.invalid("model_name", e.errors[0]["message"]) from None
        merge = body.get("merge", True)
        if not isinstance(merge, bool):
            raise Problem.invalid("merge", "must be true (merge into the base) or false")
        notes = text_field(body, "notes", 4000)
        ft, job, output = self._trained(identity, ft_id)
        if ft.params.get("finetuning_type") == "full" and not merge:
            raise Problem.invalid(
                "merge", "a full fine-tune has no adapter: it is the whole model; use merge true"
            )
        base, mounts = self._base_config(ft, output)
        config = {
            "params": ft.params,
            **base,
            "datasets": [],
            "eval_datasets": [],
            "export": {"merge": merge},
            "lineage": self._lineage(ft, merge),
        }
        spec = self._follow_up_spec(ft, job, "export", mounts)
        owner = Identity(ft.owner)
        out_job = await self.jobs.submit_spec(
            owner, spec, platform_env={"SXWL_FINETUNE_CONFIG": json.dumps(config)}
        )
        with self.db.session() as session:
            ex = FinetuneExport(
                id=new_id("ex"),
                finetune_id=ft.id,
                owner=ft.owner,
                job_id=out_job["id"],
                status="running",
                merge=merge,
                model_name=model_name,
                notes=notes,
                message="",
            )
            session.add(ex)
            session.flush()
            return self._export_out(ex)

    def _lineage(self, ft: Finetune, merge: bool) -> dict[str, Any]:
        with self.db.session() as session:
            last = session.scalar(
                select(FinetuneEvaluation)
                .where(
                    FinetuneEvaluation.finetune_id == ft.id,
                    FinetuneEvaluation.status == "succeeded",
                )
                .order_by(FinetuneEvaluation.finished_at.desc())
                .limit(1)
            )
            scores = dict(last.scores or {}) if last is not None else None
        return {
            "finetune": ft.id,
            "finetune_name": ft.name,
            "method": ft.method,
            "merged": merge,
            "base": ft.model,
            "datasets": ft.datasets,
            "params": ft.params,
            "scores": scores,
        }

    @staticmethod
    def _eval_out(ev: FinetuneEvaluation) -> dict[str, Any]:
        dataset = ev.dataset
        return {
            "id": ev.id,
            "status": ev.status,
            "job_id": ev.job_id,
            "dataset": {"name": dataset["name"], "version": dataset["version"]}
            if dataset
            else None,
            "scores": ev.scores,
            "message": ev.message,
            "created_at": iso(ev.created_at),
            "finished_at": iso(ev.finished_at),
        }

    @staticmethod
    def _export_out(ex: FinetuneExport) -> dict[str, Any]:
        return {
            "id": ex.id,
            "status": ex.status,
            "job_id": ex.job_id,
            "merge": ex.merge,
            "model_name": ex.model_name,
            "model": ex.model,
            "message": ex.message,
            "created_at": iso(ex.created_at),
            "finished_at": iso(ex.finished_at),
        }

    # -- tensorboard ---------------------------------------------------------------------------

    async def tensorboard_archive(self, identity: Identity, ft_id: str) -> Path:
        """A temporary .tar of the training output's ``runs/``; the caller deletes it."""
        _, job = self._job_of(identity, ft_id)
        runs = Path(job.run_dir) / "volumes" / "model" / "runs"

        def build() -> Path:
            if not runs.is_dir() or not any(p.is_file() for p in runs.rglob("*")):
                raise Problem.not_found("TensorBoard files (none written yet)")
            fd, name = tempfile.mkstemp(suffix=".tar", dir=self.jobs.upload_dir())
            with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w") as tar:
                for path in sorted(runs.rglob("*")):
                    if path.is_file() and not path.is_symlink():
                        tar.add(path, arcname=str(Path("runs") / path.relative_to(runs)))
            return Path(name)

        return await asyncio.to_thread(build)

    # -- the watcher ---------------------------------------------------------------------------

    def start(self) -> None:
        """Watch evaluation and export jobs (and failed fine-tunes) until ``close``."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.jobs.dispatcher.on_finished.append(self._job_finished)
        self._task = self._loop.create_task(self._watch())

    def _job_finished(self, job: Job) -> None:
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                await self.check_finished()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("checking finished fine-tune work failed; retrying")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()

    async def check_finished(self) -> None:
        """Record what ended: evaluation scores, exported model versions, failure reasons."""
        with self.db.session() as session:
            evals = session.execute(
                select(FinetuneEvaluation.id, Job.status, Job.run_dir, Job.attempt, Job.message)
                .outerjoin(Job, Job.id == FinetuneEvaluation.job_id)
                .where(FinetuneEvaluation.status == "running")
            ).all()
            exports = session.execute(
                select(FinetuneExport.id, Job.status, Job.run_dir, Job.attempt, Job.message)
                .outerjoin(Job, Job.id == FinetuneExport.job_id)
                .where(FinetuneExport.status == "running")
            ).all()
            failed = session.execute(
                select(Finetune.id, Job.run_dir, Job.attempt, Job.message).join(
                    Job,
                    and_(
                        Job.id == Finetune.job_id,
                        Job.status.in_(("Failed", "TimedOut")),
                        Job.attempt != Finetune.message_attempt,
                    ),
                )
            ).all()
        for ev_id, status, run_dir, attempt, message in evals:
            if status is None:
                self._finish_eval(ev_id, "failed", None, "its job was deleted")
            elif status == "Succeeded":
                await self._read_scores(ev_id, Path(run_dir))
            elif status in FINAL_STATUSES:
                why = await self._failure(Path(run_dir), attempt, message, status)
                self._finish_eval(ev_id, "failed", None, why)
        for ex_id, status, run_dir, attempt, message in exports:
            if ex_id in self._registering:
                continue
            if status is None:
                self._finish_export(ex_id, "failed", None, "its job was deleted")
            elif status == "Succeeded":
                self._registering.add(ex_id)
                self.work.spawn(self._register(ex_id, Path(run_dir)), f"finetune export {ex_id}")
            elif status in FINAL_STATUSES:
                why = await self._failure(Path(run_dir), attempt, message, status)
                self._finish_export(ex_id, "failed", None, why)
        for ft_id, run_dir, attempt, message in failed:
            why = await self._failure(Path(run_dir), attempt, message, "Failed")
            with self.db.session() as session:
                ft = session.scalar(select(Finetune).where(Finetune.id == ft_id))
                if ft is not None:
                    ft.message, ft.message_attempt = why, attempt

    async def _failure(self, run_dir: Path, attempt: int, message: str, status: str) -> str:
        """Why a job failed, for people: the runner's ``error:`` line or the log's last lines."""
        if status == "Stopped":
            return message or "stopped"
        tail = b""
        offset = 0
        try:
            while chunk := await self.jobs.backend.read_log(run_dir, attempt, offset):
                offset += len(chunk)
                tail = (tail + chunk)[-LOG_TAIL_BYTES:]
        except Exception as e:
            self.log.warning("reading the log of %s failed: %s", run_dir, e)
        lines = [ln.strip() for ln in tail.decode("utf-8", "replace").splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error: " in ln.lower() or ln.lower().startswith("error:")]
        detail = errors[-1] if errors else " | ".join(lines[-3:])
        parts = [p for p in (detail, message) if p]
        return ("; ".join(parts) or f"the job ended {status}")[:2000]

    async def _read_scores(self, ev_id: str, run_dir: Path) -> None:
        path = run_dir / "volumes" / "model" / "eval_results.json"
        try:
            data = json.loads(await asyncio.to_thread(path.read_text, "utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            self._finish_eval(
                ev_id, "failed", None, f"the evaluation wrote no readable scores: {e}"
            )
            return
        scores = {k: data[k] for k in SCORE_KEYS if isinstance(data.get(k), int | float)}
        self._finish_eval(ev_id, "succeeded", scores, "")

    def _finish_eval(
        self, ev_id: str, status: str, scores: dict[str, Any] | None, message: str
    ) -> None:
        with self.db.session() as session:
            ev = session.get(FinetuneEvaluation, ev_id)
            if ev is not None and ev.status == "running":
                ev.status, ev.scores, ev.message = status, scores, message
                ev.finished_at = utcnow()

    def _finish_export(
        self, ex_id: str, status: str, model: dict[str, Any] | None, message: str
    ) -> None:
        with self.db.session() as session:
            ex = session.get(FinetuneExport, ex_id)
            if ex is not None and ex.status == "running":
                ex.status, ex.model, ex.message = status, model, message
                ex.finished_at = utcnow()

    async def _register(self, ex_id: str, run_dir: Path) -> None:
        try:
            with self.db.session() as session:
                ex = session.get(FinetuneExport, ex_id)
                ft = session.scalar(
                    select(Finetune).where(Finetune.id == (ex.finetune_id if ex else ""))
                )
                if ex is None or ft is None:
                    return
                owner, name, notes, merge, job_id = (
                    ex.owner,
                    ex.model_name,
                    ex.notes,
                    ex.merge,
                    ex.job_id,
                )
                lineage = self._lineage(ft, merge)
            root = run_dir / "volumes" / "model"
            detail = {"finetune": lineage["finetune"], "export": ex_id, "job_id": job_id}
            version = await self.models.register_directory(
                Identity(owner), name, root, "finetune", detail, lineage, notes
            )
            self._finish_export(
                ex_id,
                "ready",
                {"id": version["model_id"], "name": name, "version": version["number"]},
                "",
            )
        except asyncio.CancelledError:
            raise
        except Exception as e:
            detail_text = e.detail if isinstance(e, Problem) else f"{type(e).__name__}: {e}"
            self.log.warning("registering export %s failed: %s", ex_id, detail_text)
            self._finish_export(ex_id, "failed", None, f"storing the model failed: {detail_text}")
        finally:
            self._registering.discard(ex_id)
