"""Draft a policy config from the text of a county notice (``taskforce policy import``).

The pipeline is plain functions: paragraphs (text) → body cut from front matter and annex →
section tree and measures (sections) → responsibility brackets (units) → targets and
deadlines (targets) → obligations, metadata and task force (obligations). The result
is a dict in the schema of ``config/schema.py`` plus a ``review`` list of everything a person must
decide; the draft is validated against the schema so that the office starts from a loadable file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from config.errors import ConfigError
from config.loading import load_units
from config.schema import ASCII_CODE, Policy, UnitsDirectory
from tasks.policy_import.obligations import (
    Meta,
    ObligationDraft,
    TaskForceDraft,
    find_meta,
    find_obligations,
    find_task_force,
    obligation_code,
    obligation_dict,
)
from tasks.policy_import.sections import Body, MeasureNode, body_range, parse_body
from tasks.policy_import.targets import TargetDraft, find_deadline, find_targets
from tasks.policy_import.text import compact, read_document
from tasks.policy_import.units import UnitNames, find_bracket, parse_units, resolve_units


@dataclass
class ImportResult:
    """The draft policy and what the CLI summarises."""

    policy: dict[str, Any]
    body: Body
    review: list[str]
    unknown_units: list[str]
    valid: bool
    counts: dict[str, int] = field(default_factory=dict)

    def to_yaml(self) -> str:
        header = (
            "# 由 taskforce policy import 生成的草稿：请逐项核对，review 中的事项须由办公室决定。\n"
        )
        return header + yaml.dump(
            self.policy, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000
        )


class _Dumper(yaml.SafeDumper):
    """No &id001 anchors: the office edits the file, and a shared date must read as a date."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def find_units_directory(county: str, units_dir: Path) -> tuple[str, UnitsDirectory] | None:
    """The units directory whose county is the notice's county."""
    for file in sorted(units_dir.glob("*.yaml")):
        directory = load_units(file)
        if county and directory.county == county:
            return file.stem, directory
    return None


def load_units_directory(name: str, units_dir: Path) -> UnitsDirectory:
    """A units directory by name; a missing one is the user's error."""
    file = units_dir / f"{name}.yaml"
    if not file.exists():
        known = "、".join(sorted(p.stem for p in units_dir.glob("*.yaml"))) or "无"
        raise ConfigError(file, "", f"找不到单位目录（已有：{known}）")
    return load_units(file)


_ENDS_PARAGRAPH = tuple("。：:；;）)〕]！？")
_STARTS_PARAGRAPH = re.compile(
    r"^(?:[一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[)）]|\d+[.．、])"
)


def join_broken(paragraphs: list[str]) -> list[str]:
    """Join a paragraph to the next when a page break cut it mid-sentence (annex text)."""
    out: list[str] = []
    for paragraph in (compact(p) for p in paragraphs):
        if out and not out[-1].endswith(_ENDS_PARAGRAPH) and not _STARTS_PARAGRAPH.match(paragraph):
            out[-1] += paragraph
        else:
            out.append(paragraph)
    return out


def county_of(issuer: str) -> str:
    match = re.match(r"^(.{1,8}?[县市区旗])", issuer)
    return match[1] if match else ""


def _active_end(title: str, issued: date) -> tuple[date, str]:
    years = [int(y) for y in re.findall(r"(\d{4})年", title)]
    year = max(years) if years else issued.year
    return date(year, 12, 31), (
        f"有效期按标题中的{year}年推定为{issued.isoformat()}～{year}-12-31，请确认"
        if years
        else f"有效期原文未写，推定为印发日期{issued.isoformat()}至当年年底，请确认"
    )


def _body_review(body: Body) -> list[str]:
    """What the section tree and measure numbering leave for a person to check."""
    review: list[str] = []
    if body.renumbered:
        review.append(
            "原文各部分分别从1编号，措施编号已按全文顺序连续编排（与原文编号不同），请核对"
        )
    if not body.measures:
        review.append("未识别出编号措施（1. / 1、），请检查原文格式")
    return review


def _sections(
    body: Body, issued: date, active_end: date
) -> tuple[list[dict[str, Any]], dict[str, str], list[str]]:
    """The section entries, the group code given to each group name, and what to review."""
    group_codes: dict[str, str] = {}
    sections: list[dict[str, Any]] = []
    review: list[str] = []
    for node in body.sections:
        section: dict[str, Any] = {"id": node.id, "title": node.title}
        if node.parent:
            section["parent"] = node.parent
        if node.group:
            code_ = group_codes.setdefault(node.group, f"group-{len(group_codes) + 1}")
            section["group"] = code_
        if node.text:
            section["note"] = f"章节正文（非编号措施）：{node.text}"
            for target in find_targets(node.text, issued, active_end):
                review.append(
                    f"章节{node.id}有量化目标“{target.metric}{target.value:g}{target.unit}”，"
                    "不是编号措施，schema 只在措施上有 targets，请决定如何跟踪"
                )
        sections.append(section)
    return sections, group_codes, review


def _measure_units(
    node: MeasureNode, names: UnitNames
) -> tuple[str, list[dict[str, str]], list[str], list[str]]:
    """The measure's text without its responsibility bracket, its unit references, the names
    the directory lacks, and what to review."""
    bracket = find_bracket(node.body, names)
    if bracket is None:
        # A sub-measure (26(3)) inherits its parent's units: only a top measure lacks them.
        if node.parent_number is None:
            return node.body, [], [], [f"第{node.number}条：未找到责任单位，请补填"]
        return node.body, [], [], []
    text = (node.body[: bracket.start] + node.body[bracket.end :]).strip()
    resolved = resolve_units(parse_units(bracket.content), names)
    refs = [{"unit": n, "role": r.value} for n, r in resolved.refs]
    review = [f"第{node.number}条：{note}" for note in resolved.notes]
    review += [
        f"第{node.number}条：单位“{name}”不在单位目录中，请添加或更正" for name in resolved.unknown
    ]
    if bracket.end < len(node.body.rstrip()) and bracket.labelled:
        tail = node.body[bracket.end :].strip()
        if tail:
            review.append(f"第{node.number}条：责任单位括号后还有文字“{tail[:20]}”，请核对")
    return text, refs, list(resolved.unknown), review


def _target_entry(target: TargetDraft) -> dict[str, Any]:
    """A measure's target as the schema writes it."""
    entry: dict[str, Any] = {
        "metric": target.metric,
        "value": int(target.value) if target.value.is_integer() else target.value,
        "unit": target.unit,
        "direction": target.direction,
        "due": target.due,
        "due_phrase": target.due_phrase,
    }
    if target.starts is not None:
        entry["starts"] = target.starts
    if target.resolution:
        entry["resolution"] = target.resolution
    return entry


def _target_review(number: str, target: TargetDraft, issued: date, active_end: date) -> list[str]:
    """What to check about one target: its parse, and a due date outside the policy's period."""
    review = [f"第{number}条目标“{target.metric}”：{r}" for r in target.review]
    if not issued <= target.due <= active_end:
        review.append(
            f"第{number}条目标“{target.metric}”期限{target.due}（{target.due_phrase}）"
            "不在政策有效期内：请核对解析，或填写 outside_period_reason"
        )
    return review


def _measure(
    node: MeasureNode, names: UnitNames, issued: date, active_end: date
) -> tuple[dict[str, Any], list[str], list[str]]:
    """One measure's entry, the unit names the directory lacks, and what to review."""
    text, refs, unknown, review = _measure_units(node, names)
    title = text.split("。")[0] if "。" in text else text
    measure: dict[str, Any] = {
        "number": node.number,
        "section": node.section,
        "title": title,
        "text": text,
        "units": refs,
    }
    targets = find_targets(text, issued, active_end)
    if targets:
        measure["targets"] = [_target_entry(target) for target in targets]
    for target in targets:
        review += _target_review(node.number, target, issued, active_end)
    deadline = find_deadline(text, issued, [t.span for t in targets])
    if deadline is not None:
        measure["deadline"] = deadline.due
        measure["deadline_phrase"] = deadline.phrase
        if deadline.review:
            review.append(f"第{node.number}条：{deadline.review}")
    return measure, unknown, review


def _add_unknown(unknown: list[str], names: list[str]) -> list[str]:
    """``unknown`` followed by the names it does not hold yet, first mention first."""
    return unknown + [name for name in dict.fromkeys(names) if name not in unknown]


def _measures(
    body: Body, names: UnitNames, issued: date, active_end: date
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The measure entries, the unit names the directory lacks, and what to review."""
    measures: list[dict[str, Any]] = []
    unknown: list[str] = []
    review: list[str] = []
    for node in body.measures:
        measure, measure_unknown, measure_review = _measure(node, names, issued, active_end)
        measures.append(measure)
        unknown = _add_unknown(unknown, measure_unknown)
        review += measure_review
    undated = [
        m["number"]
        for m in measures
        if any(t["due_phrase"].startswith("（") for t in m.get("targets", []))
    ]
    if undated:
        review.append(
            f"第{'、'.join(undated)}条的量化目标原文未写时限，按政策期末{active_end}记录，请确认"
        )
    return measures, unknown, review


def _obligation_blocks(body: Body, annex: list[str]) -> list[str]:
    """The texts obligations are read from."""
    # Whole measures and joined annex paragraphs, so that a reporting sentence split by a page
    # break is read as one.
    blocks = [s.text for s in body.sections if s.text]
    blocks += [m.body for m in body.measures]
    blocks += join_broken(annex)
    return blocks


def _obligations(
    drafts: list[ObligationDraft], names: UnitNames, issued: date, active_end: date
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The obligation entries, the recipients the directory lacks, and what to review."""
    obligations: list[dict[str, Any]] = []
    unknown: list[str] = []
    review: list[str] = []
    for index, draft in enumerate(drafts, 1):
        obligations.append(
            obligation_dict(draft, obligation_code(draft, index), (issued, active_end))
        )
        review += [f"报送事项“{draft.name}”：{r}" for r in draft.review]
        unknown += [label for label in draft.recipients if not names.knows(label)]
    if not obligations:
        review.append(
            "未识别出报送义务（每周X前、每月N日前、每季度结束后N日内、每年N月N日前、"
            "N月N日前…报送），请补填 obligations"
        )
    return obligations, unknown, review


def _office(force: TaskForceDraft, mailbox: str) -> dict[str, Any]:
    """The task force's office entry; ``mailbox`` is where the system receives replies."""
    office: dict[str, Any] = {"name": force.office_name, "unit": force.office_unit or "（待填）"}
    if force.room:
        office["room"] = force.room
    if force.contacts:
        office["contacts"] = [{"name": n, "phone": p} for n, p in force.contacts]
    if force.phone:
        office["phone"] = force.phone
    if force.email:
        office["documented_email"] = force.email
    office["mailbox"] = mailbox
    return office


def _groups(
    group_codes: dict[str, str], sections: list[dict[str, Any]], force: TaskForceDraft
) -> list[dict[str, Any]]:
    """The groups section headings name (with their sections), then those the annex names."""
    groups: list[dict[str, Any]] = []
    for group_name, code_ in group_codes.items():
        covered = [s["id"] for s in sections if s.get("group") == code_]
        groups.append({"code": code_, "name": group_name, "lead_units": [], "sections": covered})
    for group_name, leads in force.groups:
        code_ = f"group-{len(groups) + 1}"
        groups.append({"code": code_, "name": group_name, "lead_units": leads, "sections": []})
    return groups


def _task_force(
    force: TaskForceDraft,
    group_codes: dict[str, str],
    sections: list[dict[str, Any]],
    units_directory: str,
) -> tuple[dict[str, Any], list[str]]:
    """The task force entry (leaders, members, office, groups) and what to review."""
    review = list(force.review)
    mailbox = f"taskforce-office@{units_directory or 'county'}.example.org"
    review.append(f"专班办公室系统收件邮箱为示例地址 {mailbox}，请改为实际地址")
    groups = _groups(group_codes, sections, force)
    if groups:
        review.append("专班/专项推进组代码为自动编号（group-N），覆盖章节和牵头单位请办公室核对")
    task_force: dict[str, Any] = {"name": force.name}
    if force.leader:
        task_force["leader"] = {"name": force.leader[0], "title": force.leader[1]}
    if force.deputies:
        task_force["deputies"] = [{"name": n, "title": t} for n, t in force.deputies]
    if force.members:
        task_force["members"] = force.members
    task_force["office"] = _office(force, mailbox)
    task_force["groups"] = groups
    return task_force, review


def _document(meta: Meta, plan_title: str, issued: date, source: str) -> dict[str, Any]:
    """The notice's metadata entry; what was not found is marked for the office to fill."""
    return {
        "issuer": meta.issuer or "（待填）",
        "number": meta.number or "（待填）",
        "title": meta.title or plan_title or "（待填）",
        "issued": issued,
        "source": source,
    }


def _validation_problem(policy: dict[str, Any]) -> str | None:
    """The review line for a draft the schema rejects (its first error), None when it loads."""
    try:
        Policy.model_validate(policy)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"草稿未通过格式校验（{where}：{first['msg']}），请补全后再载入"
    return None


def _counts(
    measures: list[dict[str, Any]],
    sections: list[dict[str, Any]],
    obligations: list[dict[str, Any]],
    unknown: list[str],
    review: list[str],
) -> dict[str, int]:
    """The numbers the CLI summarises a draft with."""
    return {
        "measures": len(measures),
        "sections": len(sections),
        "units": len({r["unit"] for m in measures for r in m["units"]}),
        "targets": sum(len(m.get("targets", [])) for m in measures),
        "obligations": len(obligations),
        "unknown_units": len(unknown),
        "review": len(review),
    }


def import_policy(
    paragraphs: list[str],
    *,
    code: str,
    directory: UnitsDirectory | None,
    units_directory: str,
    source: str = "",
    today: date | None = None,
) -> ImportResult:
    """Draft a policy from a notice's paragraphs; ``directory`` resolves unit names."""
    names = UnitNames.of(directory)
    meta = find_meta(paragraphs)
    review = list(meta.review)
    # Without an issue date relative phrases cannot be resolved; the review list says so and the
    # caller's today (read once at the CLI's edge) stands in.
    issued = meta.issued or today
    if issued is None:
        raise ConfigError(
            source or "（原文）", "", "未识别印发日期（应为单独一行的“YYYY年M月D日”）"
        )
    start, end = body_range(paragraphs)
    body = parse_body(paragraphs[start:end])
    annex = paragraphs[end:]
    plan_title = compact(paragraphs[start - 1]) if start else meta.title
    active_end, active_note = _active_end(meta.title or plan_title, issued)
    review.append(active_note)
    review += _body_review(body)
    sections, group_codes, section_review = _sections(body, issued, active_end)
    review += section_review
    measures, unknown, measure_review = _measures(body, names, issued, active_end)
    review += measure_review
    drafts = find_obligations(_obligation_blocks(body, annex), issued, names)
    obligations, unknown_recipients, obligation_review = _obligations(
        drafts, names, issued, active_end
    )
    unknown = _add_unknown(unknown, unknown_recipients)
    review += obligation_review
    force = find_task_force(paragraphs[start:end], annex, drafts, names)
    task_force, force_review = _task_force(force, group_codes, sections, units_directory)
    review += force_review

    county = county_of(meta.issuer)
    policy: dict[str, Any] = {
        "code": code,
        "county": county or "（待填）",
        "units_directory": units_directory,
        "document": _document(meta, plan_title, issued, source),
        "active": {"start": issued, "end": active_end},
        "sections": sections,
        "measures": measures,
        "task_force": task_force,
        "obligations": obligations,
        "review": review,
    }
    problem = _validation_problem(policy)
    if problem is not None:
        review.append(problem)
    counts = _counts(measures, sections, obligations, unknown, review)
    return ImportResult(policy, body, review, unknown, problem is None, counts)


def import_file(
    document: Path,
    *,
    code: str,
    units_dir: Path,
    units: str | None = None,
    today: date | None = None,
) -> ImportResult:
    """Read a notice and draft its policy; the units directory is named or found by county."""
    if not ASCII_CODE.match(code):
        raise ConfigError(
            document, "", f"政策代码 {code!r} 须为小写字母、数字和连字符（取自输出文件名）"
        )
    paragraphs = read_document(document)
    if units is not None:
        directory = load_units_directory(units, units_dir)
    else:
        county = county_of(find_meta(paragraphs).issuer)
        found = find_units_directory(county, units_dir)
        if found is None:
            raise ConfigError(
                document,
                "",
                f"在 {units_dir} 中找不到{county or '发文县'}的单位目录，请用 --units 指定",
            )
        units, directory = found
    return import_policy(
        paragraphs,
        code=code,
        directory=directory,
        units_directory=units,
        source=str(document),
        today=today,
    )
