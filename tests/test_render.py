"""Notice mails: golden renders of every kind for a real unit of each seed, escaping, errors.

The contexts are built from the real policy and units files and the real calendar, the way the
reminder flow builds them. Regenerate the golden files after a deliberate template change with

    TASKFORCE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render.py

and read the diff: every golden file is a mail a county office would sign.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment

from config.errors import RenderError, TaskforceError
from config.loading import PolicyBundle, load_policy_file
from config.schema import Role
from config.settings import Settings
from tasks.calendar import WorkingCalendar
from tasks.consolidation.pdf import NO_CJK_FONT
from tasks.cycles import CycleSpec, cycles_for_policy, report_title
from tasks.escalation.rules import clocks_13710
from tasks.mail import notices
from tasks.mail.failures import FailedMail, digest_context
from tasks.render import (
    KINDS,
    RenderedMail,
    article,
    cn_date,
    cn_datetime,
    cn_number,
    make_environment,
    num,
    render_notice,
)
from tests.helpers import DATA, POLICY_FILES, at, check_golden

GOLDEN = DATA / "golden" / "mail"
SUFFIXES = {"subject": "subject.txt", "text": "txt", "html": "html"}


# ---------------------------------------------------------------------------------------------
# Contexts from the real YAML


@dataclass(frozen=True)
class Case:
    """One unit's cycle of one obligation: the mails of every kind a golden directory holds."""

    directory: str
    policy: str
    unit: str
    obligation: str
    period: str
    kinds: tuple[str, ...] = KINDS


CASES = [
    # 陵川: 县人社局, the 2023年2月 monthly progress report, due Sunday 2023-03-05.
    Case("lingchuan-2023", "lingchuan-2023", "县人社局", "monthly-progress", "2023-02"),
    # 新绛: 县交通运输局, the 2022年10月 monthly summary, due Thursday 2022-11-10, stamped copy.
    Case("xinjiang-2022", "xinjiang-2022", "县交通运输局", "monthly-summary", "2022-10"),
    # 陵川's one-off January-20 ledger: the mails name it without a period, by its due day.
    Case(
        "lingchuan-2023-ledger",
        "lingchuan-2023",
        "县人社局",
        "implementation-ledger",
        "2023",
        ("opening", "last_day"),
    ),
]

CALENDAR = WorkingCalendar()


@pytest.fixture(scope="module")
def bundles() -> dict[str, PolicyBundle]:
    settings = Settings()
    return {code: load_policy_file(file, settings) for code, file in POLICY_FILES.items()}


@pytest.fixture(scope="module")
def env() -> Environment:
    return make_environment()


def working_days_left(day: date, due: date) -> int:
    return notices.working_days_left(CALENDAR, day, due)


def find_cycle(bundle: PolicyBundle, obligation: str, period: str) -> CycleSpec:
    return next(
        c
        for c in cycles_for_policy(bundle.policy, CALENDAR)
        if c.obligation == obligation and c.period == period
    )


def base_context(bundle: PolicyBundle, case: Case) -> dict[str, Any]:
    """Everything but the kind, the moment and the kind's extras."""
    policy = bundle.policy
    unit = bundle.resolver.unit(case.unit)
    obligation = next(o for o in policy.obligations if o.code == case.obligation)
    cycle = find_cycle(bundle, case.obligation, case.period)
    office = policy.task_force.office
    measures = []
    for measure in sorted(policy.measures, key=lambda m: m.sort_key):
        for name, role, _via in bundle.effective_units(measure):
            if name == unit.name:
                measures.append(
                    {
                        "number": measure.number,
                        "title": measure.title,
                        "role": role,
                        "role_label": Role(role).label,
                        "targets": [
                            {
                                "metric": t.metric,
                                "value": t.value,
                                "unit": t.unit,
                                "due": t.due,
                                "due_phrase": t.due_phrase,
                            }
                            for t in measure.targets
                        ],
                    }
                )
    # As a reader names the report: 2023年2月进展情况报告 (not 2月月度…); a one-off by its name.
    title = (
        report_title(cycle.period_label, obligation.name)
        if obligation.frequency == "monthly"
        else obligation.name
    )
    return {
        "unit": {
            "code": unit.code,
            "name": unit.name,
            "full_name": unit.full_name,
            "kind": unit.kind.value,
        },
        "policy": {
            "code": policy.code,
            "county": policy.county,
            "doc_number": policy.document.number,
            "title": policy.document.title,
            "issuer": policy.document.issuer,
        },
        "obligation": {
            "code": obligation.code,
            "name": obligation.name,
            "frequency": obligation.frequency,
            "content": [c.model_dump() for c in obligation.content],
            "submit_to": obligation.submit_to,
            "paper_copy": obligation.paper_copy,
            "source_text": obligation.source_text,
        },
        "cycle": {
            "period": cycle.period,
            "period_label": cycle.period_label,
            "due_date": cycle.due_date,
            "due_at": cycle.due_at,
            "opens": cycle.opens,
            "working_days_left": working_days_left(cycle.opens, cycle.due_date),
        },
        "measures": measures,
        "office": {
            "name": office.name,
            "unit": office.unit,
            "room": office.room,
            "contacts": [c.model_dump() for c in office.contacts],
            "phone": office.phone,
            "mailbox": office.mailbox,
        },
        "reply": {
            "mailbox": office.mailbox,
            "attachment_name": f"{title}（{unit.name}）.xlsx",
        },
    }


def notice_context(bundle: PolicyBundle, case: Case, kind: str) -> dict[str, Any]:
    """A realistic context of one kind, on the day the flow would send it."""
    context = base_context(bundle, case)
    cycle = find_cycle(bundle, case.obligation, case.period)
    report = context["reply"]["attachment_name"].split("（")[0]
    after_due = CALENDAR.next_working_day(cycle.due_date + timedelta(1))
    context["kind"] = kind
    if kind == "opening":
        context["as_of"] = at(cycle.opens, 9)
        context["reply"]["calendar_name"] = "报送日历.ics"  # as tasks.reminders.steps attaches
    elif kind == "reminder":
        day = cycle.reminders[0]
        context["as_of"] = at(day, 9)
        context["cycle"]["working_days_left"] = working_days_left(day, cycle.due_date)
    elif kind == "last_day":
        day = cycle.reminders[-1]
        context["as_of"] = at(day, 9)
        context["cycle"]["working_days_left"] = working_days_left(day, cycle.due_date)
    elif kind == "overdue":
        context["as_of"] = at(after_due, 9)
        context["cycle"]["working_days_left"] = 0
    elif kind == "receipt":
        received = at(cycle.reminders[0], 15, 12)
        context["as_of"] = received + timedelta(minutes=3)
        context["submission"] = {"version": 2, "received_at": received, "channel": "email"}
    elif kind == "rejection":
        received = at(cycle.reminders[0], 10, 41)
        context["as_of"] = received + timedelta(minutes=2)
        context["submission"] = {"version": 1, "received_at": received, "channel": "email"}
        first_measure = context["measures"][0]["number"]
        context["errors"] = [
            {"sheet": "报送情况", "cell": "C5", "problem": "必填项“工作落实情况”为空"},
            {
                "sheet": "措施进展",
                "cell": "D4",
                "problem": f"第{first_measure}条的推进状态“进行中”不是可选项"
                "（已完成、推进中、滞后、未启动）",
            },
            {"sheet": "", "cell": "", "problem": "附件文件名已被修改，请使用下发的原表格填报"},
        ]
    elif kind == "quarantine":
        # One intake run's digest: a unit's form altered, a stranger, a mail over the size limit.
        received = at(cycle.reminders[0], 11, 5)
        context["as_of"] = received + timedelta(minutes=1)
        attachment = context["reply"]["attachment_name"]
        items = [
            {
                "id": 17, "channel": "email", "received_at": at(cycle.reminders[0], 9, 12),
                "sender": "someone@example.com", "subject": f"Re: {report}", "size": "48.2 KB",
                "reasons": [f"附件《{attachment}》：表格签名校验失败：元数据被改动",
                            "发件地址 someone@example.com 不在单位名录中"],
                "raw_path": "var/raw/3f/3f2a.eml",
            },
            {
                "id": 18, "channel": "email", "received_at": at(cycle.reminders[0], 10, 40),
                "sender": "zhangsan1987@163.example.com", "subject": "", "size": "2.1 KB",
                "reasons": ["发件地址 zhangsan1987@163.example.com 不在单位名录中，"
                            "且邮件未附本办下发的报表"],
                "raw_path": "var/raw/9c/9c01.eml",
            },
            {
                "id": 19, "channel": "email", "received_at": received,
                "sender": context["reply"]["mailbox"].replace("office", "unit"),
                "subject": f"{report}及现场照片",
                "size": "52.4 MB",
                "reasons": ["邮件大小 52.4 MB，超过系统接收上限（40.0 MB），未予读取"],
                "raw_path": "var/raw/d4/d4e7.eml",
            },
        ]  # fmt: skip
        context["digest"] = {
            "policy": case.policy, "total": 3, "senders": 3,
            "groups": [{"label": "发件地址不在单位名录中", "count": 2},
                       {"label": "表格签名校验失败（被改动或非本办下发）", "count": 1},
                       {"label": "邮件超过大小上限，未予读取", "count": 1}],
            "overlap": True,  # the first mail is both unsigned-correctly and a stranger's
            "items": items, "more": 0, "first_at": items[0]["received_at"],
            "last_at": received, "raw_dir": "var/raw",
        }  # fmt: skip
    elif kind == "oversize":
        received = at(cycle.reminders[0], 16, 48)
        context["as_of"] = received + timedelta(minutes=2)
        context["item"] = {
            "received_at": received,
            "sender": context["reply"]["mailbox"].replace("office", "unit"),
            "subject": f"Re: {report}",
            "size": "52.4 MB",
        }
        context["limit"] = "40.0 MB"
    elif kind == "escalation":
        opened = CALENDAR.working_days_before(after_due + timedelta(10), 0)
        context["as_of"] = at(opened, 10)
        prefix = "陵专督" if case.policy.startswith("lingchuan") else "新服务业办督"
        context["case"] = {
            "kind": "missing",
            "number": f"{prefix}〔{opened.year}〕3号",
            "reason": f"{report}逾期未报，经催报仍未报送",
            "opened_at": at(opened, 10),
            "clocks": list(clocks_13710(opened, CALENDAR)),
            # The directories leave heads as （待填）; the flow passes "" for those.
            "head_name": "",
        }
    elif kind == "delivery_failures":
        # The day after the due day: a reminder the unit's server refused, and the leaders'
        # bulletin given up after 8 attempts (no unit: it goes to the leaders).
        day = after_due
        context = digest_context(
            policy_code=case.policy,
            office=context["office"],
            day=day,
            as_of=at(day, 17, 30),
            failures=[
                FailedMail(
                    id=311, unit=case.unit, kind="overdue",
                    subject=f"【催报】{case.unit}：{report}已逾期，请立即报送",
                    to=f"unit@{case.policy}.example.org", attempts=1,
                    reply=f"550 5.1.1 <unit@{case.policy}.example.org>: Recipient address rejected",
                    failed_at=at(day, 9, 2),
                ),
                FailedMail(
                    id=318, unit="", kind="bulletin", subject=f"【通报】关于{report}的通报",
                    to="leader@example.org", attempts=8, reply="451 4.3.0 Mailbox temporarily full",
                    failed_at=at(day, 16, 40),
                ),
            ],
        )  # fmt: skip
    elif kind == "bulletin":
        # 陵川's with the PDF to print; 新绛's made where no Chinese font was installed: the
        # HTML bulletin instead, and why (tasks/consolidation/pdf.py).
        title = report.removesuffix("报告")
        bulletin, pdf_missing = f"{title}通报.pdf", ""
        if not case.policy.startswith("lingchuan"):
            bulletin = f"{title}通报.html"
            pdf_missing = NO_CJK_FONT
        recipients = bundle.recipients(case.obligation)
        late, missing = recipients[-5:-3], recipients[-3:]
        on_time = len(recipients) - len(late) - len(missing)
        context["as_of"] = at(after_due + timedelta(1), 16)
        context["bulletin"] = {
            "period_label": cycle.period_label,
            "summary_lines": [
                f"应报送单位{len(recipients)}个，按时报送{on_time}个，"
                f"逾期报送{len(late)}个（{'、'.join(late)}），"
                f"未报送{len(missing)}个（{'、'.join(missing)}）。",
                "未报送单位已于截止次日催报，逾期情况已记录在案。",
            ],
            "attachments": [bulletin, f"{report}报送情况汇总表.xlsx"],
            "print_copy": bulletin if case.policy.startswith("lingchuan") else "",
            "pdf_missing": pdf_missing,
        }
    return context


# ---------------------------------------------------------------------------------------------
# Golden files


def golden_path(case: Case, kind: str, part: str) -> Path:
    return GOLDEN / case.directory / f"{kind}.{SUFFIXES[part]}"


@pytest.mark.parametrize(
    ("case", "kind"),
    [(case, kind) for case in CASES for kind in case.kinds],
    ids=lambda v: v.directory if isinstance(v, Case) else v,
)
def test_golden(bundles: dict[str, PolicyBundle], env: Environment, case: Case, kind: str) -> None:
    mail = render_notice(env, notice_context(bundles[case.policy], case, kind))
    for part in SUFFIXES:
        path = golden_path(case, kind, part)
        rendered = getattr(mail, part) + ("\n" if part == "subject" else "")
        check_golden(path, rendered.encode("utf-8"))


def test_every_golden_file_is_rendered_by_a_case() -> None:
    """A golden file left behind by a removed case would never be checked again."""
    expected = {
        golden_path(case, kind, part) for case in CASES for kind in case.kinds for part in SUFFIXES
    }
    assert set(GOLDEN.rglob("*.*")) == expected


# ---------------------------------------------------------------------------------------------
# What the goldens must say (so a regenerated golden cannot silently lose it)


def visible(html: str) -> str:
    """The text an HTML body shows: head and tags dropped, entities decoded, no whitespace."""
    body = re.sub(r"<head>.*</head>", "", html, flags=re.S)
    return re.sub(r"\s", "", unescape(re.sub(r"<[^>]+>", "", body)))


@pytest.mark.parametrize(
    ("case", "report", "doubled"),
    [
        # 月度进展情况报告 of February: the month is said once, not 2023年2月月度….
        (CASES[0], "2023年2月进展情况报告", "2月月度"),
        (CASES[1], "2022年10月工作总结", "10月月度"),  # 新绛's 月度工作总结
    ],
    ids=lambda v: v.directory if isinstance(v, Case) else v,
)
def test_opening_says_what_the_issue_asks(
    bundles: dict[str, PolicyBundle], env: Environment, case: Case, report: str, doubled: str
) -> None:
    bundle = bundles[case.policy]
    context = notice_context(bundle, case, "opening")
    mail = render_notice(env, context)
    cycle = find_cycle(bundle, case.obligation, case.period)
    assert report in mail.subject and doubled not in mail.subject
    for body in (mail.text, visible(mail.html)):
        assert body.startswith(case.unit + "：")
        assert report in body and doubled not in body
        assert cn_date(cycle.due_date) in body  # with the weekday
        assert context["policy"]["doc_number"] in body
        for measure in context["measures"]:
            assert re.sub(r"\s", "", measure["title"]) in re.sub(r"\s", "", body)
        for item in context["obligation"]["content"]:
            assert item["label"] in body
        assert context["reply"]["attachment_name"] in body
        assert "另附《报送日历.ics》" in body and "可导入手机或电脑日历" in body
        assert context["reply"]["mailbox"] in body
    assert "\n" not in mail.subject and mail.subject == mail.subject.strip()


def test_the_two_seeds_differ_where_their_notices_differ(
    bundles: dict[str, PolicyBundle], env: Environment
) -> None:
    lingchuan = render_notice(env, notice_context(bundles["lingchuan-2023"], CASES[0], "opening"))
    xinjiang = render_notice(env, notice_context(bundles["xinjiang-2022"], CASES[1], "opening"))
    # 陵川's annex names contacts and a phone; 新绛 names a room and asks for a stamped copy.
    assert "联系人：赵向东、王杰　联系电话：6200064" in lingchuan.text
    assert "盖章" not in lingchuan.text
    assert "县发改局329室" in xinjiang.text
    assert "盖章纸质件请报送县服务业发展领导小组办公室（县发改局329室）" in xinjiang.text
    assert "联系人" not in xinjiang.text
    # 新绛's optional items are marked, and the measure with a quantified target shows it.
    assert "存在的问题（选填）" in xinjiang.text
    assert "引进或培育落户新绛的网络货运平台企业1家（2022年12月31日前）" in xinjiang.text
    assert "第26条第（3）项　支持人力资源产业发展（负责）" in lingchuan.text


def test_last_day_wording_follows_the_calendar(
    bundles: dict[str, PolicyBundle], env: Environment
) -> None:
    # 陵川's 2023-03-05 is a Sunday: the last reminder goes out on Friday 3 March.
    lingchuan = render_notice(env, notice_context(bundles["lingchuan-2023"], CASES[0], "last_day"))
    assert "今天是截止前的最后一个工作日" in lingchuan.text
    assert "2023年3月5日（星期日）" in lingchuan.text
    # 新绛's 2022-11-10 is a Thursday: the reminder goes out on the due day itself.
    xinjiang = render_notice(env, notice_context(bundles["xinjiang-2022"], CASES[1], "last_day"))
    assert "今天是报送截止日" in xinjiang.text
    assert "须于今天23:59前报送" in xinjiang.text


def test_text_and_html_say_the_same_sentences(
    bundles: dict[str, PolicyBundle], env: Environment
) -> None:
    """Every sentence of a text body is in its HTML body: one wording, two layouts."""

    def squeeze(words: str) -> str:
        return re.sub(r"[\s：]", "", words)  # a label and its value sit in two table cells

    for case in CASES:
        for kind in case.kinds:
            mail = render_notice(env, notice_context(bundles[case.policy], case, kind))
            shown = squeeze(visible(mail.html))
            for line in mail.text.splitlines():
                if re.match(r"\d+\. 第\d+条|\s*目标：", line):
                    continue  # measures and targets: a table in HTML, checked above
                words = squeeze(re.sub(r"^\d+\. ", "", line))
                assert words in shown, (case.directory, kind, line)


def test_rejection_lists_each_error_by_sheet_and_cell(
    bundles: dict[str, PolicyBundle], env: Environment
) -> None:
    mail = render_notice(env, notice_context(bundles["lingchuan-2023"], CASES[0], "rejection"))
    assert "1. 工作表「报送情况」单元格C5：必填项“工作落实情况”为空\n" in mail.text
    assert "\n3. 附件文件名已被修改，请使用下发的原表格填报\n" in mail.text
    assert "请于2023年3月5日（星期日）23:59前修改并重新报送。" in mail.text


def test_branches_the_seeds_do_not_reach(
    bundles: dict[str, PolicyBundle], env: Environment
) -> None:
    """No measures, contacts with their own phones, a late receipt, a late rejection."""
    context = notice_context(bundles["lingchuan-2023"], CASES[0], "opening")
    context["measures"] = []
    context["office"]["contacts"] = [
        {"name": "赵向东", "phone": "6200064"},
        {"name": "王杰", "phone": ""},
    ]
    context["office"]["phone"] = "6202429"
    context["reply"]["attachment_name"] = ""
    mail = render_notice(env, context)
    assert "文件未列明贵单位牵头、配合或负责的具体措施" in mail.text
    assert "逐项填写" not in mail.text  # nothing to fill in per measure
    assert "（三）下一步落实措施。\n" in mail.text
    assert "联系人：赵向东（6200064）、王杰　办公电话：6202429\n" in mail.text
    assert "请将2023年2月进展情况报告以附件形式直接回复本邮件" in mail.text
    assert "<table" not in mail.html

    receipt = notice_context(bundles["lingchuan-2023"], CASES[0], "receipt")
    receipt["submission"]["received_at"] = at(date(2023, 3, 6), 8, 30)
    late = render_notice(env, receipt)
    assert "本次报送晚于截止时间（2023年3月5日（星期日）23:59），已记为逾期报送。" in late.text
    assert "如需修改，请尽快重新报送" in late.text

    rejection = notice_context(bundles["lingchuan-2023"], CASES[0], "rejection")
    rejection["as_of"] = at(date(2023, 3, 6), 9)
    del rejection["submission"]
    mail = render_notice(env, rejection)
    assert "贵单位报送的2023年2月进展情况报告经校验发现以下问题" in mail.text
    assert "报送截止时间（2023年3月5日（星期日）23:59）已过，请尽快修改并重新报送。" in mail.text


@pytest.mark.parametrize(
    ("kind", "keys"),
    [
        ("receipt", {"unit", "obligation", "cycle", "office", "as_of", "submission"}),
        # submission is optional for a rejection; with it, the lead sentence names the version
        (
            "rejection",
            {"unit", "obligation", "cycle", "office", "reply", "as_of", "errors", "submission"},
        ),
        (
            "escalation",
            {"unit", "policy", "obligation", "cycle", "office", "reply", "as_of", "case"},
        ),
        ("bulletin", {"policy", "obligation", "office", "as_of", "bulletin"}),
        ("quarantine", {"office", "as_of", "digest"}),
        ("oversize", {"unit", "office", "as_of", "item", "limit"}),
        ("delivery_failures", {"office", "as_of", "digest"}),
    ],
)
def test_the_keys_the_readme_lists_are_enough(
    bundles: dict[str, PolicyBundle], env: Environment, kind: str, keys: set[str]
) -> None:
    context = notice_context(bundles["xinjiang-2022"], CASES[1], kind)
    trimmed = {key: value for key, value in context.items() if key in keys | {"kind"}}
    assert render_notice(env, trimmed) == render_notice(env, context)


# ---------------------------------------------------------------------------------------------
# Escaping and errors


def test_html_is_autoescaped_and_text_is_not(
    bundles: dict[str, PolicyBundle], env: Environment
) -> None:
    context = notice_context(bundles["lingchuan-2023"], CASES[0], "opening")
    context["unit"]["name"] = "县<b>人社</b>局"
    context["measures"][0]["title"] = "A & B <script>alert(1)</script>"
    mail = render_notice(env, context)
    assert "县&lt;b&gt;人社&lt;/b&gt;局" in mail.html
    assert "<b>" not in mail.html and "<script>" not in mail.html
    assert "A &amp; B &lt;script&gt;" in mail.html
    assert mail.text.startswith("县<b>人社</b>局：")
    assert "A & B <script>alert(1)</script>" in mail.text
    assert mail.subject.startswith("【报送通知】县<b>人社</b>局：")


def test_a_missing_key_raises_render_error_naming_the_template(
    bundles: dict[str, PolicyBundle], env: Environment
) -> None:
    context = notice_context(bundles["lingchuan-2023"], CASES[0], "escalation")
    del context["case"]["clocks"]
    with pytest.raises(RenderError) as caught:
        render_notice(env, context)
    error = caught.value
    assert isinstance(error, TaskforceError)
    assert error.template.startswith("mail/escalation.")
    assert error.line is not None
    assert "clocks" in error.problem
    assert error.template in str(error)


def test_a_missing_key_in_a_partial_names_the_partial(
    bundles: dict[str, PolicyBundle], env: Environment
) -> None:
    context = notice_context(bundles["lingchuan-2023"], CASES[0], "opening")
    del context["office"]["mailbox"]
    with pytest.raises(RenderError) as caught:
        render_notice(env, context)
    assert caught.value.template == "mail/_wording.txt"
    assert "mailbox" in caught.value.problem


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("receipt", "submission"),
        ("rejection", "errors"),
        ("escalation", "case"),
        ("bulletin", "bulletin"),
        ("opening", "measures"),
        ("reminder", "cycle"),
    ],
)
def test_each_kind_needs_its_extras(
    bundles: dict[str, PolicyBundle], env: Environment, kind: str, key: str
) -> None:
    context = notice_context(bundles["xinjiang-2022"], CASES[1], kind)
    del context[key]
    with pytest.raises(RenderError, match=key):
        render_notice(env, context)


def test_an_unknown_kind_is_refused(bundles: dict[str, PolicyBundle], env: Environment) -> None:
    context = notice_context(bundles["xinjiang-2022"], CASES[1], "opening")
    context["kind"] = "party"
    with pytest.raises(RenderError, match="未知的通知类型"):
        render_notice(env, context)


def test_a_naive_moment_is_refused(bundles: dict[str, PolicyBundle], env: Environment) -> None:
    context = notice_context(bundles["xinjiang-2022"], CASES[1], "overdue")
    context["as_of"] = context["as_of"].replace(tzinfo=None)
    with pytest.raises(RenderError, match="naive"):
        render_notice(env, context)


def test_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "receipt.subject.txt").write_text("回执\n{% if %}\n", encoding="utf-8")
    with pytest.raises(RenderError) as caught:
        render_notice(make_environment(tmp_path), {"kind": "receipt"})
    assert (caught.value.template, caught.value.line) == ("mail/receipt.subject.txt", 2)


def test_a_missing_template_is_a_render_error(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="找不到模板"):
        render_notice(make_environment(tmp_path), {"kind": "receipt"})


def test_subject_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "mail").mkdir()
    for suffix, body in (("subject.txt", "  第一行\n\n  第二行 \n"), ("txt", "t"), ("html", "h")):
        (tmp_path / "mail" / f"receipt.{suffix}").write_text(body, encoding="utf-8")
    mail = render_notice(make_environment(tmp_path), {"kind": "receipt"})
    assert mail == RenderedMail(subject="第一行 第二行", text="t", html="h")


def test_escalation_names_the_head_when_known(
    bundles: dict[str, PolicyBundle], env: Environment
) -> None:
    context = notice_context(bundles["lingchuan-2023"], CASES[0], "escalation")
    context["case"]["head_name"] = "张三"
    mail = render_notice(env, context)
    assert "督办对象：县人社局（主要负责人：张三）" in mail.text


def test_the_13710_clocks_read_as_a_unit_must_act_on_them(
    bundles: dict[str, PolicyBundle], env: Environment
) -> None:
    """The deadline sits inside each commitment; the same-day step is due on that day itself."""
    # 陵川's case opens Thursday 16 March 2023: 3 working days are 17, 20, 21 March; 7 end on
    # Monday 27 March; a month is Sunday 16 April, moved to Monday 17 April.
    mail = render_notice(env, notice_context(bundles["lingchuan-2023"], CASES[0], "escalation"))
    lines = [
        "1：当日（3月16日）内部署",
        "3：3个工作日内（3月21日前）反馈进展",
        "7：一般问题7个工作日内（3月27日前）办结",
        "1：重大复杂问题1个月内（4月17日前）办结或明确时间表",
        "0：跟踪到底、销号清零",
    ]
    assert "\n".join(lines) in mail.text
    assert "3月16日前" not in mail.text and "3月16日（星期四）前" not in mail.text
    shown = visible(mail.html)
    assert all(line.replace("：", "") in shown for line in lines)
    assert "3月16日前" not in shown

    # Opened 22 December, in natural days: its month clock ends in the next year, which the
    # line then names; natural days say 日内, not 工作日.
    context = notice_context(bundles["lingchuan-2023"], CASES[0], "escalation")
    context["case"]["opened_at"] = at(date(2022, 12, 22), 10)
    context["case"]["clocks"] = list(clocks_13710(date(2022, 12, 22), CALENDAR, "natural"))
    text = render_notice(env, context).text
    assert "1：当日（12月22日）内部署\n3：3日内（12月25日前）反馈进展\n" in text
    assert "1：重大复杂问题1个月内（2023年1月22日前）办结或明确时间表" in text


def test_a_one_off_reports_case_reads_without_a_doubled_conjunction(
    bundles: dict[str, PolicyBundle], env: Environment
) -> None:
    """贯彻落实举措及任务清单台账 has its own 及: the ask does not add another before 办理情况."""
    context = notice_context(bundles["lingchuan-2023"], CASES[2], "escalation")
    context["case"]["reason"] = "2023年1月20日贯彻落实举措及任务清单台账逾期未报，经催报仍未报送"
    mail = render_notice(env, context)
    assert mail.subject == "【督办单】陵专督〔2023〕3号：县人社局贯彻落实举措及任务清单台账"
    assert "督办事项：报送贯彻落实举措及任务清单台账\n" in mail.text
    assert (
        "按上述时限办理，尽快将贯彻落实举措及任务清单台账报送县工作专班办公室，并反馈办理情况。"
        in mail.text
    )
    assert "台账及办理情况" not in mail.text


def test_a_red_target_case_is_not_about_sending_the_report(
    bundles: dict[str, PolicyBundle], env: Environment
) -> None:
    """The unit did report; its 督办单 asks it to catch up on the targets, not to send it."""
    context = notice_context(bundles["lingchuan-2023"], CASES[0], "escalation")
    context["case"]["kind"] = "red"
    context["case"]["reason"] = "2023年2月第20条措施的量化目标落后序时进度（红灯）"
    mail = render_notice(env, context)
    assert mail.subject == "【督办单】陵专督〔2023〕3号：县人社局量化目标落后序时进度"
    assert "督办事项：量化目标落后序时进度整改\n" in mail.text
    assert "督办事由：2023年2月第20条措施的量化目标落后序时进度（红灯）\n" in mail.text
    assert "按上述时限办理，并将整改措施及办理情况报送县工作专班办公室。" in mail.text
    assert "报送2023年2月进展情况报告" not in mail.text
    assert "督办事项量化目标落后序时进度整改" in visible(mail.html)


# ---------------------------------------------------------------------------------------------
# Filters


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (160.0, "160"),
        (4.5, "4.5"),
        (3.5, "3.5"),
        (0.1, "0.1"),
        (40, "40"),
        (1e6, "1000000"),
        (Decimal("2.50"), "2.5"),
        (-0.0, "0"),
    ],
)
def test_num(value: float, expected: str) -> None:
    assert num(value) == expected


def test_num_refuses_what_is_not_a_number() -> None:
    with pytest.raises(TypeError):
        num(True)
    with pytest.raises(TypeError):
        num("160")  # type: ignore[arg-type]


def test_dates_and_moments() -> None:
    assert cn_date(date(2023, 3, 3)) == "2023年3月3日（星期五）"
    assert cn_date(date(2023, 3, 3), weekday=False) == "2023年3月3日"
    # An aware moment is shown in Shanghai time, whatever zone it comes in.
    assert cn_datetime(datetime(2023, 3, 3, 7, 59, tzinfo=UTC)) == "2023年3月3日（星期五）15:59"
    assert cn_datetime(datetime(2023, 3, 3, 16, 30, tzinfo=UTC)) == "2023年3月4日（星期六）0:30"
    assert cn_date(datetime(2023, 3, 3, 16, 30, tzinfo=UTC)) == "2023年3月4日（星期六）"
    with pytest.raises(ValueError, match="naive"):
        cn_datetime(datetime(2023, 3, 3, 9, 0))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, "一"), (4, "四"), (10, "十"), (11, "十一"), (20, "二十"), (37, "三十七")],
)
def test_cn_number(value: int, expected: str) -> None:
    assert cn_number(value) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [("19", "第19条"), ("26(3)", "第26条第（3）项"), ("26(10)", "第26条第（10）项")],
)
def test_article(number: str, expected: str) -> None:
    assert article(number) == expected
