"""Draft a policy config from the text of a county notice (``taskforce policy import``).

The pipeline is plain functions: paragraphs (text; a traditional-script notice read in
simplified) → task tables (annex) and the body cut from front matter and annex → section tree
and measures at the level that carries units (sections), a measure per task-table row →
responsibility brackets (units) → targets and deadlines (targets) → obligations, metadata and
task force (obligations). The result
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

from config.errors import ConfigError
from config.loading import load_units, validate_model
from config.schema import ASCII_CODE, Policy, UnitsDirectory
from tasks.policy_import.annex import column_deadline, find_task_tables, table_nodes
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
from tasks.policy_import.sections import (
    Body,
    MeasureNode,
    body_range,
    carries_units,
    heading_units,
    notice_points,
    parse_body,
)
from tasks.policy_import.targets import TargetDraft, find_deadline, find_targets
from tasks.policy_import.text import Script, compact, read_document, to_simplified
from tasks.policy_import.units import (
    FIRST_LEADS,
    UnitNames,
    find_bracket,
    parse_units,
    resolve_units,
    split_units,
)
from tasks.policy_import.units_draft import UnitsDraft, county_code, draft_units, is_collective


@dataclass
class ImportResult:
    """The draft policy and what the CLI summarises."""

    policy: dict[str, Any]
    body: Body
    review: list[str]
    unknown_units: list[str]
    valid: bool
    counts: dict[str, int] = field(default_factory=dict)
    units_draft: UnitsDraft | None = None  # made from the notice: the county had no directory

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
    """陵川县人民政府办公室 → 陵川县; 上海市浦东新区… → 浦东新区 (the district, not the city)."""
    match = re.match(
        r"^(?:[\u4e00-\u9fff]{1,6}?[省市](?![区县]))?([\u4e00-\u9fff]{1,8}?[县区旗])", issuer
    )
    if match is None:
        match = re.match(r"^([\u4e00-\u9fff]{1,8}?市)", issuer)  # a county-level city: 介休市
    return match[1] if match else ""


def notice_county(meta: Meta) -> str:
    """The issuing county, from the issuer or else the title (泾县人民政府关于…的通知)."""
    return county_of(meta.issuer) or county_of(meta.title)


def _title_year(title: str) -> int | None:
    years = [int(y) for y in re.findall(r"(\d{4})年", title)]
    return max(years) if years else None


def _active(title: str, issued: date | None, today: date | None) -> tuple[date, date, str]:
    """The policy's start (the issue date) and end (the end of the title's year, else of the
    issue year), and the review line saying how they were found. Without an issue date the
    start is 1 January of the title's year, else the caller's today."""
    year = _title_year(title)
    if issued is None:
        if year is not None:
            start = date(year, 1, 1)
            return (
                start,
                date(year, 12, 31),
                (
                    f"有效期按标题中的{year}年推定为{start.isoformat()}～{year}-12-31"
                    "（原文未识别印发日期，相对时限亦按此推算），请确认"
                ),
            )
        if today is None:
            raise ValueError("no issue date and no today")
        return (
            today,
            date(today.year, 12, 31),
            (
                f"有效期推定为{today.isoformat()}（原文未识别印发日期，按导入当日）至当年年底，请确认"
            ),
        )
    end = date(year if year is not None else issued.year, 12, 31)
    return (
        issued,
        end,
        (
            f"有效期按标题中的{year}年推定为{issued.isoformat()}～{end.isoformat()}，请确认"
            if year is not None
            else f"有效期原文未写，推定为印发日期{issued.isoformat()}至当年年底，请确认"
        ),
    )


def _body_review(body: Body) -> list[str]:
    """What the section tree and measure numbering leave for a person to check."""
    review: list[str] = []
    if body.subpart_level:
        parts = "、".join(f"第{part}部分" for part in body.subpart_level)
        review.append(f"{parts}的（一）（二）…各项载有责任单位，已作为措施，按全文顺序编号，请核对")
    elif body.renumbered:
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


def _section_units(body: Body, names: UnitNames) -> dict[str, str]:
    """Section id → the unit list its heading carries, 一、强化科技创新（区科技局牵头）; a
    sub-section without one takes its parent's."""
    found: dict[str, str] = {}
    for section in body.sections:
        bracket = find_bracket(section.title, names)
        named = heading_units(section.title, lambda text: carries_units(text, names))
        if bracket is not None:
            found[section.id] = bracket.content
        elif named is not None:  # 一、县示范区管委会牵头工作（8项）
            found[section.id] = named[1:-1]
        elif section.parent in found:
            found[section.id] = found[section.parent]
    return found


def _unit_refs(
    number: str, content: str, names: UnitNames, first_leads: bool = False
) -> tuple[list[dict[str, str]], list[str], list[str]]:
    """A unit list's references, the names the directory lacks, and what to review."""
    resolved = resolve_units(parse_units(content, first_leads), names)
    refs = [{"unit": n, "role": r.value} for n, r in resolved.refs]
    review = [f"第{number}条：{note}" for note in resolved.notes]
    review += [
        f"第{number}条：单位“{name}”不在单位目录中，请添加或更正" for name in resolved.unknown
    ]
    return refs, list(resolved.unknown), review


def _measure_units(
    node: MeasureNode, names: UnitNames, section_units: dict[str, str], first_leads: bool = False
) -> tuple[str, list[dict[str, str]], list[str], list[str]]:
    """The measure's text without its responsibility bracket, its unit references, the names
    the directory lacks, and what to review."""
    bracket = find_bracket(node.body, names)
    if bracket is None:
        # A sub-measure (26(3)) inherits its parent's units: only a top measure lacks them.
        if node.parent_number is not None:
            return node.body, [], [], []
        inherited = section_units.get(node.section)
        if inherited is None:
            return node.body, [], [], [f"第{node.number}条：未找到责任单位，请补填"]
        refs, unknown, review = _unit_refs(node.number, inherited, names, first_leads)
        note = f"第{node.number}条：原文未单列责任单位，按所在章节标题中的单位列出，请核对"
        return node.body, refs, unknown, [note, *review]
    text = (node.body[: bracket.start] + node.body[bracket.end :]).strip()
    refs, unknown, review = _unit_refs(node.number, bracket.content, names, first_leads)
    if bracket.end < len(node.body.rstrip()) and bracket.labelled:
        tail = node.body[bracket.end :].strip()
        if tail:
            review.append(f"第{node.number}条：责任单位括号后还有文字“{tail[:20]}”，请核对")
    return text, refs, unknown, review


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
    node: MeasureNode,
    names: UnitNames,
    issued: date,
    active_end: date,
    section_units: dict[str, str],
    first_leads: bool = False,
) -> tuple[dict[str, Any], list[str], list[str]]:
    """One measure's entry, the unit names the directory lacks, and what to review."""
    text, refs, unknown, review = _measure_units(node, names, section_units, first_leads)
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
    if node.deadline_text:  # a task table's 完成时限 column
        deadline = column_deadline(node.deadline_text, issued)
        if deadline is None:
            measure["note"] = f"完成时限：{node.deadline_text}"
    else:
        deadline = find_deadline(text, issued, [t.span for t in targets])
    if node.note:
        measure["note"] = "；".join(filter(None, [measure.get("note", ""), node.note]))
    if deadline is not None:
        measure["deadline"] = deadline.due
        measure["deadline_phrase"] = deadline.phrase
        measure["deadline_kind"] = deadline.kind
        if deadline.review:
            review.append(f"第{node.number}条：{deadline.review}")
        if deadline.kind_review:
            review.append(f"第{node.number}条：{deadline.kind_review}")
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
    section_units = _section_units(body, names)
    first_leads = False  # set by 列第一位者为牵头单位，下同 for the measures after it
    for node in body.measures:
        measure, measure_unknown, measure_review = _measure(
            node, names, issued, active_end, section_units, first_leads
        )
        rule = FIRST_LEADS.search(node.body)
        if rule is not None and rule["same"]:
            first_leads = True
            measure_review.append(
                f"第{node.number}条：原文“{rule.group(0).strip('，,；; ')}”：本条及以后各条列第一位"
                "的单位按牵头单位记录，其余按责任单位，请核对"
            )
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
    # A cover letter's point is a section whose heading is the whole paragraph
    # (二、各部门各单位要在每季度末…报区督查组。): read the heading too.
    blocks = [s.heading for s in body.sections if "。" in s.heading]
    blocks += [s.text for s in body.sections if s.text]
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
        # "（待填）" stands for recipients not found: a review line says so, it is no unit.
        unknown += [r for r in draft.recipients if not names.knows(r) and r != "（待填）"]
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
    """The review line for a draft the schema rejects (its first error, in the words
    ``policy load`` would use), None when it loads."""
    try:
        validate_model(Policy, policy, Path("草稿"))
    except ConfigError as exc:
        shown = "" if exc.value is None else f"（当前为 {exc.value!r}）"
        return f"草稿未通过格式校验（{exc.path}：{exc.message}{shown}），请按此修改后再载入"
    return None


def _keep_original_text(policy: dict[str, Any], script: Script) -> None:
    """Give the draft's text and titles back in the notice's own (traditional) characters.

    Unit names and obligations stay simplified: they are matched against the units directory
    and the schema's keywords."""
    document = policy["document"]
    for key in ("issuer", "number", "title"):
        document[key] = script.original_of(document[key])
    for section in policy["sections"]:
        section["title"] = script.original_of(section["title"])
    for measure in policy["measures"]:
        for key in ("title", "text", "deadline_phrase"):
            if key in measure:
                measure[key] = script.original_of(measure[key])


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
    # A notice in traditional script is read in simplified (keywords, unit names, dates); its
    # text and titles are given back as printed at the end.
    paragraphs, script = to_simplified(paragraphs)
    meta = find_meta(paragraphs)
    review = list(meta.review)
    # Without an issue date the title's year, else the caller's today (read once at the CLI's
    # edge), stands in; the review list says so.
    if meta.issued is None and today is None:
        raise ConfigError(
            source or "（原文）", "", "未识别印发日期（应为单独一行的“YYYY年M月D日”）"
        )
    start, end = body_range(paragraphs)
    tables = find_task_tables(paragraphs)
    in_table = {i for table in tables for i in range(table.start, table.end)}
    plan_title = compact(paragraphs[start - 1]) if start else meta.title
    if start - 1 in in_table:  # the body starts inside a table: the line before is a cell
        plan_title = meta.title or next(t.title for t in tables if t.start < start <= t.end)
    # A page that kept only the table has its title as first line (2025年开发区重点工作清单);
    # "# …" lines are a keeper's notes on the file (its source), not the notice's.
    first = next((p for p in paragraphs if not p.startswith("#")), "")
    body_title = plan_title if start < end else ""  # no body: the line before it is no title
    title = meta.title or body_title or (first if meta.issued is None else "")
    issued, active_end, active_note = _active(title, meta.issued, today)
    body = parse_body(
        [p for i, p in enumerate(paragraphs[start:end], start) if i not in in_table],
        lambda text: carries_units(text, names),
        tasks_elsewhere=bool(tables),
    )
    table_sections, table_measures, table_review = table_nodes(tables, len(body.measures) + 1)
    body.sections += table_sections
    body.measures += table_measures
    annex = paragraphs[end:]
    review.append(active_note)
    review += _body_review(body) + table_review
    sections, group_codes, section_review = _sections(body, issued, active_end)
    review += section_review
    measures, unknown, measure_review = _measures(body, names, issued, active_end)
    review += measure_review
    blocks = join_broken(notice_points(paragraphs)) + _obligation_blocks(body, annex)
    drafts = find_obligations(blocks, issued, names)
    obligations, unknown_recipients, obligation_review = _obligations(
        drafts, names, issued, active_end
    )
    unknown = _add_unknown(unknown, unknown_recipients)
    review += obligation_review
    force = find_task_force(paragraphs[start:end], annex, drafts, names)
    task_force, force_review = _task_force(force, group_codes, sections, units_directory)
    review += force_review

    county = notice_county(meta)
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
    if script is not None:
        _keep_original_text(policy, script)
        review.append(
            "原文为繁体字：已转为简体识别，措施原文、标题保留原文字形；单位名称、报送事项按简体"
            "记录，请核对"
        )
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
        county = notice_county(find_meta(paragraphs))
        found = find_units_directory(county, units_dir)
        if found is None:
            return onboard(paragraphs, code=code, units_dir=units_dir, source=document, today=today)
        units, directory = found
    return import_policy(
        paragraphs,
        code=code,
        directory=directory,
        units_directory=units,
        source=str(document),
        today=today,
    )


def _policy_labels(policy: dict[str, Any]) -> list[str]:
    """Every unit label a draft policy uses, first mention first."""
    labels = [ref["unit"] for m in policy["measures"] for ref in m["units"]]
    labels += [label for o in policy["obligations"] for label in o["recipients"]]
    force = policy["task_force"]
    labels += force.get("members", [])
    labels += [lead for g in force["groups"] for lead in g["lead_units"]]
    labels.append(force["office"]["unit"])
    return [label for label in dict.fromkeys(labels) if label != "（待填）"]


def notice_units(paragraphs: list[str]) -> list[str]:
    """Every unit name a unit list anywhere in the notice gives, as written, first mention first."""
    names = UnitNames()
    found: list[str] = []
    for paragraph in paragraphs:
        bracket = find_bracket(compact(paragraph), names)
        if bracket is not None:
            found += [name for name, _ in parse_units(bracket.content)]
    return list(dict.fromkeys(found))


def addressees(paragraphs: list[str]) -> list[str]:
    """The notice's addressees: 各乡镇人民政府，县政府各部门、各直属机构： before the body."""
    for paragraph in paragraphs[:12]:
        line = compact(paragraph)
        if line.endswith((":", "：")) and "。" not in line and "各" in line:
            return split_units(line[:-1])
    return []


def onboard(
    paragraphs: list[str],
    *,
    code: str,
    units_dir: Path,
    source: Path,
    today: date | None = None,
) -> ImportResult:
    """Draft the policy and, from the unit names it uses, the county's first units directory."""

    def attempt(directory: UnitsDirectory | None, directory_code: str) -> ImportResult:
        return import_policy(
            paragraphs,
            code=code,
            directory=directory,
            units_directory=directory_code,
            source=str(source),
            today=today,
        )

    # Without a directory every name is unknown: those are the notice's units. County and
    # issuer are taken from this draft, as import_policy read them.
    first = attempt(None, code)
    county, issuer = (
        "" if value == "（待填）" else value
        for value in (first.policy["county"], first.policy["document"]["issuer"])
    )
    directory_code = county_code(county, code)
    target = units_dir / f"{directory_code}.yaml"
    if target.exists():  # another county's file by the same name: never overwritten
        raise ConfigError(
            target,
            "",
            f"本通知的发文县“{county or '未识别'}”没有单位目录，而单位目录草稿将写入的文件已存在"
            "（属于另一个县）；请用 --units 指定单位目录，或移走该文件后重试",
        )
    labels = [label for label in first.unknown_units if label != "（待填）"]
    # Units named outside the measures found (a table, a list under a heading the section
    # parser took for a section) still belong in the county's directory.
    simple, _ = to_simplified(paragraphs)  # names are matched in simplified, as import_policy does
    labels = _add_unknown(labels, notice_units(simple))
    # The addressees (各乡镇人民政府，县政府各部门) and the issuing office are named too; the
    # seeds' directories hold both.
    labels = _add_unknown(labels, addressees(simple))
    # "各责任单位每月5日前报送…": the obligation's recipients are found only among known names.
    text = "".join(simple)
    labels = _add_unknown(labels, re.findall(r"各(?:责任|牵头|成员)单位", text))
    only_collectives = all(is_collective(label) for label in labels)
    if labels and issuer and (only_collectives or issuer.endswith("办公室")):
        # The issuing office receives the reports; a notice whose tasks are in an annex kept
        # apart names only its addressees (各乡镇人民政府…): the office is the draft's one unit,
        # the collectives' members are the office's to fill.
        labels = _add_unknown(labels, [issuer])
    # The task force and obligations find their units only among known names, so a second
    # round may name more.
    if not labels:
        raise ConfigError(
            source, "", "原文中未找到任何责任单位，无法生成单位目录草稿；请用 --units 指定单位目录"
        )
    if all(is_collective(label) for label in labels):
        # Only addressees (各乡镇人民政府、县直各单位) and no issuer: the tasks are in an annex the
        # file lacks. The draft lists the collectives for the office to fill; it cannot load yet.
        first.units_draft = draft_units(labels, county, directory_code)
        first.units_draft.review.append(
            f"原文只点名了集合单位（{'、'.join(labels)}），没有具体单位：请在 units 中补填各单位"
            "（至少填写专班办公室所在单位），并为各集合单位填写成员"
        )
        first.review.append(
            "原文未点名具体责任单位（任务可能在未附上的附件中）：请补入附件全文后重新导入，"
            "或在单位目录草稿中补填单位"
        )
        return first
    for _ in range(3):
        draft = draft_units(labels, county, directory_code)
        directory = validate_model(UnitsDirectory, draft.data, target)
        result = attempt(directory, directory_code)
        known = UnitNames.of(directory)
        missing = [label for label in _policy_labels(result.policy) if not known.knows(label)]
        if not missing:
            break
        labels = _add_unknown(labels, missing)
    # Where each unit is named, for the office checking the draft against the notice.
    mentions: dict[str, list[str]] = {}
    for measure in result.policy["measures"]:
        for ref in measure["units"]:
            numbers = mentions.setdefault(known.canonical(ref["unit"]), [])
            if measure["number"] not in numbers:
                numbers.append(measure["number"])
    result.units_draft = draft_units(labels, county, directory_code, mentions)
    return result
