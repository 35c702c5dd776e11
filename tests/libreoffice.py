"""A real spreadsheet program in the tests: Debian's LibreOffice Calc 7.4, headless, installed by
.ci/libreoffice.sh (make test runs it). Without it the tests that need it skip with the reason;
CI sets TASKFORCE_REQUIRE_LIBREOFFICE=1 and they fail instead.

``convert`` is what a person's "Save as" / "Export as PDF" does; ``pdf_pages`` reads a PDF back a
page at a time (pdftotext, poppler-utils) and ``first_page_png`` keeps a picture of page 1.
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

# One LibreOffice user profile per test process: two soffice processes on one profile refuse to
# start, and a fresh profile costs ~3 s on first start.
_PROFILE = Path(tempfile.gettempdir()) / f"taskforce-lo-profile-{os.getpid()}"
_LOCK = threading.Lock()


def soffice() -> str:
    """The soffice binary, or skip (fail under TASKFORCE_REQUIRE_LIBREOFFICE=1) with the reason."""
    path = shutil.which("soffice")
    if path is None or shutil.which("pdftotext") is None:
        if os.environ.get("TASKFORCE_REQUIRE_LIBREOFFICE") == "1":
            pytest.fail(
                "LibreOffice is required (TASKFORCE_REQUIRE_LIBREOFFICE=1): run .ci/libreoffice.sh"
            )
        pytest.skip("LibreOffice not installed: .ci/libreoffice.sh installs it (make test runs it)")
    return path


def profile_url() -> str:
    """The -env:UserInstallation URL of this process's LibreOffice profile."""
    return _PROFILE.as_uri()


def convert(source: Path, to: str, outdir: Path) -> Path:
    """``soffice --convert-to`` one file; ``to`` is e.g. "pdf", "xlsx", "ods", "xls:MS Excel 97"."""
    binary = soffice()
    outdir.mkdir(parents=True, exist_ok=True)
    args = [binary, f"-env:UserInstallation={profile_url()}", "--headless", "--norestore",
            "--nolockcheck", "--convert-to", to, "--outdir", str(outdir), str(source)]  # fmt: skip
    with _LOCK:
        done = subprocess.run(args, capture_output=True, text=True, timeout=180, check=False)
    produced = outdir / f"{source.stem}.{to.split(':')[0]}"
    if done.returncode != 0 or not produced.exists():
        output = done.stdout + done.stderr
        raise AssertionError(f"soffice --convert-to {to} {source.name} failed: {output}")
    return produced


def pdf_pages(pdf: Path) -> list[str]:
    """The text of each page of a PDF, in layout order."""
    soffice()
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, timeout=60, check=True).stdout  # fmt: skip
    pages = text.split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def first_page_png(pdf: Path, png: Path, dpi: int = 80) -> Path:
    """Page 1 of a PDF as a PNG (pdftoppm), for a person to look at."""
    png.parent.mkdir(parents=True, exist_ok=True)
    args = ["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile",
            str(pdf), str(png.with_suffix(""))]  # fmt: skip
    subprocess.run(args, capture_output=True, timeout=60, check=True)
    return png


def convert_all(sources: list[Path], to: str, outdir: Path) -> list[Path]:
    """``convert`` several files in one soffice start (a start costs ~1.5 s, a file ~0.2 s)."""
    binary = soffice()
    outdir.mkdir(parents=True, exist_ok=True)
    args = [binary, f"-env:UserInstallation={profile_url()}", "--headless", "--norestore",
            "--nolockcheck", "--convert-to", to, "--outdir", str(outdir),
            *(str(s) for s in sources)]  # fmt: skip
    with _LOCK:
        done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    produced = [outdir / f"{s.stem}.{to.split(':')[0]}" for s in sources]
    missing = [p.name for p in produced if not p.exists()]
    if done.returncode != 0 or missing:
        output = done.stdout + done.stderr
        raise AssertionError(f"soffice --convert-to {to} failed for {missing}: {output}")
    return produced


@dataclass(frozen=True)
class PdfWord:
    text: str
    x_min: float
    y_min: float  # points from the top of the page
    x_max: float
    y_max: float


@dataclass(frozen=True)
class PdfPage:
    width: float
    height: float
    words: tuple[PdfWord, ...]


def pdf_words(pdf: Path) -> list[PdfPage]:
    """Each page's size and words with their boxes (pdftotext -bbox), to check where text sits."""
    soffice()
    html = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True,
                          text=True, timeout=60, check=True).stdout  # fmt: skip
    pages: list[PdfPage] = []
    for size, body in re.findall(
        r'<page (width="[\d.]+" height="[\d.]+")>(.*?)</page>', html, flags=re.S
    ):
        width, height = (float(v) for v in re.findall(r"[\d.]+", size))
        words = tuple(
            PdfWord(html_lib.unescape(text), *(float(v) for v in box))
            for *box, text in re.findall(
                r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                r"(.*?)</word>",
                body,
            )
        )
        pages.append(PdfPage(width, height, words))
    return pages


def pdf_raw_pages(pdf: Path) -> list[str]:
    """The text of each page in the order it was drawn (pdftotext -raw): a table's cells come one
    after another, row by row, so a row's text can be looked for whole on a page."""
    soffice()
    text = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True,
                          timeout=60, check=True).stdout  # fmt: skip
    pages = text.split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def page_png(pdf: Path, png: Path, page: int, dpi: int = 80) -> Path:
    """One page of a PDF as a PNG (pdftoppm), for a person to look at."""
    png.parent.mkdir(parents=True, exist_ok=True)
    args = ["pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile",
            str(pdf), str(png.with_suffix(""))]  # fmt: skip
    subprocess.run(args, capture_output=True, timeout=60, check=True)
    return png


# ---------------------------------------------------------------------------------------------
# Calc driven as a person edits a workbook (tests/lo_driver.py, over UNO)

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-uno; the venv's python has no ``uno``
XLSX_FILTER = "Calc MS Excel 2007 XML"
XLS_FILTER = "MS Excel 97"
ODS_FILTER = "calc8"
_DRIVER = Path(__file__).with_name("lo_driver.py")


class Calc:
    """One headless soffice, with its own profile (not ``convert``'s), that opens a workbook,
    makes the edits a person would and saves it in the formats asked for; ``close`` ends it."""

    def __init__(self, workdir: Path) -> None:
        binary = soffice()
        probe = subprocess.run(
            [SYSTEM_PYTHON, "-c", "import uno"], capture_output=True, check=False
        )
        if probe.returncode != 0:
            if os.environ.get("TASKFORCE_REQUIRE_LIBREOFFICE") == "1":
                pytest.fail(f"{SYSTEM_PYTHON} cannot import uno: run .ci/libreoffice.sh")
            pytest.skip(f"{SYSTEM_PYTHON} cannot import uno (python3-uno): .ci/libreoffice.sh")
        workdir.mkdir(parents=True, exist_ok=True)
        profile = (workdir / "lo-driver-profile").as_uri()
        pipe = f"taskforce-calc-{os.getpid()}-{id(self)}"
        self._process = subprocess.Popen(
            [SYSTEM_PYTHON, str(_DRIVER), binary, profile, pipe],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
        )  # fmt: skip
        self._answer("starting soffice")

    def _answer(self, what: str) -> None:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise AssertionError(f"LibreOffice driver ended while {what}")
        answer = json.loads(line)
        if "error" in answer:
            raise AssertionError(f"LibreOffice driver, {what}: {answer['error']}")

    def edit(
        self,
        source: Path,
        save: Sequence[tuple[Path, str]],
        edits: Sequence[tuple[str, str, str, str]] = (),
        meta: Sequence[Sequence[str | int]] = (),
    ) -> None:
        """Open ``source``, apply ``edits`` (sheet, cell, "type"|"pick"|"clear", text) and ``meta``
        changes (see tests/lo_driver.py), and save to each (path, filter name) of ``save``."""
        request = {
            "source": str(source),
            "edits": [list(edit) for edit in edits],
            "meta": [list(change) for change in meta],
            "save": [[str(path), name] for path, name in save],
        }
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(request, ensure_ascii=False) + "\n")
        self._process.stdin.flush()
        self._answer(f"editing {source.name}")

    def close(self) -> None:
        """End soffice and the driver."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


@contextmanager
def calc(workdir: Path) -> Iterator[Calc]:
    """A ``Calc`` for the block (a test module's fixture: one soffice start for its tests)."""
    driver = Calc(workdir)
    try:
        yield driver
    finally:
        driver.close()
