"""The wheel carries every module of the four packages, and each imports from the wheel alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.helpers import ROOT

PACKAGES = ("flows", "tasks", "models", "config")


def _modules_in_tree() -> set[str]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }


def test_wheel_holds_and_imports_every_module(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: building in place would leave build/ in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("taskforce-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)

    in_wheel = {n.removesuffix(".py").replace("/", ".") for n in names if n.endswith(".py")}
    expected = _modules_in_tree()
    assert expected - in_wheel == set(), "modules the wheel drops"
    assert "config/policies/lingchuan-2023.yaml" in names  # package data

    # A __main__ module runs the command line when imported: it is checked present, not run.
    # Alembic's env.py runs the migrations when Alembic loads it, inside its own context.
    modules = sorted(
        m.removesuffix(".__init__")
        for m in expected
        if not m.endswith("__main__") and m != "models.migrations.env"
    )
    script = (
        "import importlib, sys\n"
        f"site = {str(site)!r}\n"
        "for name in sys.argv[1:]:\n"
        "    module = importlib.import_module(name)\n"
        "    assert module.__file__.startswith(site), (name, module.__file__)\n"
    )
    imported = subprocess.run(
        [sys.executable, "-c", script, *modules],
        cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
