"""The example notebooks run end to end in a real kernel (nbclient) against the real platform."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support import TEST_OUTPUT, Hub

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"

pytestmark = pytest.mark.slow


def run_notebook(
    name: str, hub: Hub, user: str, workdir: Path
) -> tuple[nbformat.NotebookNode, float]:
    """Execute ``notebooks/<name>`` in ``workdir`` as ``user``; return it executed and the time."""
    shutil.copy(NOTEBOOKS / name, workdir / name)
    nb = nbformat.read(workdir / name, as_version=4)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SXWL_", "JUPYTERHUB_"))},
        "SXWL_URL": hub.platform_url,
        "SXWL_TOKEN": hub.token_for(user),
        # Importable from a source checkout as well as from an installed wheel.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    client = NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    start = time.monotonic()
    try:
        client.execute(env=env)
    finally:
        # Keep the executed notebook (outputs, errors) for whoever reads the test report.
        out = TEST_OUTPUT / "notebooks"
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out / name)
    return nb, time.monotonic() - start


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output["text"])
            elif "data" in output:
                parts.append(str(output["data"].get("text/plain", "")))
    return "\n".join(parts)


def test_distributed_training_notebook(hub: Hub, tmp_path: Path) -> None:
    nb, seconds = run_notebook("01-distributed-training.ipynb", hub, "nina", tmp_path)
    text = outputs_text(nb)
    assert "resumed from checkpoint step-" in text
    assert "learned weights:" in text
    assert (tmp_path / "downloaded" / "model.pt").stat().st_size > 0
    widget_views = [
        o
        for cell in nb.cells
        for o in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert len(widget_views) >= 4  # submit, restart, logs and jobs show widgets in a kernel
    # The whole story, kernel start included, fits in a minute on a small machine.
    assert seconds < 90, f"the notebook took {seconds:.0f} s"
    print(f"notebook ran in {seconds:.1f} s")
