"""Read, validate and cross-check policy and units files.

Every problem becomes a ``ConfigError`` that names the file, the YAML path and the value, in
Chinese, because the office edits these files.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from config.errors import ConfigError, NotFoundError
from config.periods import period_key
from config.schema import ASCII_CODE, AtPath, Measure, Policy, UnitEntry, UnitsDirectory
from config.settings import Settings

ModelT = TypeVar("ModelT", bound=BaseModel)

# Pydantic's English messages for the errors an office is likely to make, in the office's words.
_PYDANTIC_MESSAGES = {
    "missing": "缺少必填项",
    "extra_forbidden": "未知字段（拼写错误？）",
    "too_short": "不能为空",
    "date_parsing": "不是有效日期（应为 YYYY-MM-DD）",
    "date_from_datetime_parsing": "不是有效日期（应为 YYYY-MM-DD）",
    "date_type": "不是有效日期（应为 YYYY-MM-DD）",
    "string_pattern_mismatch": "格式不符",
    "string_type": "应为文本",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "int_parsing": "应为整数",
    "enum": "不是允许的取值",
    "literal_error": "不是允许的取值",
    "bool_parsing": "应为 true 或 false",
    "list_type": "应为列表",
    "model_type": "应为映射（键: 值）",
    "dict_type": "应为映射（键: 值）",
}


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text, so pydantic reports a bad date with its path."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def yaml_path(loc: Iterable[int | str]) -> str:
    """Render a pydantic location as a YAML path: ``measures[3].units[0].unit``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_yaml(file: Path) -> Any:
    """Parse a YAML file, turning I/O and syntax errors into ConfigError."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(file, "", "文件不存在") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, "", f"无法读取：{exc}") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第{mark.line + 1}行第{mark.column + 1}列" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(file, where, f"YAML 语法错误：{problem}") from None


def validate_model(model: type[ModelT], data: Any, file: Path) -> ModelT:
    """Validate data against a schema model; report the first error with its YAML path."""
    if not isinstance(data, dict):
        raise ConfigError(file, "", "文件内容应为映射（键: 值），实际为空或不是映射")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, AtPath):
            loc += cause.path
        message = _PYDANTIC_MESSAGES.get(first["type"])
        if first.get("ctx", {}).get("pattern") == ASCII_CODE.pattern:
            message = "应由小写字母、数字和连字符组成（如 lingchuan-2023）"
        if message is None or first["type"] == "value_error":
            message = str(first["msg"]).removeprefix("Value error, ")
        value = None if first["type"] == "missing" else first.get("input")
        if isinstance(value, dict | list):
            value = None  # a whole mapping is noise; the path says where it is
        raise ConfigError(file, yaml_path(loc), message, value) from None


@dataclass(frozen=True)
class UnitResolver:
    """Resolves a name as written (canonical, alias or collective) to canonical unit names."""

    directory: UnitsDirectory
    _units: dict[str, UnitEntry] = field(init=False, repr=False)
    _collectives: dict[str, list[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        units: dict[str, UnitEntry] = {}
        for unit in self.directory.units:
            for label in (unit.name, *unit.aliases):
                units[label] = unit
        collectives: dict[str, list[str]] = {}
        for collective in self.directory.collectives:
            members = [units[m].name for m in collective.members]
            for label in (collective.name, *collective.aliases):
                collectives[label] = members
        object.__setattr__(self, "_units", units)
        object.__setattr__(self, "_collectives", collectives)

    def knows(self, label: str) -> bool:
        return label in self._units or label in self._collectives

    def is_collective(self, label: str) -> bool:
        return label in self._collectives

    def expand(self, label: str) -> list[str]:
        """Canonical names a label stands for: one unit, or a collective's members."""
        if label in self._units:
            return [self._units[label].name]
        return list(self._collectives[label])

    def unit(self, name: str) -> UnitEntry:
        return self._units[name]


@dataclass(frozen=True)
class PolicyBundle:
    """A validated policy with the units directory it refers to."""

    policy: Policy
    directory: UnitsDirectory
    resolver: UnitResolver
    policy_file: Path
    units_file: Path

    def effective_units(self, measure: Measure) -> list[tuple[str, str, str | None]]:
        """(canonical unit, role, via-collective) of a measure; sub-items inherit the parent's."""
        refs = measure.units
        if not refs and measure.parent_number is not None:
            refs = self.measure(measure.parent_number).units
        out: list[tuple[str, str, str | None]] = []
        seen: set[str] = set()
        for ref in refs:
            via = ref.unit if self.resolver.is_collective(ref.unit) else None
            for name in self.resolver.expand(ref.unit):
                if name not in seen:  # a unit named twice keeps its first role
                    seen.add(name)
                    out.append((name, ref.role.value, via))
        return out

    def measure(self, number: str) -> Measure:
        for measure in self.policy.measures:
            if measure.number == number:
                return measure
        raise NotFoundError(f"政策 {self.policy.code} 没有第 {number} 条措施")

    def recipients(self, obligation_code: str) -> list[str]:
        """Canonical names of the units an obligation binds, in directory order."""
        obligation = next(o for o in self.policy.obligations if o.code == obligation_code)
        wanted = {n for label in obligation.recipients for n in self.resolver.expand(label)}
        return [u.name for u in self.directory.units if u.name in wanted]


def load_units(file: Path) -> UnitsDirectory:
    """Read and validate a units directory file."""
    return validate_model(UnitsDirectory, read_yaml(file), file)


def load_policy_file(file: Path, settings: Settings) -> PolicyBundle:
    """Read a policy file and its units directory, validate both and cross-check them."""
    policy = validate_model(Policy, read_yaml(file), file)
    units_file = settings.units_dir / f"{policy.units_directory}.yaml"
    if not units_file.exists():
        raise ConfigError(
            file, "units_directory", f"找不到单位目录文件 {units_file}", policy.units_directory
        )
    directory = load_units(units_file)
    resolver = UnitResolver(directory)
    for problem in _cross_check(policy, resolver):
        path, message, value = problem
        raise ConfigError(file, path, message, value)
    return PolicyBundle(policy, directory, resolver, file, units_file)


def find_policy_file(code: str, settings: Settings) -> Path:
    """The YAML file of a policy code in the policies directory."""
    file = settings.policies_dir / f"{code}.yaml"
    if not file.exists():
        known = sorted(p.stem for p in settings.policies_dir.glob("*.yaml"))
        raise NotFoundError(f"未知政策代码 {code!r}；已有：{'、'.join(known) or '无'}")
    return file


def _in_period(day: date, policy: Policy) -> bool:
    return policy.active.start <= day <= policy.active.end


def _cross_check(policy: Policy, resolver: UnitResolver) -> Iterator[tuple[str, str, Any]]:
    """Yield (yaml path, message, value) for every inconsistency, in file order."""
    period = f"{policy.active.start}～{policy.active.end}"
    group_codes = {g.code for g in policy.task_force.groups}

    section_ids: set[str] = set()
    for i, section in enumerate(policy.sections):
        if section.id in section_ids:
            yield f"sections[{i}].id", "章节编号重复", section.id
        section_ids.add(section.id)
        if section.parent is not None and section.parent not in section_ids:
            yield f"sections[{i}].parent", "上级章节不存在（须先于本章节列出）", section.parent
        if section.group is not None and section.group not in group_codes:
            yield f"sections[{i}].group", "未知的专班/专项推进组代码", section.group

    numbers: set[str] = set()
    for i, measure in enumerate(policy.measures):
        at = f"measures[{i}]"
        if measure.number in numbers:
            yield f"{at}.number", "措施编号重复", measure.number
        numbers.add(measure.number)
        if measure.section not in section_ids:
            yield f"{at}.section", "章节不存在", measure.section
        parent = measure.parent_number
        if parent is not None and parent not in numbers:
            yield (
                f"{at}.number",
                f"子项的上级措施 {parent} 不存在（须先于子项列出）",
                measure.number,
            )
        if not measure.units and parent is None:
            yield f"{at}.units", "措施没有责任单位", None
        for j, ref in enumerate(measure.units):
            yield from _check_label(resolver, f"{at}.units[{j}].unit", ref.unit)
        if measure.deadline is not None and not _in_period(measure.deadline, policy):
            yield f"{at}.deadline", f"日期不在政策有效期 {period} 内", measure.deadline.isoformat()
        for j, target in enumerate(measure.targets):
            if not _in_period(target.due, policy) and not target.outside_period_reason:
                yield (
                    f"{at}.targets[{j}].due",
                    f"日期不在政策有效期 {period} 内（如属有意，请填写 outside_period_reason）",
                    target.due.isoformat(),
                )
            if target.starts is not None and target.starts > target.due:
                yield f"{at}.targets[{j}].starts", "起始日期晚于目标期限", target.starts.isoformat()

    yield from _check_task_force(policy, resolver, section_ids, numbers)

    obligation_codes: set[str] = set()
    start, end = policy.active.start, policy.active.end
    for i, obligation in enumerate(policy.obligations):
        at = f"obligations[{i}]"
        if obligation.code in obligation_codes:
            yield f"{at}.code", "报送事项代码重复", obligation.code
        obligation_codes.add(obligation.code)
        for j, label in enumerate(obligation.recipients):
            yield from _check_label(resolver, f"{at}.recipients[{j}]", label)
        fixed = obligation.due.fixed_date
        if fixed is not None and not _in_period(fixed, policy):
            yield f"{at}.due.fixed_date", f"日期不在政策有效期 {period} 内", fixed.isoformat()
        if obligation.frequency == "once":
            continue
        # A period counts when it overlaps the active period (the month, quarter … it starts in).
        first, last = (period_key(obligation.frequency, d) for d in (start, end))
        for name in ("covers_from", "covers_to"):
            key = getattr(obligation, name)
            if key is not None and not first <= key <= last:
                what = "月份" if obligation.frequency == "monthly" else "报告期"
                yield f"{at}.{name}", f"{what}不在政策有效期 {period} 内", key


def _check_label(resolver: UnitResolver, path: str, label: str) -> Iterator[tuple[str, str, Any]]:
    """A unit label a policy uses: known, and a collective that stands for at least one unit."""
    if not resolver.knows(label):
        yield path, "未知单位（不在单位目录中）", label
    elif resolver.is_collective(label) and not resolver.expand(label):
        yield path, "集合单位在单位目录中还没有成员，请先在单位目录的 members 中填写", label


def _check_task_force(
    policy: Policy, resolver: UnitResolver, section_ids: set[str], numbers: set[str]
) -> Iterator[tuple[str, str, Any]]:
    """The task force's office, members and groups name known units, sections and measures."""
    office = policy.task_force.office
    if not resolver.knows(office.unit):
        yield "task_force.office.unit", "未知单位（不在单位目录中）", office.unit
    for j, member in enumerate(policy.task_force.members):
        if not resolver.knows(member):
            yield f"task_force.members[{j}]", "未知单位（不在单位目录中）", member
    for i, group in enumerate(policy.task_force.groups):
        for j, lead in enumerate(group.lead_units):
            if not resolver.knows(lead):
                yield f"task_force.groups[{i}].lead_units[{j}]", "未知单位（不在单位目录中）", lead
        for j, section_id in enumerate(group.sections):
            if section_id not in section_ids:
                yield f"task_force.groups[{i}].sections[{j}]", "章节不存在", section_id
        for j, number in enumerate(group.measures):
            if number not in numbers:
                yield f"task_force.groups[{i}].measures[{j}]", "措施编号不存在", number
