"""A draft units directory from the unit names of a notice: a county onboarding with none.

Every name the notice gives a measure, an obligation or the task force becomes a unit or a
collective: a unit gets an ASCII code from its pinyin initials (县发改局 → fgj), a kind inferred
from its name, placeholder mailboxes on example.org and a head to fill in; 甲（乙） is one unit
with its second nameplate as an alias; 各街道 / 相关沿海街镇 / 各有关部门 are collectives whose
members are guessed from the units the notice names, for the office to check. Whatever is a guess
is said in a review line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from pypinyin import Style, lazy_pinyin

from config.schema import UnitKind

# 各街道, 相关沿海街镇, 各有关部门, 县直各相关单位, 县服务业发展领导小组有关成员单位.
COLLECTIVE = re.compile(
    r"各|^其他|^其它|有关|相关|成员单位|以上单位$|"
    # a kind of unit, not one: 乡镇人民政府, 街道（地区）办事处
    r"^(?:乡镇|街道|镇|乡)(?:[（(][^（()）]*[）)])?(?:人民政府|政府|办事处)$"
)
_PAIR = re.compile(r"^(?P<name>[^（()）]+)[（(](?P<alias>[^（()）]+)[）)]$")
_TOWN_GOVERNMENT = re.compile(r"^(?P<town>.+?[镇乡])人民政府$")

# (pattern on the name, kind); the first match wins, so the specific comes before the general.
_KINDS: list[tuple[re.Pattern[str], UnitKind]] = [
    # vertical or upper-level bodies: the county cannot direct them, only ask
    (
        re.compile(
            r"人行|人民银行|税务|海事|海关|银保监|金融监管|监管组|监管分局|分局$|支行$|分行$|"
            r"^[省市](?!场)|公路段$|气象局$|烟草|邮政管理"
        ),
        UnitKind.external,
    ),
    (re.compile(r"(?:公司|集团|企业)$"), UnitKind.company),
    (
        re.compile(r"(?:镇|乡|街道|街道办事处|管委会|开发区|园区|新区|示范区|集聚区|经济区)$"),
        UnitKind.township,
    ),
    (
        re.compile(r"(?:局|委|办|中心|院|所|队|站|社|联|会|部|室|处|科|段|专班|组)$"),
        UnitKind.department,
    ),
]
_HEAD_TITLES = [
    ("局", "局长"),
    ("委", "主任"),
    ("办", "主任"),
    ("中心", "主任"),
    ("街道", "主任"),
    ("管委会", "主任"),
    ("镇", "镇长"),
    ("乡", "乡长"),
    ("公司", "董事长"),
    ("集团", "董事长"),
]


def unit_kind(name: str) -> UnitKind | None:
    """The kind a unit's name suggests; None when the name does not say."""
    if _TOWN_GOVERNMENT.match(name):
        return UnitKind.township
    for pattern, kind in _KINDS:
        if pattern.search(name):
            return kind
    return None


def is_collective(name: str) -> bool:
    """各街道, 相关沿海街镇, 各有关部门: addressees standing for several units."""
    return bool(COLLECTIVE.search(name))


def ascii_initials(name: str) -> str:
    """县发改局 → fgj: pinyin initials without the county-level prefix, lowercase ASCII."""
    core = re.sub(r"^[县区市]", "", name) if len(name) > 2 else name
    letters = "".join(lazy_pinyin(core, style=Style.FIRST_LETTER, errors="ignore"))
    return re.sub(r"[^a-z0-9]", "", letters.lower()) or "unit"


def county_code(county: str, policy_code: str) -> str:
    """陵川县 → lingchuan, the directory's name; without a county, the policy code less its year."""
    core = re.sub(r"(?:自治县|自治旗|县|区|市|旗)$", "", county)
    if core:
        syllables = lazy_pinyin(core, errors="ignore")
        code = re.sub(r"[^a-z0-9]", "", "".join(syllables).lower())
        if code:
            return code
    return re.sub(r"-(?:\d{4}|undated)(?:-.*)?$", "", policy_code) or policy_code


@dataclass
class UnitsDraft:
    """The draft directory as YAML data, and what the office must check in it."""

    code: str
    data: dict[str, Any]
    review: list[str] = field(default_factory=list)

    def to_yaml(self, source: str) -> str:
        header = [
            f"# 由 taskforce policy import 根据 {source} 生成的单位目录草稿。",
            "# 邮箱均为 example.org 示例地址，负责人姓名为（待填），请办公室逐一改为实际信息；",
            "# 集合单位（各街道、各有关部门等）的成员为按通知中点名的单位推定，请核对补全。",
        ]
        header += [f"# 待核对：{line}" for line in self.review]
        body = yaml.safe_dump(self.data, allow_unicode=True, sort_keys=False, width=1000)
        return "\n".join(header) + "\n" + body


def _head_title(name: str) -> str:
    return next((title for suffix, title in _HEAD_TITLES if name.endswith(suffix)), "负责人")


def _canonical_units(labels: list[str]) -> dict[str, list[str]]:
    """Canonical unit name → aliases, in first-mention order, from the names as written."""
    plain = {label for label in labels if not _PAIR.match(label)}
    units: dict[str, list[str]] = {}
    alias_of: dict[str, str] = {}
    for label in labels:
        pair = _PAIR.match(label)
        if pair and pair["alias"] not in plain:
            # 区水务局（区海洋局）: one body with two nameplates, unless the notice also names
            # the second on its own (then they are two units and the importer splits the pair).
            name = pair["name"]
            aliases = units.setdefault(name, [])
            for alias in (pair["alias"], label):
                if alias not in aliases and alias not in units:
                    aliases.append(alias)
                    alias_of[alias] = name
            continue
        names = [pair["name"], pair["alias"]] if pair else [label]
        for name in names:
            if name in alias_of or name in units:
                continue
            town = _TOWN_GOVERNMENT.match(name)
            short = town["town"] if town else None
            if short and short in units:  # 龙兴镇 first, 龙兴镇人民政府 later
                units[short].append(name)
                alias_of[name] = short
                continue
            units[name] = []
    # 龙兴镇人民政府 first, 龙兴镇 later: the short form is an alias of the first.
    for name in list(units):
        town = _TOWN_GOVERNMENT.match(name)
        if town and town["town"] in units and not units[town["town"]]:
            del units[town["town"]]
            units[name].append(town["town"])
    return units


def _members(collective: str, units: list[tuple[str, UnitKind]]) -> list[str]:
    """The units a collective's wording points at, among those the notice names."""

    if re.search(r"责任单位|牵头单位|成员单位", collective):  # every unit the measures name
        return [n for n, _ in units]
    suffixes: tuple[str, ...] = ()
    if "街" in collective:  # 各街道, 相关沿海街镇
        suffixes += ("街道", "街道办事处")
    if re.search(r"乡|镇", collective):
        suffixes += ("镇", "乡", "镇人民政府", "乡人民政府")
    if suffixes:
        return [n for n, k in units if k is UnitKind.township and n.endswith(suffixes)]
    if re.search(r"集团|企业|公司", collective):
        return [n for n, k in units if k is UnitKind.company]
    if re.search(r"部门|[县区市旗]直|各委|委、办、局|委办局", collective):
        # The government itself (泾县人民政府, the issuer) is not one of its departments.
        return [
            n for n, k in units
            if k is UnitKind.department and not re.search(r"[县区市旗]人民政府$", n)
        ]  # fmt: skip
    return []


def draft_units(
    labels: list[str], county: str, code: str, mentions: dict[str, list[str]] | None = None
) -> UnitsDraft:
    """A units directory naming every label a notice uses; ``code`` names its mailboxes' domain,
    ``mentions`` the measures that name each unit or collective (for the notes)."""
    mentions = mentions or {}
    review: list[str] = []
    unit_labels = [label for label in dict.fromkeys(labels) if not is_collective(label)]
    collective_labels = [label for label in dict.fromkeys(labels) if is_collective(label)]
    entries: list[dict[str, Any]] = []
    kinds: list[tuple[str, UnitKind]] = []
    codes: set[str] = set()
    for name, aliases in _canonical_units(unit_labels).items():
        kind = unit_kind(name)
        if kind is None:
            kind = UnitKind.department
            review.append(
                f"单位“{name}”的类型无法从名称判断，暂按部门（department）列出，请核对 kind"
            )
        kinds.append((name, kind))
        base = ascii_initials(name)
        unit_code, n = base, 1
        while unit_code in codes:
            n += 1
            unit_code = f"{base}{n}"
        codes.add(unit_code)
        domain = f"{code}.example.org"
        entry: dict[str, Any] = {"code": unit_code, "name": name}
        if aliases:
            entry["aliases"] = aliases
        entry |= {
            "kind": kind.value,
            "mailboxes": [f"{unit_code}@{domain}"],
            "head": {
                "name": "（待填）",
                "title": _head_title(name),
                "mailbox": f"{unit_code}-head@{domain}",
            },
        }
        if mentions.get(name):
            entry["note"] = f"原文措施{'、'.join(mentions[name])}点名。"
        entries.append(entry)
    collectives: list[dict[str, Any]] = []
    for label in collective_labels:
        members = _members(label, kinds)
        if members:
            note = "成员按通知中点名的同类单位推定，请办公室核对补全"
        else:
            note = "成员待办公室填写（members），填写前引用它的政策无法载入"
            review.append(f"集合单位“{label}”的成员无法从通知推定，请在 members 中填写所含单位")
        if mentions.get(label):
            note = f"原文措施{'、'.join(mentions[label])}点名。{note}"
        collectives.append({"name": label, "members": members, "note": note})
    data: dict[str, Any] = {
        "county": county or "（待填）",
        "note": "由通知原文生成的单位目录草稿：邮箱为示例地址，负责人待填，请办公室核对。",
        "units": entries,
    }
    if collectives:
        data["collectives"] = collectives
    if not county:
        review.append("未识别发文县，请填写 county（须与政策的 county 一致）")
    return UnitsDraft(code, data, review)
