"""ipywidgets for jobs (a jobs table, a live job status, a log view), the catalogue (datasets
and models tables), fine-tunes (a live view with the loss curve, a table), services (a table,
a streamed chat answer) and long transfers (a progress bar).

The ``%sxwl`` magics show them in a kernel; they can be used directly too::

    from jupyter_sxwl import Client
    from jupyter_sxwl.widgets import DatasetsTable, JobsTable, JobStatus, LogView
    JobsTable(Client())
"""

from __future__ import annotations

from .catalog_tables import DatasetsTable, ModelsTable
from .finetune_view import FinetunesTable, FinetuneView
from .job_status import JobStatus
from .jobs_table import JobsTable
from .log_view import LogView
from .progress_bar import ProgressBar
from .services import ChatAnswer, ServicesTable

__all__ = [
    "ChatAnswer",
    "DatasetsTable",
    "FinetuneView",
    "FinetunesTable",
    "JobStatus",
    "JobsTable",
    "LogView",
    "ModelsTable",
    "ProgressBar",
    "ServicesTable",
]
