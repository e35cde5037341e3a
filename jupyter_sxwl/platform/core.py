"""The platform's configuration and the objects it wires together.

``SxwlPlatform`` is what ``c.SxwlPlatform.…`` configures. It is used the same way by the
JupyterHub service (``python -m jupyter_sxwl.platform``) and by the server extension when it
hosts the platform in-process without a hub.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from traitlets import Bool, Dict, Float, Integer, List, Type, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from ..scheduler.catalogue import CatalogueError, catalogue_from_config, user_limit_from_json
from ..scheduler.model import Flavour, UserLimit
from ..store.database import Database, open_database
from .dispatch import Dispatcher
from .jobs import JobManager
from .queues import QueueManager


def local_cpu_flavour(virtual_nodes: int = 4) -> dict[str, Any]:
    """A CPU flavour describing this machine.

    The local backend plays ``virtual_nodes`` nodes on one host so that multi-node jobs
    (master + workers) can run; they share its CPUs and memory.
    """
    import psutil

    return {
        "name": "cpu",
        "cpu_per_node": float(os.cpu_count() or 1),
        "memory_gb_per_node": round(psutil.virtual_memory().total / 2**30, 1),
        "nodes": virtual_nodes,
        "distributed_backend": "gloo",
        "description": f"this machine's CPUs, as {virtual_nodes} virtual nodes",
    }


class SxwlPlatform(LoggingConfigurable):
    """Configuration of the platform service."""

    data_dir = Unicode(
        help="""Directory for the platform's state: the SQLite database (by default), job run
        directories (code, checkpoints, saved models, logs) and uploaded code packages.""",
    ).tag(config=True)

    @default("data_dir")
    def _data_dir_default(self) -> str:
        return str(Path(jupyter_data_dir()) / "jupyter_sxwl")

    db_url = Unicode(
        help="""SQLAlchemy URL of the platform database, e.g.
        postgresql+psycopg://sxwl:secret@db/sxwl. Default: a SQLite file in data_dir.""",
    ).tag(config=True)

    @default("db_url")
    def _db_url_default(self) -> str:
        return f"sqlite:///{Path(self.data_dir).resolve() / 'platform.sqlite'}"

    flavours = List(
        Dict(),
        help="""The accelerator catalogue: one dict per kind of node with keys name,
        resource_name (e.g. nvidia.com/gpu, huawei.com/Ascend910), accelerators_per_node,
        cpu_per_node, memory_gb_per_node, nodes, node_labels, tolerations, device_env
        (e.g. CUDA_VISIBLE_DEVICES, ASCEND_RT_VISIBLE_DEVICES), distributed_backend
        (nccl, hccl, gloo), price_per_card_hour and description. Default: one 'cpu' flavour
        describing this machine.""",
    ).tag(config=True)

    @default("flavours")
    def _flavours_default(self) -> list[dict[str, Any]]:
        return [local_cpu_flavour()]

    queues = List(
        Dict(),
        help="""Queues created at first start (admins edit them later in the admin API):
        dicts with name, quotas ({flavour: {accelerators, cpu}}), users (list or None for
        everyone), strategy (BestEffortFIFO or StrictFIFO) and description.""",
    ).tag(config=True)

    @default("queues")
    def _queues_default(self) -> list[dict[str, Any]]:
        return [{"name": "default", "description": "the default queue"}]

    default_user_limit = Dict(
        help="""Per-user ceiling on what running jobs hold at once, for users without their own
        limit: {"max_accelerators": int or None, "max_cpu": float or None}.""",
    ).tag(config=True)

    dispatch_interval = Float(
        1.0, help="Seconds between admission cycles when nothing else triggers one."
    ).tag(config=True)

    start_timeout = Float(
        120.0, help="Seconds an admitted job may take to start before it is marked Failed."
    ).tag(config=True)

    stop_grace_seconds = Float(
        10.0, help="Seconds a stopped job gets to exit after SIGTERM before it is killed."
    ).tag(config=True)

    max_code_package_mb = Integer(200, help="Largest unpacked size of a code package, in MiB.").tag(
        config=True
    )

    max_code_package_files = Integer(20000, help="Most files a code package may hold.").tag(
        config=True
    )

    object_store = Unicode(
        "local",
        help="""Where datasets and models are kept: 'local' (a directory, see
        c.LocalObjectStore.root, default <data_dir>/objects) or 's3' (any S3 endpoint: AWS,
        MinIO, Ceph, SeaweedFS; see c.S3ObjectStore.bucket, endpoint_url, path_style, ...).""",
    ).tag(config=True)

    cache_dir = Unicode(
        help="""Fast local storage for accelerated dataset versions (D6), e.g. an NVMe mount.
        Jobs and mounts use the copy here when there is one. Default: <data_dir>/cache.""",
    ).tag(config=True)

    @default("cache_dir")
    def _cache_dir_default(self) -> str:
        return str(Path(self.data_dir) / "cache")

    max_dataset_upload_gb = Float(
        20.0, help="Largest file (or archive) one dataset upload may send, in GiB."
    ).tag(config=True)

    max_model_upload_gb = Float(
        2.0, help="Largest file (or archive) one model upload may send, in GiB."
    ).tag(config=True)

    max_archive_gb = Float(
        50.0,
        help="""Most bytes an uploaded or downloaded archive may unpack to, in GiB (a zip
        bomb stops at this size).""",
    ).tag(config=True)

    max_archive_ratio = Float(
        200.0,
        help="""Largest ratio of unpacked to packed size an archive may have; beyond it the
        archive is refused as a likely zip bomb.""",
    ).tag(config=True)

    max_archive_files = Integer(100_000, help="Most files an imported archive may hold.").tag(
        config=True
    )

    max_invalid_records = Integer(
        100_000,
        help="""Most invalid records one imported file may have; beyond it the import fails
        and the file must be fixed before importing it again.""",
    ).tag(config=True)

    url_import_allow_private = Bool(
        False,
        help="""Let URL imports reach loopback, private, link-local (e.g. cloud metadata) and
        other non-public addresses. Off by default so users cannot probe the platform's
        network; turn it on only where every user may reach every internal host.""",
    ).tag(config=True)

    url_import_allowed_hosts = List(
        Unicode(),
        help="""Host names or networks (CIDR) URL imports may reach even when they are private,
        e.g. an intranet mirror: ["mirror.internal", "10.1.2.0/24"].""",
    ).tag(config=True)

    url_import_max_gb = Float(50.0, help="Largest download a URL import may fetch, in GiB.").tag(
        config=True
    )

    model_hub_endpoint = Unicode(
        "https://huggingface.co",
        help="""Where preset models are fetched from: huggingface.co or a mirror that speaks
        its API (e.g. https://hf-mirror.com). Downloads follow the URL import rules
        (url_import_allowed_hosts for an intranet mirror).""",
    ).tag(config=True)

    model_hub_token = Unicode(
        "", help="Token for gated preset models on the model hub (sent as a bearer token)."
    ).tag(config=True)

    build_tiny_model = Bool(
        True,
        help="""Build the tiny local Llama (sxwl-tiny-llama) as a preset model version at the
        first start, so fine-tuning and serving can be tried with no download.""",
    ).tag(config=True)

    service_ports = Unicode(
        "20000-20999",
        help="""Ports services may listen on, 'low-high'. A service that names its own port
        must pick one in this range; others get a free one, passed as $SXWL_PORT.""",
    ).tag(config=True)

    @validate("service_ports")
    def _check_service_ports(self, proposal: Any) -> str:
        from .services import parse_port_range

        try:
            parse_port_range(proposal.value)
        except ValueError as e:
            raise ValueError(f"c.SxwlPlatform.service_ports: {e}") from e
        return str(proposal.value)

    service_check_interval = Float(
        5.0,
        help="""Seconds between two checks of running services: processes that exited, idle
        services to put to sleep, request counts to write.""",
    ).tag(config=True)

    service_start_timeout = Float(
        300.0,
        help="Seconds a service may take to answer its health check before it is failed.",
    ).tag(config=True)

    service_wake_timeout = Float(
        120.0,
        help="""Seconds a request to a sleeping (or starting) service waits for it to be
        ready; after that the gateway answers 503.""",
    ).tag(config=True)

    service_standby = Bool(
        True,
        help="""Keep a standby process for each replica of a sleeping LLM service: the libraries
        imported and the tokenizer loaded, but no model weights and no accelerator, so that a
        wake only loads the weights (a fraction of a second for a small model instead of the
        seconds of importing torch). A standby costs CPU memory (a few hundred MB) and is not
        metered. Off: a sleeping service has no process at all and a wake starts it cold.""",
    ).tag(config=True)

    gateway_secret_key = Unicode(
        "",
        help="""Fernet key (urlsafe base64 of 32 bytes) that encrypts the AppSecrets of service
        keys at rest. Default: a key generated at first start in <data_dir>/gateway.key
        (readable by the platform's user only). Set it when several platform processes share
        a database.""",
    ).tag(config=True)

    backend_class = Type(
        default_value="jupyter_sxwl.backends.local.LocalBackend",
        klass=object,
        help="Where admitted jobs run: jupyter_sxwl.backends.local.LocalBackend (processes).",
    ).tag(config=True)

    @validate("flavours")
    def _check_flavours(self, proposal: Any) -> list[dict[str, Any]]:
        try:
            catalogue_from_config(proposal.value)
        except CatalogueError as e:
            raise ValueError(f"c.SxwlPlatform.flavours: {e}") from e
        return list(proposal.value)

    # -- wiring ------------------------------------------------------------------------------

    db: Database
    dispatcher: Dispatcher
    jobs: JobManager
    queue_manager: QueueManager
    catalogue: dict[str, Flavour]
    default_limit: UserLimit

    def make_store(self) -> Any:
        """The configured object store (local root defaults to <data_dir>/objects)."""
        from ..storage import make_object_store

        traits: dict[str, Any] = {}
        if self.object_store.strip().lower() == "local":
            configured = self.config.get("LocalObjectStore", {}).get("root")
            if not configured:
                traits["root"] = str(Path(self.data_dir).resolve() / "objects")
        return make_object_store(self.object_store, parent=self, **traits)

    def setup(self) -> None:
        """Open the store, create the managers; call ``start`` from the event loop after."""
        from ..catalog.archives import ArchiveLimits
        from ..catalog.fetch import FetchPolicy
        from .datasets import DatasetManager
        from .finetunes import FinetuneManager
        from .model_repo import ModelRepository
        from .operations import BackgroundWork
        from .shares import ShareManager
        from .uploads import UploadManager

        data_dir = Path(self.data_dir).resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.catalogue = catalogue_from_config(self.flavours)
        self.default_limit = user_limit_from_json(self.default_user_limit)
        self.db = open_database(self.db_url)
        backend: Any = self.backend_class(parent=self)  # type: ignore[operator]
        self.backend = backend
        self.dispatcher = Dispatcher(
            self.db,
            backend,
            self.catalogue,
            self.default_limit,
            interval=self.dispatch_interval,
            start_timeout=self.start_timeout,
            log=self.log,
            code_dir=data_dir / "code-packages",
        )
        self.jobs = JobManager(
            self.db,
            backend,
            self.dispatcher,
            self.catalogue,
            data_dir,
            self.default_limit,
            max_code_bytes=self.max_code_package_mb << 20,
            max_code_files=self.max_code_package_files,
            stop_grace_seconds=self.stop_grace_seconds,
        )
        self.queue_manager = QueueManager(
            self.db, self.dispatcher, self.catalogue, self.default_limit
        )
        self.queue_manager.seed(self.queues)
        self.store = self.make_store()
        self.work = BackgroundWork(self.db, self.log)
        self.shares = ShareManager(self.db)
        self.uploads = UploadManager(
            self.db,
            data_dir / "uploads",
            {
                "dataset": int(self.max_dataset_upload_gb * 2**30),
                "model": int(self.max_model_upload_gb * 2**30),
            },
        )
        self.datasets = DatasetManager(
            self.db,
            self.store,
            self.work,
            self.shares,
            self.uploads,
            data_dir,
            Path(self.cache_dir).resolve(),
            FetchPolicy(
                allow_private=self.url_import_allow_private,
                allowed_hosts=tuple(self.url_import_allowed_hosts),
                max_bytes=int(self.url_import_max_gb * 2**30),
            ),
            ArchiveLimits(
                max_total_bytes=int(self.max_archive_gb * 2**30),
                max_files=self.max_archive_files,
                max_ratio=self.max_archive_ratio,
            ),
            max_invalid=self.max_invalid_records,
        )
        self.models = ModelRepository(
            self.db,
            self.store,
            self.work,
            self.shares,
            self.uploads,
            data_dir,
            self.datasets.fetch_policy,
            self.datasets.archive_limits,
            hub_endpoint=self.model_hub_endpoint,
            hub_token=self.model_hub_token or None,
        )
        self.jobs.mount_resolvers = {
            "dataset": self.datasets.resolve_ref,
            "model": self.models.resolve_ref,
        }
        self.dispatcher.materialisers = {
            "dataset": self.datasets.materialise,
            "model": self.models.materialise,
        }
        self.finetunes = FinetuneManager(
            self.db,
            self.jobs,
            self.datasets,
            self.models,
            self.work,
            self.catalogue,
            log=self.log,
        )
        from .gateway import KeyRing
        from .services import ServiceManager, parse_port_range

        fernet_key = (
            self.gateway_secret_key.encode()
            if self.gateway_secret_key
            else KeyRing.load_or_create_key(data_dir / "gateway.key")
        )
        self.services = ServiceManager(
            self.db,
            backend,
            self.models,
            self.dispatcher,
            data_dir,
            KeyRing(self.db, fernet_key),
            ports=parse_port_range(self.service_ports),
            check_interval=self.service_check_interval,
            start_timeout=self.service_start_timeout,
            wake_timeout=self.service_wake_timeout,
            standby=self.service_standby,
            stop_grace_seconds=self.stop_grace_seconds,
            log=self.log,
        )
        self.work.mark_interrupted()
        self.datasets.mark_interrupted()
        self.models.mark_interrupted()

    def start(self) -> None:
        self.dispatcher.start()
        self.finetunes.start()
        self.services.start()
        self.work.spawn(self.datasets.seed_presets(), "preset datasets")
        if self.build_tiny_model:
            self.work.spawn(self.models.seed_presets(), "preset models")

    async def close(self, stop_services: bool = False) -> None:
        await self.services.close(stop_services)
        await self.finetunes.close()
        await self.work.close()
        await self.dispatcher.close()
        self.db.dispose()

    def flavour_list(self) -> list[dict[str, Any]]:
        return [
            {
                "name": f.name,
                "resource_name": f.resource_name,
                "accelerators_per_node": f.accelerators_per_node,
                "cpu_per_node": f.cpu_per_node,
                "memory_gb_per_node": f.memory_gb_per_node,
                "nodes": f.nodes,
                "price_per_card_hour": f.price_per_card_hour,
                "description": f.description,
            }
            for f in self.catalogue.values()
        ]
