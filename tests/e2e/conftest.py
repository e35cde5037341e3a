"""End-to-end tests: a real JupyterHub, real labs, a real browser.

The ``hub`` and ``make_hub`` fixtures come from tests/conftest.py (implemented in
tests/support.py) so tests outside this folder can use them too. Every test collected here is
marked ``e2e`` so ``pytest -m "not e2e"`` runs the fast part of the suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees every collected item, not only this folder's: filter by path.
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)
