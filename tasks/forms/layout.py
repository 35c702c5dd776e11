"""Where a unit's form for a cycle lives on disk."""

from __future__ import annotations

from pathlib import Path

from config.settings import Settings


def form_path(settings: Settings, policy: str, obligation: str, period: str, unit: str) -> Path:
    """The path of a unit's form for one obligation and period, under the var directory."""
    return settings.var_dir / "forms" / policy / obligation / period / f"{unit}.xlsx"
