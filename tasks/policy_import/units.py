"""Responsible units in the notations the notices use, and their resolution in the directory.

Notations seen in the seeds and their common variants:

    〔责任单位：县能源局、县应急局，崇安能源公司〕      every unit responsible
    （县工信科技局、县文旅局负责）                     every unit responsible
    （县发改局牵头，县工信科技局、县住建局配合）        lead / support
    （县工信科技局牵头，县财政局，龙兴镇人民政府负责）  a role word covers the units before it
    （牵头单位：县发改局；配合单位：县财政局）          label sets the role of what follows
    （县服务业发展领导小组有关成员单位）                a bare list: responsible
    (区绿化市容局、区水务局（区海洋局）、相关沿海街镇)    a bare list; 甲（乙） is one unit
    责任单位：县发改局、县财政局，各乡镇               a label line after the measure body
    牵头单位:县发改局;配合单位:县财政局                ASCII punctuation
    （县发改局、县财政局按职责分工负责）              every unit responsible
    …由县发改局牵头，县财政局配合落实…                running text: the text is kept
    …。各有关部门按职责分工负责。                     running text: the text is kept

Brackets may be ASCII or full-width and mismatched (〔…] after a page break). Without a
directory, whether a bracket is a unit list is decided from the names' suffixes alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from config.schema import Role, UnitsDirectory

OPENERS = "〔【[（("
CLOSERS = "〕】]）)"
_LABELLED = re.compile(r"[〔【\[（(]\s*(?:责任单位|牵头单位|主责单位)\s*[:：]")
_BARE_LABEL = re.compile(
    r"(?P<content>(?:责任单位|牵头单位|主责单位)\s*[:：][^。〔〕【】\[\]]*?)[。；;]?$"
)
_SEPARATORS = "、，,；;"
# "按职责分工负责", "配合落实": the words around the role word are not part of the name.
_ROLE_SUFFIX = re.compile(
    r"^(?P<name>.*?)(?:按照?职责(?:分工)?|依职责|分别|共同)?"
    r"(?P<role>牵头负责|牵头|配合|协助|参与|参加|共同负责|负责)(?:落实|实施|推进)?$"
)
_ROLE_LABEL = re.compile(r"^(?P<role>责任|牵头|主责|配合|协办|参与|协同)单位\s*[:：]\s*")
# A label inside a bracket after other matter: (责任领导:杜新国;牵头单位:区发改局).
_INNER_LABEL = re.compile(r"(?:责任单位|牵头单位|主责单位)\s*[:：]")
# Label lines joined without a separator: "牵头单位:区发改局" + "责任单位:立山经济开发区".
_GLUED_LABEL = re.compile(
    r"(?<=[^\s；;，,、:：])(?=(?:责任|牵头|主责|配合|协办|参与|协同)单位\s*[:：])"
)
_ROLE_WORDS = {
    "牵头": Role.lead,
    "牵头负责": Role.lead,
    "主责": Role.lead,
    "配合": Role.support,
    "协助": Role.support,
    "协办": Role.support,
    "参与": Role.support,
    "参加": Role.support,
    "协同": Role.support,
    "负责": Role.responsible,
    "共同负责": Role.responsible,
    "责任": Role.responsible,
}
# "县财政局等相关单位": the unnamed rest is not a unit.
_UNNAMED_REST = re.compile(r"等(?:相关|有关|其他)?(?:单位|部门|机构)?$")
# What a unit's name ends with; used only to tell a bare unit list from a parenthetical remark.
# A name may carry its second nameplate in brackets, 区水务局（区海洋局）, or a bracketed note
# inside it, 各县（市、区）人民政府.
UNIT_LIKE = re.compile(
    r"^(?:[^（()）]|[（(][^（()）]{1,20}[）)]){1,30}?(?:局|办|委|中心|政府|管委会|公司|集团|组|社|段|会|单位|支行|分行|行|部|所|站|"
    r"院|队|部门|专班|联|室|处|科|区|镇|乡|街道|企业|机构|海关)(?:[（(][^（()）]{1,20}[）)])?$"
)
# Running text that names units without any bracket; the measure keeps its text.
_LED_BY = re.compile(
    r"由(?P<lead>[^，,。；;（()）由]{2,60}?)牵头(?:负责)?"
    r"(?:[，,]\s*(?P<support>[^，,。；;（()）]{2,80}?)(?:配合|协助|参与)(?:落实|实施|推进|做好)?)?"
)
_BY_DUTY = re.compile(
    r"(?:^|(?<=[。；;，,]))(?P<units>[^。；;，,（()）]{2,80}?)(?:要)?按照?职责(?:分工)?"
    r"(?:负责|抓好落实|落实)"
)


@dataclass(frozen=True)
class Bracket:
    """A responsibility bracket found in a measure's text."""

    start: int
    end: int  # exclusive
    content: str  # between the brackets, label included
    labelled: bool  # 〔责任单位：…〕 / 牵头单位：… rather than a trailing （…负责）


@dataclass
class UnitNames:
    """Every label of a directory, to resolve names as written."""

    units: dict[str, str] = field(default_factory=dict)  # label -> canonical name
    collectives: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, directory: UnitsDirectory | None) -> UnitNames:
        names = cls()
        if directory is None:
            return names
        for unit in directory.units:
            for label in (unit.name, *unit.aliases):
                names.units[label] = unit.name
        for collective in directory.collectives:
            names.collectives.update((collective.name, *collective.aliases))
        return names

    def knows(self, label: str) -> bool:
        return label in self.units or label in self.collectives

    def canonical(self, label: str) -> str:
        return self.units.get(label, label)

    def labels_longest_first(self) -> list[str]:
        return sorted({*self.units, *self.collectives}, key=len, reverse=True)


def _closing(text: str, start: int) -> int | None:
    """Index of the bracket closing the one at ``start``; nested （） pairs are skipped."""
    depth = 0
    for index in range(start + 1, len(text)):
        char = text[index]
        if char in "（(":
            depth += 1
        elif char in CLOSERS:
            if depth == 0:
                return index
            depth -= 1
    return None


def _opening(text: str, end: int) -> int | None:
    """Index of the bracket opening the one that closes at ``end``."""
    depth = 0
    for index in range(end - 1, -1, -1):
        char = text[index]
        if char in "）)":
            depth += 1
        elif char in OPENERS:
            if depth == 0:
                return index
            depth -= 1
    return None


def _enclosing(text: str, at: int) -> int | None:
    """Index of the bracket that encloses position ``at``, if any."""
    depth = 0
    for index in range(at - 1, -1, -1):
        char = text[index]
        if char in CLOSERS:
            depth += 1
        elif char in OPENERS:
            if depth == 0:
                return index
            depth -= 1
    return None


def find_bracket(text: str, names: UnitNames) -> Bracket | None:
    """The measure's responsibility bracket: a labelled one anywhere, else a trailing unit list."""
    labelled = _LABELLED.search(text)
    if labelled:
        close = _closing(text, labelled.start())
        end = len(text) if close is None else close + 1
        content = text[labelled.start() + 1 : close if close is not None else len(text)]
        return Bracket(labelled.start(), end, content.strip(), True)
    inner = _INNER_LABEL.search(text)
    open_at = _enclosing(text, inner.start()) if inner else None
    if inner and open_at is not None:
        close = _closing(text, open_at)
        end = len(text) if close is None else close + 1
        content = text[inner.start() : close if close is not None else len(text)]
        return Bracket(open_at, end, content.strip(), True)
    stripped = text.rstrip()
    # Unbracketed at the end: "…。牵头单位：县发改局；配合单位：县财政局。"
    bare = _BARE_LABEL.search(stripped)
    if bare:
        return Bracket(bare.start(), len(stripped), bare["content"].strip(), True)
    trailing = _trailing_list(stripped, names)
    if trailing is not None:
        return trailing
    return _running_text(stripped, names)


def _trailing_list(text: str, names: UnitNames) -> Bracket | None:
    """A bracketed unit list closing the measure, before at most a full stop."""
    core = text.rstrip("。；;．. ")
    if not core or core[-1] not in CLOSERS:
        return None
    open_at = _opening(core, len(core) - 1)
    if open_at is None:
        return None
    content = core[open_at + 1 : -1].strip()
    if not looks_like_units(content, names):
        return None
    # "…入海。(区水务局)。": the stop after the list goes with it; "做好工作(…)。" keeps its stop.
    before = core[:open_at].rstrip()
    end = len(text) if before.endswith(("。", "；", ";")) else len(core)
    return Bracket(open_at, end, content, False)


def _running_text(text: str, names: UnitNames) -> Bracket | None:
    """由X牵头，Y配合 / X按职责分工负责 in a sentence: units found, nothing cut from the text."""
    for match in _LED_BY.finditer(text):
        content = f"{match['lead']}牵头"
        if match["support"]:
            content += f"，{match['support']}配合"
        if looks_like_units(content, names):
            return Bracket(len(text), len(text), content, False)
    for match in _BY_DUTY.finditer(text):
        content = f"{match['units'].strip()}负责"
        if looks_like_units(content, names):
            return Bracket(len(text), len(text), content, False)
    return None


def looks_like_units(content: str, names: UnitNames) -> bool:
    """True when a bracket's content is a list of units (with or without role words)."""
    tokens = _tokens(FIRST_LEADS.sub("", content))
    if not tokens:
        return False
    for token in tokens:
        token = _ROLE_LABEL.sub("", token)
        match = _ROLE_SUFFIX.match(token)
        name = _clean(match["name"] if match and match["name"] else token)
        if not (names.knows(name) or UNIT_LIKE.match(name)):
            return False
    return True


def split_units(content: str) -> list[str]:
    """A list of unit names split at its separators, brackets inside a name kept whole."""
    return _tokens(content)


def _tokens(content: str) -> list[str]:
    """Split on list separators outside nested brackets."""
    tokens: list[str] = []
    depth = 0
    current = ""
    for char in content:
        if char in "（(<‹〈《":  # 各县<市、区>人民政府 is one name
            depth += 1
        elif char in "）)>›〉》":
            depth = max(0, depth - 1)
        if char in _SEPARATORS and depth == 0:
            tokens.append(current.strip())
            current = ""
        else:
            current += char
    tokens.append(current.strip())
    return _joined_collectives(_split_conjunctions([t for t in tokens if t]))


def _unit_like(token: str) -> bool:
    match = _ROLE_SUFFIX.match(_ROLE_LABEL.sub("", token))
    return bool(UNIT_LIKE.match(_clean(match["name"] if match and match["name"] else token)))


def _split_conjunctions(tokens: list[str]) -> list[str]:
    """市级各有关部门及各县市区政府: two labels, when both sides read as units."""
    out: list[str] = []
    for token in tokens:
        parts = re.split(r"以及|及", token)
        if len(parts) > 1 and all(_unit_like(p) for p in parts):
            out.extend(parts)
        else:
            out.append(token)
    return out


# What follows 各 in one addressee written as a list: 各县、市、区政府 / 区政府各委、办、局.
_GENERIC = re.compile(r"^(?:[县市区乡镇旗]|委|办|局|街道|部门|单位|机构)(?:人民政府|政府|办事处)?$")


def _joined_collectives(tokens: list[str]) -> list[str]:
    """各县、市、区政府 / 各街道、镇人民政府: one collective written with separators inside."""
    out: list[str] = []
    index = 0
    while index < len(tokens):
        end = index + 1
        if "各" in tokens[index]:
            while end < len(tokens) and _GENERIC.match(tokens[end]):
                end += 1
        out.append("、".join(tokens[index:end]))
        index = end
    return out


def _clean(name: str) -> str:
    name = name.strip().removeprefix("由")
    name = re.sub(r"(?:按照?职责(?:分工)?|依职责|分别|共同)$", "", name)
    return _UNNAMED_REST.sub("", name).strip()


# "（A、B、C等负责，列第一位者为牵头单位，下同）": the first unit named leads; with 下同 the rule
# holds for every list after it in the notice (the importer carries that on).
FIRST_LEADS = re.compile(
    r"[,，；;]?\s*(?:排名|排在|列|名列)?第一(?:位|个)?(?:者|的)?(?:单位)?为牵头单位"
    r"(?P<same>[,，；;]?\s*下同)?"
)


def parse_units(content: str, first_leads: bool = False) -> list[tuple[str, Role]]:
    """(name as written, role) for each unit of a bracket's content, in order.

    ``first_leads``: an earlier list said 列第一位者为牵头单位，下同 (a list may say it itself).
    """
    rule = FIRST_LEADS.search(content)
    if rule is not None:
        content = content[: rule.start()] + content[rule.end() :]
    units = _parse_units(content)
    if (
        (rule is not None or first_leads)
        and units
        and all(role is Role.responsible for _, role in units)
    ):
        units[0] = (units[0][0], Role.lead)
    return units


def _parse_units(content: str) -> list[tuple[str, Role]]:
    # A label garbled by a page break ("责责任单位：") is still a label.
    content = re.sub(r"^[责任单位]{0,4}责任单位\s*[:：]\s*", "", content.strip().rstrip("。"))
    content = _GLUED_LABEL.sub("；", content)
    out: list[tuple[str, Role]] = []
    pending: list[str] = []
    label_role: Role | None = None
    for token in _tokens(content):
        label = _ROLE_LABEL.match(token)
        if label:
            out.extend((name, label_role or Role.responsible) for name in pending)
            pending = []
            label_role = _ROLE_WORDS[label["role"]]
            token = token[label.end() :]
        match = _ROLE_SUFFIX.match(token)
        if match and match["name"]:
            pending.append(_clean(match["name"]))
            role = _ROLE_WORDS[match["role"]]
            out.extend((name, role) for name in pending)
            pending = []
        elif token:
            pending.append(_clean(token))
    # Units after the last role word: under a label they take its role, else they are responsible.
    out.extend((name, label_role or Role.responsible) for name in pending)
    return [(name, role) for name, role in out if name]


@dataclass
class ResolvedUnits:
    refs: list[tuple[str, Role]]
    unknown: list[str]
    notes: list[str]


def resolve_units(parsed: list[tuple[str, Role]], names: UnitNames) -> ResolvedUnits:
    """Keep names as written when the directory knows them; split 甲（乙）; keep the unknown."""
    refs: list[tuple[str, Role]] = []
    unknown: list[str] = []
    notes: list[str] = []
    for name, role in parsed:
        if names.knows(name):
            refs.append((name, role))
            continue
        pair = re.fullmatch(r"(?P<a>.+?)[（(](?P<b>.+?)[）)]", name)
        if pair and names.knows(pair["a"]) and names.knows(pair["b"]):
            refs.extend([(pair["a"], role), (pair["b"], role)])
            notes.append(f"“{name}”按{pair['a']}、{pair['b']}两个单位列出，请确认")
            continue
        refs.append((name, role))  # never dropped: the office adds it to the directory
        unknown.append(name)
    return ResolvedUnits(refs, unknown, notes)
