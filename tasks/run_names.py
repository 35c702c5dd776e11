"""What the office reads in the Prefect UI's lists: run names and artifact titles.

A run is named by the policy, what it does and the day it works on (陵川2023 报送提醒 2023-04-10);
an artifact's title carries the moment its figures stand at, always in Asia/Shanghai.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from tasks.calendar import SHANGHAI

# A period label other than a month's: 2023年第一季度, 2023年第5周（…）, 2023年上半年, 2023年.
_OTHER_PERIOD = re.compile(r"^\d{4}年(?:第|上半年|下半年|$)")
# A county's own name without its rank: 陵川县 → 陵川 (a two-character name keeps it: 沁县).
_RANKS = ("自治县", "县", "市", "区", "旗")


def policy_short_name(county: str, issued: date) -> str:
    """陵川县 and a notice of 2023 → 陵川2023: the name the office uses for a policy's work."""
    for rank in _RANKS:
        if county.endswith(rank) and len(county) - len(rank) >= 2:
            county = county.removesuffix(rank)
            break
    return f"{county}{issued.year}"


def run_name(short: str, verb: str, moment: datetime, *, what: str = "", time: bool = False) -> str:
    """陵川2023 月度汇总 2023年2月 2023-03-08: the policy, what the run does, its day (and time).

    A quarter's or a week's consolidation is no 月度汇总: 青石2023 汇总 2023年第一季度 2023-04-11.
    """
    if verb.startswith("月度") and _OTHER_PERIOD.match(what):
        verb = verb.removeprefix("月度")
    local = moment.astimezone(SHANGHAI)
    when = f"{local:%Y-%m-%d %H:%M}" if time else f"{local:%Y-%m-%d}"
    return " ".join(part for part in (short, verb, what, when) if part)


def as_of_text(moment: datetime) -> str:
    """2023年3月8日 09:00, in Asia/Shanghai whatever zone ``moment`` carries."""
    local = moment.astimezone(SHANGHAI)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def artifact_title(subject: str, moment: datetime, *, figures: bool = True) -> str:
    """陵川县 2023年2月进展情况报告 报送情况（统计截至2023年3月8日 09:00）.

    ``figures=False`` for a run's record, not a count: 陵川2023 督办（2023年4月10日 09:00）.
    """
    stamp = f"统计截至{as_of_text(moment)}" if figures else as_of_text(moment)
    return f"{subject}（{stamp}）"
