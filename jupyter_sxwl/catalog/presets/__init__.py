"""Preset datasets shipped with jupyter_sxwl: small original samples (Apache-2.0) of each
annotation type, for trying fine-tuning and annotation without bringing data.

``presets.json`` lists them (name, file, annotation type, language, description, licence);
every file passes :func:`jupyter_sxwl.catalog.datasets.validate_file` for its type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PRESETS_DIR = Path(__file__).resolve().parent
INDEX = "presets.json"


@dataclass(frozen=True)
class PresetDataset:
    """One preset dataset file and what it holds."""

    name: str
    file: str
    annotation_type: str
    language: str
    description: str
    license: str

    @property
    def path(self) -> Path:
        """Where the file lies in the installed package."""
        return PRESETS_DIR / self.file


def preset_datasets() -> list[PresetDataset]:
    """The preset datasets, in the order ``presets.json`` lists them."""
    entries = json.loads((PRESETS_DIR / INDEX).read_text(encoding="utf-8"))
    return [PresetDataset(**entry) for entry in entries]


def get_preset_dataset(name: str) -> PresetDataset:
    """The preset dataset called ``name``; KeyError naming the presets otherwise."""
    presets = preset_datasets()
    for preset in presets:
        if preset.name == name:
            return preset
    names = ", ".join(p.name for p in presets)
    raise KeyError(f"no preset dataset named {name!r}: choose one of {names}")
