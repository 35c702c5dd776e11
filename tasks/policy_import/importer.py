"""Draft a policy config from the text of a county notice (``taskforce policy import``).

The pipeline is plain functions: paragraphs (policy_text) → body cut from front matter and annex →
section tree and measures (policy_sections) → responsibility brackets (policy_units) → targets and
deadlines (policy_targets) → obligations, metadata and task force (policy_obligations). The result
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
    find_meta,
    find_obligations,
    find_task_force,
    obligation_dict,
)
from tasks.policy_import.sections import Body, body_range, parse_body
from tasks.policy_import.targets import find_deadline, find_targets
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
    review: list[str] = []
    meta = find_meta(paragraphs)
    review += meta.review
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
    if body.renumbered:
        review.append(
            "原文各部分分别从1编号，措施编号已按全文顺序连续编排（与原文编号不同），请核对"
        )
    if not body.measures:
        review.append("未识别出编号措施（1. / 1、），请检查原文格式")

    group_codes: dict[str, str] = {}
    sections: list[dict[str, Any]] = []
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

    measures: list[dict[str, Any]] = []
    unknown: list[str] = []
    target_count = 0
    for measure_node in body.measures:
        bracket = find_bracket(measure_node.body, names)
        text = measure_node.body
        refs: list[dict[str, str]] = []
        if bracket is not None:
            text = (measure_node.body[: bracket.start] + measure_node.body[bracket.end :]).strip()
            resolved = resolve_units(parse_units(bracket.content), names)
            refs = [{"unit": n, "role": r.value} for n, r in resolved.refs]
            review += [f"第{measure_node.number}条：{note}" for note in resolved.notes]
            for name in resolved.unknown:
                review.append(
                    f"第{measure_node.number}条：单位“{name}”不在单位目录中，请添加或更正"
                )
                if name not in unknown:
                    unknown.append(name)
            if bracket.end < len(measure_node.body.rstrip()) and bracket.labelled:
                tail = measure_node.body[bracket.end :].strip()
                if tail:
                    review.append(
                        f"第{measure_node.number}条：责任单位括号后还有文字“{tail[:20]}”，请核对"
                    )
        elif measure_node.parent_number is None:
            review.append(f"第{measure_node.number}条：未找到责任单位，请补填")
        title = text.split("。")[0] if "。" in text else text
        measure: dict[str, Any] = {
            "number": measure_node.number,
            "section": measure_node.section,
            "title": title,
            "text": text,
            "units": refs,
        }
        targets = find_targets(text, issued, active_end)
        if targets:
            measure["targets"] = []
        for target in targets:
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
            measure["targets"].append(entry)
            target_count += 1
            review += [
                f"第{measure_node.number}条目标“{target.metric}”：{r}" for r in target.review
            ]
            if not issued <= target.due <= active_end:
                review.append(
                    f"第{measure_node.number}条目标“{target.metric}”期限{target.due}（{target.due_phrase}）"
                    "不在政策有效期内：请核对解析，或填写 outside_period_reason"
                )
        deadline = find_deadline(text, issued, [t.span for t in targets])
        if deadline is not None:
            measure["deadline"] = deadline.due
            measure["deadline_phrase"] = deadline.phrase
            if deadline.review:
                review.append(f"第{measure_node.number}条：{deadline.review}")
        measures.append(measure)
    undated = [
        m["number"]
        for m in measures
        if any(t["due_phrase"].startswith("（") for t in m.get("targets", []))
    ]
    if undated:
        review.append(
            f"第{'、'.join(undated)}条的量化目标原文未写时限，按政策期末{active_end}记录，请确认"
        )

    # Obligations are read from whole measures and joined annex paragraphs, so that a reporting
    # sentence split by a page break is read as one.
    blocks = [s.text for s in body.sections if s.text]
    blocks += [m.body for m in body.measures]
    blocks += join_broken(annex)
    drafts = find_obligations(blocks, issued, names)
    covers = (f"{issued:%Y-%m}", f"{active_end:%Y-%m}")
    obligations: list[dict[str, Any]] = []
    for index, draft in enumerate(drafts, 1):
        code_ = f"monthly-report-{index}" if draft.frequency == "monthly" else f"report-{index}"
        obligations.append(obligation_dict(draft, code_, covers))
        review += [f"报送事项“{draft.name}”：{r}" for r in draft.review]
        for label in draft.recipients:
            if not names.knows(label) and label not in unknown:
                unknown.append(label)
    if not obligations:
        review.append("未识别出报送义务（每月N日前…报送 / N月N日前…报送），请补填 obligations")

    force = find_task_force(paragraphs[start:end], annex, drafts, names)
    review += force.review
    mailbox = f"taskforce-office@{units_directory or 'county'}.example.org"
    review.append(f"专班办公室系统收件邮箱为示例地址 {mailbox}，请改为实际地址")
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
    groups: list[dict[str, Any]] = []
    for group_name, code_ in group_codes.items():
        covered = [s["id"] for s in sections if s.get("group") == code_]
        groups.append({"code": code_, "name": group_name, "lead_units": [], "sections": covered})
    for group_name, leads in force.groups:
        code_ = f"group-{len(groups) + 1}"
        groups.append({"code": code_, "name": group_name, "lead_units": leads, "sections": []})
    if groups:
        review.append("专班/专项推进组代码为自动编号（group-N），覆盖章节和牵头单位请办公室核对")
    task_force: dict[str, Any] = {"name": force.name}
    if force.leader:
        task_force["leader"] = {"name": force.leader[0], "title": force.leader[1]}
    if force.deputies:
        task_force["deputies"] = [{"name": n, "title": t} for n, t in force.deputies]
    if force.members:
        task_force["members"] = force.members
    task_force["office"] = office
    task_force["groups"] = groups

    county = county_of(meta.issuer)
    policy: dict[str, Any] = {
        "code": code,
        "county": county or "（待填）",
        "units_directory": units_directory,
        "document": {
            "issuer": meta.issuer or "（待填）",
            "number": meta.number or "（待填）",
            "title": meta.title or plan_title or "（待填）",
            "issued": issued,
            "source": source,
        },
        "active": {"start": issued, "end": active_end},
        "sections": sections,
        "measures": measures,
        "task_force": task_force,
        "obligations": obligations,
        "review": review,
    }
    valid = True
    try:
        Policy.model_validate(policy)
    except ValidationError as exc:
        valid = False
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        review.append(f"草稿未通过格式校验（{where}：{first['msg']}），请补全后再载入")
    counts = {
        "measures": len(measures),
        "sections": len(sections),
        "units": len({r["unit"] for m in measures for r in m["units"]}),
        "targets": target_count,
        "obligations": len(obligations),
        "unknown_units": len(unknown),
        "review": len(review),
    }
    return ImportResult(policy, body, review, unknown, valid, counts)


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
