"""The demo's bureaus: figures that follow 序时进度 with a spread, statuses that match them, and
problems and next steps a reader can use, all fixed by a seed.

The lights are computed with the consolidation's own rules (``schedule_share``, ``light_for``)
and 陵川's thresholds (yellow from 10, red from 30 points behind), as the March bulletin shows
them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date

import pytest

from config.settings import Settings
from models.db import session_scope
from models.intake_store import load_policy_intake
from tasks.consolidation.consolidate import light_for, schedule_share
from tasks.demo import phrases
from tasks.demo.bureaus import DEMO_SEED, fill_form, load_county
from tasks.demo.progress import TargetSpec, assign_roles, county_figure, target_status
from tasks.demo.writing import County, form_cells
from tasks.forms.build import build_form
from tasks.forms.layout import form_spec_from_context
from tasks.forms.read import read_form_metadata
from tasks.forms.values import read_form
from tests.helpers import FORM_KEY, form_context, load_seeds, policy_bundle

POLICY = "lingchuan-2023"
MONTHS = ("2023-01", "2023-02", "2023-03")
CJK = re.compile(r"[\u4e00-\u9fff]")


def counties(settings: Settings, seed: str = DEMO_SEED) -> dict[str, County]:
    """The county as the demo's bureaus see it at the end of January, February and March."""
    with session_scope(settings) as session:
        intake = load_policy_intake(session, POLICY)
        return {
            period: load_county(session, intake.policy, cycle, seed=seed, yellow_points=10)
            for (obligation, period), cycle in intake.cycles.items()
            if obligation == "monthly-progress" and period in MONTHS
        }


@pytest.fixture
def lingchuan(settings: Settings) -> Settings:
    return load_seeds(settings, POLICY)


def standing(county: County) -> dict[str, tuple[float, float, str]]:
    """Target key → (figure, points behind 序时进度, light), as the consolidation reckons them."""
    out: dict[str, tuple[float, float, str]] = {}
    for target in county.targets.values():
        figure = county.figure(target)
        share = schedule_share(target.starts, target.due, county.covers_end)
        behind = round((share - min(figure / target.value, 1.0)) * 100, 1)
        out[target.key] = (figure, behind, light_for(behind, 10, 30))
    return out


def test_march_has_a_red_a_yellow_and_one_ahead_and_most_near_schedule(
    lingchuan: Settings,
) -> None:
    march = standing(counties(lingchuan)["2023-03"])
    lights = [light for _, _, light in march.values()]
    assert len(march) == 12  # measures 1 (3), 20 (4), 21 (3), 29 (2)
    assert lights.count("red") >= 1 and lights.count("yellow") >= 1
    assert any(behind <= -5 for _, behind, _ in march.values()), "one target runs ahead"
    near = [key for key, (_, behind, _) in march.items() if abs(behind) < 5]
    assert len(near) >= len(march) // 2, march
    # The 开工率 of 20 is due at the end of March: the quarter's target is the one far behind.
    assert march["20#3"][2] == "red"


def test_the_red_target_stays_red_two_months_for_the_unit_that_answers_for_it(
    lingchuan: Settings,
) -> None:
    by_month = {period: standing(c) for period, c in counties(lingchuan).items()}
    red = {period: {k for k, (_, _, light) in s.items() if light == "red"}
           for period, s in by_month.items()}  # fmt: skip
    persistent = red["2023-02"] & red["2023-03"]
    assert persistent, red
    # Escalation opens a red 督办单 for the measure's first-named lead unit (县发改局 on 20).
    measures = {m.number: m for m in policy_bundle(POLICY).policy.measures}
    first_leads = {measures[key.split("#")[0]].units[0].unit for key in persistent}
    assert "县发改局" in first_leads


def test_figures_are_cumulative_and_bounded(lingchuan: Settings) -> None:
    by_month = [standing(c) for c in counties(lingchuan).values()]
    targets = counties(lingchuan)["2023-01"].targets.values()
    for target in targets:
        figures = [month[target.key][0] for month in by_month]
        assert figures == sorted(figures), (target.metric, figures)
        assert figures[-1] <= 1.2 * target.value
    # Over the whole year too, at every month end, a rate never above 100.
    county = counties(lingchuan)["2023-01"]
    ends = [date(2023, m + 1, 1).toordinal() - 1 for m in range(1, 12)] + [
        date(2023, 12, 31).toordinal()
    ]
    for target in targets:
        role = county.roles[target.key]
        year = [county_figure(target, role, county.seed, date.fromordinal(d)) for d in ends]
        assert year == sorted(year) and max(year) <= 1.2 * target.value
        if target.unit == "%":
            assert max(year) <= 100


def test_same_seed_same_figures_another_seed_others(lingchuan: Settings) -> None:
    first = standing(counties(lingchuan)["2023-03"])
    assert standing(counties(lingchuan)["2023-03"]) == first
    other = standing(counties(lingchuan, seed="2024")["2023-03"])
    assert other != first
    # Another seed tells another story, with the same kind of spread.
    for seed in [str(n) for n in range(12)]:
        lights = [light for _, _, light in standing(counties(lingchuan, seed)["2023-03"]).values()]
        assert "red" in lights and "yellow" in lights, (seed, lights)


def test_figures_do_not_depend_on_the_process() -> None:
    """SHA-256, not hash(): another interpreter with another hash seed gives the same figure."""
    target = TargetSpec(
        "20", 0, "投资", 47, "亿元", "at_least", date(2023, 1, 1), date(2023, 12, 31)
    )
    code = (
        "from datetime import date; from tasks.demo.progress import TargetSpec, county_figure;"
        "t = TargetSpec('20', 0, '投资', 47, '亿元', 'at_least', date(2023, 1, 1),"
        " date(2023, 12, 31)); print(county_figure(t, 'on_pace', 's', date(2023, 3, 31)))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345", "PATH": ""})  # fmt: skip
    assert float(run.stdout) == county_figure(target, "on_pace", "s", date(2023, 3, 31))


@pytest.mark.parametrize(
    ("figure", "expected"),
    [(47.0, "已完成"), (11.0, "推进中"), (6.0, "滞后"), (0.0, "滞后")],
)
def test_status_follows_the_figure(figure: float, expected: str) -> None:
    # 47亿元 for 2023, at the end of March: 24.7% of the year gone, 11.6亿元 on schedule.
    target = TargetSpec(
        "20", 0, "投资", 47, "亿元", "at_least", date(2023, 1, 1), date(2023, 12, 31)
    )
    assert target_status(target, figure, date(2023, 3, 31), 10) == expected


def test_nothing_started_early_in_the_period_is_not_started() -> None:
    target = TargetSpec("1", 1, "矿井", 2, "座", "at_least", date(2023, 1, 12), date(2023, 12, 31))
    assert target_status(target, 0, date(2023, 1, 31), 10) == "未启动"


def test_roles_the_soonest_due_falls_behind() -> None:
    year = [TargetSpec(str(n), 0, "m", 50, "亿元", "at_least", date(2023, 1, 1), date(2023, 12, 31))
            for n in range(4)]  # fmt: skip
    quarter = TargetSpec("9", 0, "率", 40, "%", "at_least", date(2023, 1, 1), date(2023, 3, 31))
    roles = assign_roles([*year, quarter], "s")
    assert roles["9#0"] == "behind"
    assert sorted(roles.values()).count("lagging") == 1 and list(roles.values()).count("ahead") == 1


def _march_form(unit: str) -> bytes:
    context = form_context(
        POLICY, "monthly-progress", unit, "2023-03", "2023年3月", date(2023, 4, 5)
    )
    return build_form(form_spec_from_context(context), FORM_KEY)


def test_a_filled_form_reads_back_with_the_county_figures_and_the_lag_explained(
    lingchuan: Settings,
) -> None:
    county = counties(lingchuan)["2023-03"]
    blank = _march_form("县发改局")
    meta = read_form_metadata(blank, FORM_KEY)
    filled = fill_form(blank, FORM_KEY, plan=lambda m: form_cells(m, county))
    reading = read_form(filled, meta)
    assert reading.issues == ()
    reports = {m.number: m for m in reading.measures}
    rate = next(t for t in reports["20"].fields["targets"] if t["index"] == 3)
    assert rate["value"] == county.figure(county.targets[("20", 3)]) < 28  # red: under 70% of 40
    assert rate["status"] == "滞后" and reports["20"].status == "滞后"
    assert "截至3月底" in rate["note"]
    problems, steps, work = (reading.fields[k] for k in ("problems", "next-steps", "work-done"))
    assert "新建项目开工率" in problems and "低于序时进度" in problems and "主要原因" in problems
    assert "新建项目开工率" in steps
    assert "112个建设项目年度投资计划完成额" in work  # the figures the unit answers for
    assert all(CJK.search(t) for t in (problems, steps, work))
    assert "已按要求落实" not in filled.decode("latin-1")
    # 示范区管委会 leads 20 too, named after 县发改局: the one who answers explains, once.
    other = _march_form("示范区管委会")
    theirs = fill_form(other, FORM_KEY, plan=lambda m: form_cells(m, county))
    assert (
        "新建项目开工率"
        not in read_form(theirs, read_form_metadata(other, FORM_KEY)).fields["problems"]
    )


def test_units_write_varied_texts_and_about_half_have_no_problem() -> None:
    bundle = policy_bundle(POLICY)
    names = sorted(
        {name for m in bundle.policy.measures for name, _, _ in bundle.effective_units(m)}
    )
    titles = {m.number: m.title for m in bundle.policy.measures}
    said: dict[str, list[str]] = {month: [] for month in MONTHS}
    steps: list[str] = []
    for name in names:
        own = [titles[m.number] for m in bundle.policy.measures
               if any(n == name for n, _, _ in bundle.effective_units(m))]  # fmt: skip
        for month in MONTHS:
            said[month].append(phrases.problems(own, [], "s", name, month))
            steps.append(phrases.next_steps(own, [], "s", name, month))
    everything = [t for texts in said.values() for t in texts]
    quiet = [t for t in everything if t in phrases.NO_PROBLEM]
    assert 0.3 < len(quiet) / len(everything) < 0.7
    for month, texts in said.items():  # a month's bulletin does not read the same line over
        raised = [t for t in texts if t not in phrases.NO_PROBLEM]
        assert len(set(raised)) >= 0.75 * len(raised), (month, raised)
    raised = [t for t in everything if t not in phrases.NO_PROBLEM]
    assert all(CJK.search(t) and t.endswith("。") for t in raised + steps)
    assert all(1 <= t.count("。") <= 3 for t in raised + steps)


@pytest.mark.parametrize(
    ("title", "kind"),
    [("统筹做好煤炭增产增供", "energy"), ("创业担保贷款支持创业", "employment"),
     ("加快政府债券项目申报和资金使用", "finance"), ("加大招商引资力度", "projects"),
     ("推进住宿餐饮恢复增长", "services"), ("推动工业企业复产达效", "industry"),
     ("加大政策宣传引导力度", "general")],
)  # fmt: skip
def test_a_measure_kind_comes_from_its_title(title: str, kind: str) -> None:
    assert phrases.kind_of(title) == kind
