"""The bulletin's two charts, as plain SVG drawn inline in the HTML bulletin and its PDF.

图1: the on-time rate (按时报送率) of each month up to this one. 图2: per group (分组, as the
bulletin's 分组情况 table groups units and measures) this month's and last month's on-time rate,
and its measures' lights (红黄绿灯). The geometry is computed here;
``templates/reports/_chart.html`` only draws it. Built for a printout in black and white: every
bar carries its number, the two months are told apart by a direct label (本月/上月), the lights
by fill pattern and a legend, not by colour alone. No script, no plotting library: WeasyPrint
and any browser draw it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tasks.consolidation.bulletin import percent
from tasks.consolidation.consolidate import OTHER_GROUP, Consolidation, PreviousCycle
from tasks.cycles import PeriodWords, period_words

WIDTH = 640  # user units; the SVG scales to the text width (180 mm on A4: 1 unit ≈ 0.28 mm)
FONT = 11  # ≈ 8.8 pt printed
SMALL = 9.5
# The measure lights of tasks/consolidation/consolidate.py; 无灯: no quantified target, or no
# value reported for one (the figure's note says so).
LIGHTS = (
    ("red", "红灯"),
    ("yellow", "黄灯"),
    ("green", "绿灯"),
    ("check", "待核实"),
    ("none", "无灯"),
)
LIGHTS_NOTE = "注：灯色按措施计；无灯指无量化目标或未报完成值的措施。"


@dataclass(frozen=True)
class Rate:
    """A share of units on time: ``on_time`` of ``units``."""

    label: str
    on_time: int
    units: int

    @property
    def share(self) -> Decimal:
        return Decimal(self.on_time) / Decimal(self.units) if self.units else Decimal(0)

    @property
    def text(self) -> str:
        return percent(self.share) if self.units else "—"


@dataclass(frozen=True)
class GroupFigures:
    name: str
    now: Rate
    before: Rate | None  # last month, the same member units; None in a policy's first month
    lights: tuple[tuple[str, int], ...]  # (light, measures) in LIGHTS order


def _short(label: str, year: str) -> str:
    """2023年2月 → 2月 in a 2023 bulletin; an earlier year's months keep their year. A week's
    days are left off a column's label (第5周); a year's label stays whole."""
    label = re.sub(r"（[^（）]*）$", "", label)
    short = label.removeprefix(f"{year}年")
    return short if short else label


def month_rates(c: Consolidation, earlier: Sequence[PreviousCycle] = ()) -> list[Rate]:
    """This month and the months before it (oldest first), each consolidated as of this run."""
    months = list(earlier) or ([c.source.previous] if c.source.previous else [])
    year = c.source.period[:4]
    rates = [Rate(_short(m.period_label, year), m.on_time, m.obligated) for m in months]
    rates.append(
        Rate(_short(c.source.period_label, year), c.counts["on_time"], c.counts["obligated"])
    )
    return rates


def group_figures(c: Consolidation) -> list[GroupFigures]:
    """Each group with member units or measures, in directory order, then 其他 as the bulletin's
    分组情况 table has it: units leading none of a group's measures, measures in no group."""
    names = [g.name for g in c.groups if g.units or g.measures]
    if any(not u.groups for u in c.units) or any(not m.group for m in c.measures):
        names.append(OTHER_GROUP)
    previous = c.source.previous
    words = period_words(c.source.frequency)
    out = []
    for name in names:
        members = [
            u for u in c.units if (name in u.groups if name != OTHER_GROUP else not u.groups)
        ]
        measures = [m for m in c.measures if m.group == (name if name != OTHER_GROUP else "")]
        now = Rate(words.this, sum(1 for u in members if u.state == "on_time"), len(members))
        before = None
        if previous is not None:
            then = [previous.states[u.code] for u in members if u.code in previous.states]
            before = Rate(words.last, sum(1 for s in then if s == "on_time"), len(then))
        counts = {key: 0 for key, _ in LIGHTS}
        for m in measures:
            counts[m.light] += 1
        out.append(GroupFigures(name, now, before, tuple(counts.items())))
    return out


def _text_width(text: str, size: float) -> float:
    """Rough advance of a label: a CJK character is one em, Latin and digits about half."""
    return sum(size if ord(ch) > 0x2E80 else size * 0.56 for ch in text)


@dataclass
class _Canvas:
    """What a figure draws, in the order the template draws it: lines, then boxes, then text."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    rects: list[dict[str, Any]] = field(default_factory=list)
    texts: list[dict[str, Any]] = field(default_factory=list)

    def line(self, x1: float, y1: float, x2: float, y2: float, cls: str) -> None:
        self.lines.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "cls": cls})

    def rect(
        self, x: float, y: float, w: float, h: float, cls: str, label: str = "", value: str = ""
    ) -> None:
        """A box; a bar names what it stands for (label) and its figure (value) for the tests."""
        self.rects.append({"x": x, "y": y, "w": w, "h": h, "cls": cls, "label": label,
                           "value": value})  # fmt: skip

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        anchor: str = "start",
        size: float = FONT,
        bold: bool = False,
    ) -> None:
        self.texts.append({"x": x, "y": y, "text": text, "anchor": anchor, "size": size,
                           "bold": bold})  # fmt: skip

    def figure(
        self, key: str, title: str, height: float, width: float = WIDTH, note: str = ""
    ) -> dict[str, Any]:
        """The figure as the template draws it; ``share``: its part of the text width, so one
        user unit prints the same size in every figure."""
        return {"id": key, "title": title, "note": note, "width": width, "height": height,
                "share": round(100 * width / WIDTH, 1), "lines": self.lines, "rects": self.rects,
                "texts": self.texts}  # fmt: skip


def months_chart(rates: Sequence[Rate], words: PeriodWords | None = None) -> dict[str, Any]:
    """图1: one column per month (or quarter, week …), its rate above it, the period below; this
    one dark."""
    words = words or period_words("monthly")
    top, plot, bottom, left = 30, 120, 22, 40
    slot = min(70.0, (WIDTH - left - 10) / max(len(rates), 1))
    width = max(300.0, left + slot * len(rates) + 10)  # a few months: a narrower figure
    bar = slot * 0.55
    draw = _Canvas()
    for tick in (0, 50, 100):
        y = top + plot - plot * tick / 100
        draw.line(left, y, width - 10, y, "grid")
        draw.text(left - 4, y + 3.5, f"{tick}%", anchor="end", size=SMALL)
    for i, r in enumerate(rates):
        x = left + i * slot + (slot - bar) / 2
        h = float(r.share) * plot
        last = i == len(rates) - 1
        draw.rect(x, top + plot - h, bar, h, "now" if last else "before", r.label, r.text)
        draw.text(x + bar / 2, top + plot - h - 4, r.text, anchor="middle", bold=last)
        label = r.label + (f"（{words.this}）" if last else "")
        draw.text(x + bar / 2, top + plot + 15, label, anchor="middle", bold=last)
    return draw.figure("months", f"图1 {words.each}按时报送率", top + plot + bottom, width)


def groups_chart(groups: Sequence[GroupFigures]) -> dict[str, Any]:
    """图2: a row per group: its name, its on-time rate this month and last, its lights."""
    names_w = max([_text_width(g.name, FONT) for g in groups] + [60.0]) + 8
    rate_x, rate_w = names_w + 28, 150.0  # the 本月/上月 tag, then the bar
    light_x = rate_x + rate_w + 52
    most = max([sum(n for _, n in g.lights) for g in groups] + [1])
    unit = (WIDTH - light_x - 40) / most  # leaves room for 共N项 after the longest bar
    head, row_h = 50, 34
    labels = dict(LIGHTS)
    draw = _Canvas()
    draw.text(rate_x - 26, 16, "按时报送率", bold=True)
    draw.text(light_x, 16, "措施灯色（项）", bold=True)
    legend_x = light_x
    for key, label in LIGHTS:
        draw.rect(legend_x, 24, 14, 10, f"light-{key}")
        draw.text(legend_x + 17, 33, label, size=SMALL)
        legend_x += 17 + _text_width(label, SMALL) + 6
    for i, g in enumerate(groups):
        y = head + i * row_h
        if i:
            draw.line(0, y - 4, WIDTH, y - 4, "rule")
        draw.text(names_w - 6, y + 17, g.name, anchor="end")
        bars = [(g.now, "now", y + 1)] + ([(g.before, "before", y + 14)] if g.before else [])
        for rate, cls, by in bars:
            w = float(rate.share) * rate_w
            draw.text(rate_x - 4, by + 9.5, rate.label, anchor="end", size=SMALL)
            draw.rect(rate_x, by, w, 11, cls, f"{g.name}{rate.label}", rate.text)
            draw.text(rate_x + w + 3, by + 9.5, rate.text, size=SMALL, bold=cls == "now")
        x, hidden = light_x, []
        for key, count in g.lights:
            if not count:
                continue
            w = count * unit
            draw.rect(x, y + 4, w, 18, f"light-{key}", f"{g.name}{labels[key]}", str(count))
            # The count sits on a white plate so it reads on any pattern, in black and white.
            plate = _text_width(str(count), FONT) + 2
            if w >= plate:
                draw.rect(x + w / 2 - plate / 2, y + 7, plate, 12, "plate")
                draw.text(x + w / 2, y + 17, str(count), anchor="middle", bold=True)
            else:  # too narrow for its number: said after the bar instead
                hidden.append(f"{labels[key]}{count}")
            x += w
        total = sum(n for _, n in g.lights)
        end = f"共{total}项" + (f"（{'、'.join(hidden)}）" if hidden else "") if total else "无措施"
        draw.text(x + 4, y + 17, end, size=SMALL)
    height = head + row_h * len(groups) + 6
    return draw.figure("groups", "图2 各组按时报送率与措施灯色", height, note=LIGHTS_NOTE)


def charts(c: Consolidation, earlier: Sequence[PreviousCycle] = ()) -> list[dict[str, Any]]:
    """Both figures of a month's bulletin; 图2 only when the policy has groups to compare."""
    figures = [months_chart(month_rates(c, earlier), period_words(c.source.frequency))]
    groups = group_figures(c)
    if any(g.name != OTHER_GROUP for g in groups):  # 其他 alone compares with nothing
        figures.append(groups_chart(groups))
    return figures
