"""ipywidgets for jobs: a jobs table, a live job status and a log view.

The ``%sxwl`` magics show them in a kernel; they can be used directly too::

    from jupyter_sxwl import Client
    from jupyter_sxwl.widgets import JobsTable, JobStatus, LogView
    JobsTable(Client())
"""

from __future__ import annotations

from .job_status import JobStatus
from .jobs_table import JobsTable
from .log_view import LogView

__all__ = ["JobStatus", "JobsTable", "LogView"]
