"""Score the importer on the corpus of real notices (issue 21 §3).

Each notice in ``tests/data/notices`` is imported as a new county would import it, with no units
directory, and compared with what ``expected.yaml`` says the notice assigns (written by hand from
the notice): measures found of those expected, units right on the sampled measures, obligations
found, and how many review lines the import left for a person. The functions are pure but for
reading the notice; ``make bench`` prints the table (tests/bench/test_bench_import_score.py) and
``tests/policy_import/test_corpus_score.py`` asserts the issue's targets on it.

Matching, so that a number is only earned where the notice's own text is:

- an expected measure is found by the first imported measure, not yet taken by another, whose
  title or text holds the words the measure starts with (after NFKC and without whitespace):
  one imported measure that swallowed three of them finds one, not three;
- a sampled unit is right when that imported measure names it with the same role, the name
  equal after NFKC and whitespace (or one of the expected entry's ``also`` spellings), an alias
  in brackets at the end of either name being ignored (区水务局（区海洋局） = 区水务局);
- an expected obligation is found by an imported one of the same frequency (and the same day of
  the month, ``due.day_of_month``, or fixed date where the notice gives one).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from config.errors import ConfigError
from tasks.policy_import.importer import ImportResult, import_file, import_policy
from tasks.policy_import.text import read_document

NOTICES = Path(__file__).resolve().parents[1] / "data" / "notices"
EXPECTED = NOTICES / "expected.yaml"
# Stands in for "today" only in a notice that states no date (the CLI passes the real today).
SCORE_TODAY = date(2026, 12, 1)
NOTATIONS = frozenset(
    {
        "bare-brackets",
        "mixed-brackets",
        "nested-alias",
        "responsible-line",
        "lead-line",
        "lead-support-line",
        "labelled-bracket",
        "bracket-lead-support",
        "running-text-lead-support",
        "by-duty",
        "section-lead",
        "cn-numbered-measures",
        "numbered-items",
        "numbered-through",
        "table-cells",
        "table-rows",
        "traditional",
        "no-issuer",
        "annex-not-stored",
        "once",
        "weekly",
        "monthly",
        "quarterly",
        "half_yearly",
        "yearly",
    }
)
ROLES = frozenset({"lead", "support", "responsible"})
FREQUENCIES = frozenset({"once", "weekly", "monthly", "quarterly", "half_yearly", "yearly"})


@dataclass(frozen=True)
class ExpectedUnit:
    name: str
    role: str
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExpectedMeasure:
    number: str
    starts: str


@dataclass(frozen=True)
class Sample:
    number: str
    units: tuple[ExpectedUnit, ...]


@dataclass(frozen=True)
class ExpectedObligation:
    what: str
    frequency: str
    due: str
    day: int | None = None
    date: date | None = None


@dataclass(frozen=True)
class Expected:
    """One notice's hand-written expectations (an entry of expected.yaml)."""

    file: Path
    province: str
    level: str
    notations: tuple[str, ...]
    measures: tuple[ExpectedMeasure, ...]
    sampled: tuple[Sample, ...]
    obligations: tuple[ExpectedObligation, ...]
    seed: bool = False

    @property
    def name(self) -> str:
        return self.file.stem


@dataclass
class Score:
    """One notice's row of the table."""

    name: str
    level: str
    measures_found: int
    measures_expected: int
    extra_measures: int
    units_right: int
    units_expected: int
    obligations_found: int
    obligations_expected: int
    review: int
    mode: str
    seed: bool = False
    misses: list[str] = field(default_factory=list)
    review_lines: list[str] = field(default_factory=list)

    @property
    def measure_rate(self) -> float:
        if self.measures_expected == 0:
            return 1.0 if self.extra_measures == 0 else 0.0
        return self.measures_found / self.measures_expected

    @property
    def unit_rate(self) -> float:
        return self.units_right / self.units_expected if self.units_expected else 1.0

    @property
    def rate(self) -> float:
        """The notice's score: the lower of its measure and sampled-unit rates."""
        return min(self.measure_rate, self.unit_rate)


def _unit(raw: dict[str, Any]) -> ExpectedUnit:
    if raw["role"] not in ROLES:
        raise ValueError(f"{raw['name']}: role {raw['role']!r} is not one of {sorted(ROLES)}")
    return ExpectedUnit(str(raw["name"]), str(raw["role"]), tuple(raw.get("also", ())))


def _obligation(raw: dict[str, Any]) -> ExpectedObligation:
    if raw["frequency"] not in FREQUENCIES:
        raise ValueError(f"{raw['what']}: frequency {raw['frequency']!r} unknown")
    return ExpectedObligation(
        str(raw["what"]), str(raw["frequency"]), str(raw["due"]), raw.get("day"), raw.get("date")
    )


def parse_expected(raw: dict[str, Any], folder: Path) -> Expected:
    """An expected.yaml entry, checked for the mistakes a hand-written file invites."""
    unknown = set(raw["notations"]) - NOTATIONS
    if unknown:
        raise ValueError(f"{raw['file']}: unknown notations {sorted(unknown)}")
    measures = tuple(ExpectedMeasure(str(m["number"]), str(m["starts"])) for m in raw["measures"])
    if raw["count"] != len(measures):
        raise ValueError(f"{raw['file']}: count {raw['count']} but {len(measures)} measures listed")
    numbers = {m.number for m in measures}
    sampled = tuple(
        Sample(str(s["number"]), tuple(_unit(u) for u in s["units"])) for s in raw["sampled"]
    )
    stray = [s.number for s in sampled if s.number not in numbers]
    if stray:
        raise ValueError(f"{raw['file']}: sampled measures {stray} are not in its measures")
    return Expected(
        file=folder / raw["file"],
        province=str(raw["province"]),
        level=str(raw["level"]),
        notations=tuple(raw["notations"]),
        measures=measures,
        sampled=sampled,
        obligations=tuple(_obligation(o) for o in raw["obligations"]),
    )


def load_expected(path: Path = EXPECTED) -> list[Expected]:
    """Every corpus notice's expectations, in the file's order."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [parse_expected(entry, path.parent) for entry in data["notices"]]


def seed_expected(notice: Path, policy: dict[str, Any]) -> Expected:
    """A seed notice's expectations from its hand-checked config: every measure, the units of its
    first, middle and last measure, its obligations."""
    measures = [m for m in policy["measures"] if m.get("units")]
    picks = sorted({0, len(measures) // 2, len(measures) - 1})
    return Expected(
        file=notice,
        province="seed",
        level="county",
        notations=(),
        measures=tuple(
            ExpectedMeasure(str(m["number"]), m["title"][:12]) for m in policy["measures"]
        ),
        sampled=tuple(
            Sample(
                str(measures[i]["number"]),
                tuple(ExpectedUnit(u["unit"], u["role"]) for u in measures[i]["units"]),
            )
            for i in picks
        ),
        obligations=tuple(
            ExpectedObligation(
                o["name"],
                o["frequency"],
                "",
                o["due"].get("day_of_month"),
                _as_date(o["due"].get("fixed_date")),
            )
            for o in policy.get("obligations", [])
        ),
        seed=True,
    )


def _as_date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def squeeze(text: str) -> str:
    """Text as compared: NFKC (full-width punctuation to ASCII) and no whitespace."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


_TRAILING_ALIAS = re.compile(r"\([^()]*\)$")


def same_unit(imported: str, expected: ExpectedUnit) -> bool:
    """Whether an imported unit name names the expected unit (see the module docstring)."""
    got = squeeze(imported)
    for name in (expected.name, *expected.also):
        want = squeeze(name)
        if got == want or _TRAILING_ALIAS.sub("", got) == _TRAILING_ALIAS.sub("", want):
            return True
    return False


def match_measures(
    expected: tuple[ExpectedMeasure, ...], imported: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Expected measure number → the imported measure that holds its opening words."""
    taken: set[int] = set()
    found: dict[str, dict[str, Any]] = {}
    texts = [squeeze(f"{m.get('title', '')}{m.get('text', '')}") for m in imported]
    for want in expected:
        words = squeeze(want.starts)
        for index, text in enumerate(texts):
            if index not in taken and words in text:
                taken.add(index)
                found[want.number] = imported[index]
                break
    return found


def _obligation_found(want: ExpectedObligation, got: dict[str, Any]) -> bool:
    if got.get("frequency") != want.frequency:
        return False
    due = got.get("due") or {}
    # ``day`` is a day of the month: the rule's day_of_month (monthly, yearly, and quarterly or
    # half-yearly with ``lands``). A rule without one (days_after_end: 每季度结束后N日内) states
    # another deadline and does not match it.
    if want.day is not None and due.get("day_of_month") != want.day:
        return False
    return want.date is None or _as_date(due.get("fixed_date")) == want.date


def count_obligations(
    expected: tuple[ExpectedObligation, ...], imported: list[dict[str, Any]]
) -> int:
    """How many expected obligations an imported obligation stands for, one each."""
    left = list(imported)
    found = 0
    for want in expected:
        for got in left:
            if _obligation_found(want, got):
                left.remove(got)
                found += 1
                break
    return found


def score(expected: Expected, result: ImportResult, mode: str) -> Score:
    """Compare one import with the notice's expectations."""
    imported: list[dict[str, Any]] = result.policy.get("measures", [])
    found = match_measures(expected.measures, imported)
    misses = [f"措施{m.number}未找到" for m in expected.measures if m.number not in found]
    right = 0
    for sample in expected.sampled:
        measure = found.get(sample.number)
        refs = measure["units"] if measure else []
        for unit in sample.units:
            if any(r["role"] == unit.role and same_unit(r["unit"], unit) for r in refs):
                right += 1
            else:
                misses.append(f"措施{sample.number}：{unit.name}（{unit.role}）")
    return Score(
        name=expected.name,
        level=expected.level,
        measures_found=len(found),
        measures_expected=len(expected.measures),
        extra_measures=max(0, len(imported) - len(found)),
        units_right=right,
        units_expected=sum(len(s.units) for s in expected.sampled),
        obligations_found=count_obligations(
            expected.obligations, result.policy.get("obligations", [])
        ),
        obligations_expected=len(expected.obligations),
        review=len(result.review),
        mode=mode,
        seed=expected.seed,
        misses=misses,
        review_lines=list(result.review),
    )


def run_import(notice: Path, units_dir: Path) -> tuple[ImportResult | None, str]:
    """Import a notice as a new county would: ``import_file`` with ``units_dir`` holding no
    directory for it. An importer that stops for want of a units directory is run on the notice
    with an empty one instead (``import_policy`` with no directory), and the mode says so; any
    other stop is the mode and no result."""
    code = notice.stem.lower()
    try:
        return import_file(notice, code=code, units_dir=units_dir, today=SCORE_TODAY), "no-dir"
    except ConfigError as exc:
        if "单位目录" not in str(exc):
            return None, f"stopped: {exc}"
    try:
        result = import_policy(
            read_document(notice),
            code=code,
            directory=None,
            units_directory="none",
            source=str(notice),
            today=SCORE_TODAY,
        )
    except ConfigError as exc:
        return None, f"stopped: {exc}"
    return result, "empty-dir"


def score_notice(expected: Expected, units_dir: Path) -> Score:
    """Import one notice and score it; a stopped import finds nothing. Each notice gets an empty
    folder of its own under ``units_dir``: a units draft one import writes is not another's."""
    own = units_dir / expected.name
    own.mkdir(parents=True, exist_ok=True)
    result, mode = run_import(expected.file, own)
    if result is None:
        units = sum(len(s.units) for s in expected.sampled)
        return Score(
            expected.name, expected.level, 0, len(expected.measures), 0, 0, units, 0,
            len(expected.obligations), 0, mode, expected.seed, [mode],
        )  # fmt: skip
    return score(expected, result, mode)


@dataclass(frozen=True)
class Totals:
    measures_found: int
    measures_expected: int
    units_right: int
    units_expected: int
    obligations_found: int
    obligations_expected: int
    review: int

    @property
    def measure_rate(self) -> float:
        return self.measures_found / self.measures_expected if self.measures_expected else 1.0

    @property
    def unit_rate(self) -> float:
        return self.units_right / self.units_expected if self.units_expected else 1.0


def totals(scores: list[Score]) -> Totals:
    """The sums over some rows (the corpus rows, not the seeds, for the issue's targets)."""
    return Totals(
        sum(s.measures_found for s in scores),
        sum(s.measures_expected for s in scores),
        sum(s.units_right for s in scores),
        sum(s.units_expected for s in scores),
        sum(s.obligations_found for s in scores),
        sum(s.obligations_expected for s in scores),
        sum(s.review for s in scores),
    )


def _pct(rate: float) -> str:
    return f"{100 * rate:5.1f}%"


def table(scores: list[Score]) -> str:
    """The score table: a row per notice, the corpus totals, then the seeds and their totals."""
    head = (
        f"{'notice':<52} {'level':<8} {'measures':>9} {'extra':>5} {'units':>7} "
        f"{'oblig.':>6} {'review':>6} {'score':>6}  mode"
    )
    lines = [head, "-" * len(head)]

    def row(s: Score) -> str:
        return (
            f"{s.name:<52} {s.level:<8} {s.measures_found:>4}/{s.measures_expected:<4} "
            f"{s.extra_measures:>5} {s.units_right:>3}/{s.units_expected:<3} "
            f"{s.obligations_found:>2}/{s.obligations_expected:<3} {s.review:>6} "
            f"{_pct(s.rate)}  {s.mode}"
        )

    def total(label: str, t: Totals) -> str:
        return (
            f"{label:<52} {'':<8} {t.measures_found:>4}/{t.measures_expected:<4} {'':>5} "
            f"{t.units_right:>3}/{t.units_expected:<3} "
            f"{t.obligations_found:>2}/{t.obligations_expected:<3} {t.review:>6}  "
            f"measures {_pct(t.measure_rate)}, sampled units {_pct(t.unit_rate)}"
        )

    corpus = [s for s in scores if not s.seed]
    seeds = [s for s in scores if s.seed]
    lines += [row(s) for s in corpus]
    lines += ["-" * len(head), total(f"TOTAL corpus ({len(corpus)} notices)", totals(corpus))]
    if corpus:
        lowest = min(corpus, key=lambda s: s.rate)
        lines.append(f"lowest notice: {lowest.name} {_pct(lowest.rate)}")
    if seeds:
        lines += ["", "seeds (config/policies, not in the corpus totals):"]
        lines += [row(s) for s in seeds]
        lines.append(total("TOTAL seeds", totals(seeds)))
    return "\n".join(lines)
