"""Render notice mails (subject, plain text, HTML) from a notice context with Jinja2.

The templates live in ``templates/mail/``: ``<kind>.subject.txt``, ``<kind>.txt`` and
``<kind>.html`` per notice kind, sharing partials and macros. ``templates/README.md`` documents
the context every kind needs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)

from config.errors import RenderError
from config.schema import MEASURE_NUMBER
from tasks.calendar import SHANGHAI, format_day
from tasks.cycles import report_title
from tasks.text import clean_line

logger = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

KINDS = (
    "opening",
    "reminder",
    "last_day",
    "overdue",
    "receipt",
    "rejection",
    "quarantine",
    "oversize",
    "escalation",
    "bulletin",
    "delivery_failures",
)

_CN_DIGITS = "零一二三四五六七八九"


@dataclass(frozen=True)
class RenderedMail:
    """One notice, rendered: a one-line subject and the two bodies of a multipart mail."""

    subject: str
    text: str
    html: str


def _local(value: datetime) -> datetime:
    """An aware moment in Asia/Shanghai; a naive one is refused, its zone would be a guess."""
    if not isinstance(value, datetime):
        raise TypeError(f"not a datetime: {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: a moment must carry its zone")
    return value.astimezone(SHANGHAI)


def local_date(value: date) -> date:
    """The Asia/Shanghai calendar day of an aware datetime; a date stays as it is."""
    if isinstance(value, datetime):
        return _local(value).date()
    if isinstance(value, date):
        return value
    raise TypeError(f"not a date: {value!r}")


def cn_date(value: date, weekday: bool = True) -> str:
    """2023年3月3日（星期五）; ``weekday=False`` gives 2023年3月3日, as a letter is dated."""
    day = local_date(value)
    return format_day(day) if weekday else f"{day.year}年{day.month}月{day.day}日"


def cn_time(value: datetime) -> str:
    """The local time of an aware moment as notices write it: 9:00, 23:59."""
    local = _local(value)
    return f"{local.hour}:{local.minute:02d}"


def cn_datetime(value: datetime) -> str:
    """An aware moment in local time: 2023年3月3日（星期五）23:59."""
    return f"{format_day(_local(value).date())}{cn_time(value)}"


def num(value: float | int | Decimal) -> str:
    """A target value without float noise: 160.0 → 160, 4.5 → 4.5, 1e6 → 1000000."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise TypeError(f"not a number: {value!r}")
    # repr() is the shortest round-tripping form, so 0.1 stays 0.1; normalize() drops ".0".
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    text = format(exact.normalize(), "f")
    return "0" if text == "-0" else text


def cn_number(value: int) -> str:
    """1 → 一, 10 → 十, 14 → 十四, 20 → 二十: for （一）（二） numbering, up to 99."""
    if not 0 < value < 100:
        raise ValueError(f"cn_number only counts 1-99, got {value}")
    tens, ones = divmod(value, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else f"{_CN_DIGITS[tens]}十")
    return head + (_CN_DIGITS[ones] if ones else "")


def article(number: str) -> str:
    """A measure number as the notice cites it: 19 → 第19条, 26(3) → 第26条第（3）项."""
    match = MEASURE_NUMBER.match(number)
    if match is None:
        raise ValueError(f"not a measure number: {number!r}")
    if match["item"]:
        return f"第{match['parent']}条第（{match['item']}）项"
    return f"第{match['parent']}条"


# ---------------------------------------------------------------------------------------------
# Markdown escaping (GitHub-flavoured, also what Prefect renders)

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~&])")
_MD_LINE_START = re.compile(r"^(\d+)([.)])|^([-+=])")
# GFM turns a bare http://…, www.… or a@b.cn into a link (Prefect's renderer does): an escaped
# ":", "." or "@" reads the same and links nowhere, so text from outside never becomes a link.
_MD_AUTOLINK = re.compile(r"(?i)(?<=[a-z])(:)(?=//)|(?<=\bwww)(\.)|(@)")


def _md_escape_line(line: str) -> str:
    line = _MD_SPECIAL.sub(r"\\\1", clean_line(line).strip())
    line = _MD_AUTOLINK.sub(lambda m: "\\" + m[0], line)
    return _MD_LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", line)


def md_cell(value: Any) -> str:
    """A table cell or inline text: markup and ``|`` escaped, lines joined by a space."""
    lines = [_md_escape_line(part) for part in str(value).splitlines()]
    return " ".join(part for part in lines if part)


def md_text(value: Any, indent: int = 0) -> str:
    """A paragraph that may span lines: each line escaped, hard line breaks, indented to fit
    under a list marker of ``indent`` characters."""
    lines = [_md_escape_line(part) for part in str(value).splitlines()]
    lines = [part for part in lines if part]
    return ("\\\n" + " " * indent).join(lines)


def make_environment(directory: Path | None = None) -> Environment:
    """The one Jinja2 environment for notice mails: autoescaped HTML, strict about missing keys."""
    env = Environment(
        loader=FileSystemLoader(directory or TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "htm", "xml", "html.j2"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        cn_date=cn_date,
        cn_datetime=cn_datetime,
        cn_time=cn_time,
        num=num,
        cn_number=cn_number,
        article=article,
        local_date=local_date,
        md_cell=md_cell,
        md_text=md_text,
    )
    # The one place a period label and an obligation's name become a report's title.
    env.globals["report_title"] = report_title
    return env


@cache
def shared_environment() -> Environment:
    """The environment over templates/, built once per process: compiling is the slow part."""
    return make_environment()


def render_report(name: str, **context: Any) -> str:
    """One of the office's run reports (``templates/reports/<name>``) from its context."""
    return shared_environment().get_template(f"reports/{name}").render(**context)


def _location(env: Environment, exc: BaseException, fallback: str) -> tuple[str, int | None]:
    """The template and line an error arose in: Jinja rewrites tracebacks to template lines."""
    if isinstance(exc, TemplateSyntaxError):
        return exc.name or fallback, exc.lineno
    roots = [Path(p) for p in getattr(env.loader, "searchpath", [])]
    where: tuple[str, int | None] = (fallback, None)
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        file = Path(tb.tb_frame.f_code.co_filename)
        for root in roots:
            # A partial's frame is deeper than its includer's: the last one seen is the culprit.
            if file.is_relative_to(root):
                where = (file.relative_to(root).as_posix(), tb.tb_lineno)
        tb = tb.tb_next
    return where


def _render(env: Environment, name: str, context: Mapping[str, Any]) -> str:
    """Render one template; every failure becomes a RenderError naming template and line."""
    try:
        return env.get_template(name).render(context)
    except TemplateNotFound as exc:
        raise RenderError(name, f"找不到模板文件 {exc.name}") from exc
    except (TemplateError, ValueError, TypeError) as exc:
        # ValueError/TypeError come from the filters: a naive datetime, a non-number target.
        template, line = _location(env, exc, name)
        raise RenderError(template, f"{type(exc).__name__}: {exc}", line) from exc


def _one_line(subject: str) -> str:
    """A subject is one header line: join what the template spread over lines, trim it."""
    return " ".join(part.strip() for part in subject.splitlines() if part.strip())


def render_notice(env: Environment, context: Mapping[str, Any]) -> RenderedMail:
    """Render a notice's subject, text and HTML body; ``context["kind"]`` picks the templates."""
    kind = context.get("kind")
    if kind not in KINDS:
        raise RenderError(
            f"mail/{kind}.*", f"未知的通知类型 {kind!r}；应为 {'、'.join(KINDS)} 之一"
        )
    subject = _one_line(_render(env, f"mail/{kind}.subject.txt", context))
    if not subject:
        raise RenderError(f"mail/{kind}.subject.txt", "主题为空")
    # The bodies may show the subject (the HTML <title>).
    full = {**context, "subject": subject}
    text = _render(env, f"mail/{kind}.txt", full)
    html = _render(env, f"mail/{kind}.html", full)
    logger.debug("已生成 %s 邮件：%s", kind, subject)
    return RenderedMail(subject=subject, text=text, html=html)
