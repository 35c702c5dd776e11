"""The 月度通报 as a print-ready PDF: the HTML bulletin laid out on A4 by WeasyPrint.

WeasyPrint implements CSS Paged Media (the ``@page`` footer with 第 N 页 共 M 页, rows kept whole,
header rows repeated) in-process on Pango, with no browser to start. Chinese needs a font that
covers it: without one every character would come out as an empty box (tofu), so no PDF is made
and the reason is returned for the leaders' mail and the office's run log to say.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# What fontconfig must find for the bulletin to print in Chinese.
CJK_PATTERN = b":lang=zh-cn"
# The reason goes to the leaders (short); the remedy to the office's log and the command's output.
NO_CJK_FONT = "本机未安装中文字体"
NO_FONTCONFIG = "本机缺少 fontconfig 字体库"
NO_PANGO = "本机缺少排版库 Pango"
FONT_REMEDY = "请安装中文字体：以 root 运行 .ci/fonts.sh，或 apt-get install fonts-noto-cjk"
PANGO_REMEDY = "请安装 Pango：apt-get install libpango-1.0-0 libpangoft2-1.0-0"


@dataclass(frozen=True)
class Pdf:
    """A rendered PDF, or why there is none (``missing``: for the leaders' mail) and what the
    office can do about it (``remedy``: for the run log and the command's output)."""

    data: bytes | None
    missing: str = ""
    remedy: str = ""


class _FcFontSet(ctypes.Structure):
    _fields_ = [("nfont", ctypes.c_int), ("sfont", ctypes.c_int), ("fonts", ctypes.c_void_p)]


def _fontconfig() -> ctypes.CDLL | None:
    for name in (ctypes.util.find_library("fontconfig"), "libfontconfig.so.1"):
        if name:
            try:
                return ctypes.CDLL(name)
            except OSError:
                continue
    return None


def cjk_fonts() -> int:
    """How many installed fonts cover Simplified Chinese, as fontconfig (which Pango uses) sees
    them: the library rather than ``fc-list``, which a machine with Pango may lack. -1 when
    there is no fontconfig at all."""
    fc = _fontconfig()
    if fc is None:
        return -1
    fc.FcNameParse.restype = ctypes.c_void_p
    fc.FcNameParse.argtypes = [ctypes.c_char_p]
    fc.FcObjectSetBuild.restype = ctypes.c_void_p
    fc.FcFontList.restype = ctypes.POINTER(_FcFontSet)
    fc.FcFontList.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    fc.FcFontSetDestroy.argtypes = [ctypes.POINTER(_FcFontSet)]
    fc.FcObjectSetDestroy.argtypes = [ctypes.c_void_p]
    fc.FcPatternDestroy.argtypes = [ctypes.c_void_p]
    if not fc.FcInit():
        return -1
    pattern = fc.FcNameParse(CJK_PATTERN)
    objects = fc.FcObjectSetBuild(b"family", None)
    fonts = fc.FcFontList(None, pattern, objects)
    try:
        return int(fonts.contents.nfont) if fonts else 0
    finally:
        if fonts:
            fc.FcFontSetDestroy(fonts)
        fc.FcObjectSetDestroy(objects)
        fc.FcPatternDestroy(pattern)


def cjk_font_problem() -> str:
    """Why this machine cannot print the bulletin in Chinese (NO_CJK_FONT, NO_FONTCONFIG), or
    "" when it can."""
    count = cjk_fonts()
    if count < 0:
        return NO_FONTCONFIG
    return NO_CJK_FONT if count == 0 else ""


def bulletin_pdf(html: str) -> Pdf:
    """The bulletin's HTML as an A4 PDF, or no PDF and why (no Chinese font, no Pango)."""
    problem = cjk_font_problem()
    if problem:
        return Pdf(None, problem, FONT_REMEDY)
    try:
        from weasyprint import HTML  # loads Pango through cffi: fails without it
    except OSError as exc:
        logger.warning("WeasyPrint 无法加载 Pango：%s", exc)
        return Pdf(None, NO_PANGO, PANGO_REMEDY)
    # WeasyPrint warns of every CSS property meant for browsers only (print-color-adjust, ...).
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    try:
        data = HTML(string=html).write_pdf()
    except Exception as exc:  # a layout bug must not hold back the bulletin and its mail
        logger.exception("WeasyPrint 生成通报PDF出错")
        remedy = f"请将运行日志中的错误（{type(exc).__name__}）反馈给维护人员"
        return Pdf(None, "PDF排版出错", remedy)
    assert data is not None  # no target given: the bytes come back
    return Pdf(data)
