"""Synthetic notices: each bracket, numbering and role notation, split lines, date phrases.

Table-driven tests of the pure functions, a property test that page breaks lose no text, and the
command line (its entry point, in this process).
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.loading import load_units
from config.schema import Role
from config.settings import CONFIG_DIR
from tasks.policy_import.importer import import_policy
from tasks.policy_import.sections import parse_body
from tasks.policy_import.targets import find_deadline, find_phrases, find_targets
from tasks.policy_import.text import compact, text_paragraphs
from tasks.policy_import.units import UnitNames, find_bracket, parse_units, resolve_units
from tests.helpers import SEEDS, CliResult, invoke_cli

DIRECTORY = load_units(CONFIG_DIR / "units" / "xinjiang.yaml")
NAMES = UnitNames.of(DIRECTORY)
R, L, S = Role.responsible, Role.lead, Role.support


def units_of(text: str) -> list[tuple[str, Role]]:
    bracket = find_bracket(text, NAMES)
    assert bracket is not None, text
    return parse_units(bracket.content)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "做好工作。〔责任单位：县发改局、县财政局，县税务局〕",
            [("县发改局", R), ("县财政局", R), ("县税务局", R)],
        ),
        ("做好工作。[责任单位:县发改局、县财政局]", [("县发改局", R), ("县财政局", R)]),
        ("做好工作。【责任单位：县发改局】", [("县发改局", R)]),
        # mismatched pair after a page break: 〔 … ]
        ("做好工作。〔责任单位：县发改局、县财政局]", [("县发改局", R), ("县财政局", R)]),
        ("做好工作。（县发改局、县财政局负责）", [("县发改局", R), ("县财政局", R)]),
        ("做好工作。(县发改局、县财政局负责)", [("县发改局", R), ("县财政局", R)]),
        ("做好工作。（县发改局牵头，各镇人民政府配合）", [("县发改局", L), ("各镇人民政府", S)]),
        (
            "做好工作。（县通联办、县工信科技局牵头，县教育局、县财政局负责）",
            [("县通联办", L), ("县工信科技局", L), ("县教育局", R), ("县财政局", R)],
        ),
        (
            "做好工作。（县工信科技局牵头，县财政局，龙兴镇人民政府负责）",
            [("县工信科技局", L), ("县财政局", R), ("龙兴镇人民政府", R)],
        ),
        (
            "做好工作。（牵头单位：县发改局；配合单位：县财政局、县税务局）",
            [("县发改局", L), ("县财政局", S), ("县税务局", S)],
        ),
        (
            "做好工作。〔牵头单位：县发改局；配合单位：县财政局〕",
            [("县发改局", L), ("县财政局", S)],
        ),
        (
            "做好工作。（县服务业发展领导小组有关成员单位）",
            [("县服务业发展领导小组有关成员单位", R)],
        ),
        ("做好工作。（县发改局、县财政局）", [("县发改局", R), ("县财政局", R)]),
        (
            "做好工作。（县自然资源局负责，县房产中心配合）",
            [("县自然资源局", R), ("县房产中心", S)],
        ),
        (
            "做好工作。〔责任单位：县发改局，县财政局等相关单位〕",
            [("县发改局", R), ("县财政局", R)],
        ),
        ("落实政策〔责任单位：县人社局、县财政局〕", [("县人社局", R), ("县财政局", R)]),
        # mismatched the other way: （ … 〕
        ("做好工作。（责任单位：县发改局、县财政局〕", [("县发改局", R), ("县财政局", R)]),
        # labels without any bracket at the end of the measure
        (
            "做好工作。牵头单位：县发改局；配合单位：县财政局、县税务局。",
            [("县发改局", L), ("县财政局", S), ("县税务局", S)],
        ),
        ("做好工作。责任单位：县发改局、县财政局", [("县发改局", R), ("县财政局", R)]),
    ],
)
def test_bracket_notations(text: str, expected: list[tuple[str, Role]]) -> None:
    assert units_of(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "引导企业按照“一控二降三提升”原则（适度控高度，降密度、容积率）开发建设。",
        "落实好《管理办法（试行）》。",
        "推进农贸（集贸）市场建设",
        "做好工作，给予奖励（最高不超过5万元）",
    ],
)
def test_remarks_in_brackets_are_not_units(text: str) -> None:
    assert find_bracket(text, NAMES) is None


def test_unknown_units_are_kept_and_a_pair_is_split() -> None:
    resolved = resolve_units([("县发改局（县能源局）", R), ("县未知局", L), ("县通联办", S)], NAMES)
    assert resolved.refs == [("县发改局", R), ("县能源局", R), ("县未知局", L), ("县通联办", S)]
    assert resolved.unknown == ["县未知局"]
    assert resolved.notes and "县发改局（县能源局）" in resolved.notes[0]


NOTICE = """\
新绛县人民政府办公室文件

新政办发〔2024〕3号

新绛县人民政府办公室 关于印发新绛县测试工作方案的通知

各镇人民政府：

新绛县人民政府办公室

2024年3月5日

新绛县测试工作方案

一、总体要求

全年目标明确。

二、重点任务（交通运输专班负责）

（一）第一小节

{m1} 推动发展。今年上半年完成投资 5 亿元以上。（县发改局牵头，县财政局配合）

{m2} 加强服务。建成示范点 3 个。〔责任单位：县财政局、县新设中心〕

（二）第二小节

{m3} 落实补贴。对达到标准的给予 10 万元奖励，政策执行至 2024 年 6 月 30 日。

{i1}降低费率。

{i2}延长期限。

三、保障措施

{m4} 按月调度。县直各有关单位于每月 8 日前将月度工作报告报送县发改局，
报告内容包括工作进展、存在问题。

（县发改局负责）
"""


@pytest.mark.parametrize(
    ("m", "i"),
    [
        (["1.", "2.", "3.", "4."], ["（1）", "（2）"]),
        (["1、", "2、", "3、", "4、"], ["(1)", "(2)"]),
        (["1．", "2．", "3．", "4．"], ["（1）", "(2)"]),
    ],
)
def test_numbering_notations(m: list[str], i: list[str]) -> None:
    text = NOTICE.format(m1=m[0], m2=m[1], m3=m[2], m4=m[3], i1=i[0], i2=i[1])
    result = import_policy(
        text_paragraphs(text), code="test-2024", directory=DIRECTORY, units_directory="xinjiang"
    )
    policy = result.policy
    assert policy["document"] == {
        "issuer": "新绛县人民政府办公室",
        "number": "新政办发〔2024〕3号",
        "title": "新绛县人民政府办公室关于印发新绛县测试工作方案的通知",
        "issued": date(2024, 3, 5),
        "source": "",
    }
    assert [(s["id"], s.get("parent"), s.get("group")) for s in policy["sections"]] == [
        ("一", None, None),
        ("二", None, "group-1"),
        ("二(一)", "二", None),
        ("二(二)", "二", None),
        ("三", None, None),
    ]
    measures = {x["number"]: x for x in policy["measures"]}
    assert list(measures) == ["1", "2", "3", "3(1)", "3(2)", "4"]
    assert measures["1"]["units"] == [
        {"unit": "县发改局", "role": "lead"},
        {"unit": "县财政局", "role": "support"},
    ]
    assert measures["1"]["text"] == "推动发展。今年上半年完成投资5亿元以上。"
    [target] = measures["1"]["targets"]
    assert (target["value"], target["unit"], target["due"], target["due_phrase"]) == (
        5.0,
        "亿元",
        date(2024, 6, 30),
        "今年上半年",
    )
    assert "2024" in target["resolution"]
    assert measures["2"]["targets"][0]["due_phrase"] == "（原文未写时限，按政策期末）"
    assert "县新设中心" in result.unknown_units
    assert any("县新设中心" in r for r in result.review)
    assert "targets" not in measures["3"]  # a reward is not a target
    assert measures["3"]["deadline"] == date(2024, 6, 30)
    assert measures["3(1)"]["units"] == []
    assert any("第3条：未找到责任单位" in r for r in result.review)
    [obligation] = policy["obligations"]
    assert obligation["frequency"] == "monthly"
    assert obligation["due"] == {"day_of_month": 8}
    assert obligation["recipients"] == ["县直各有关单位"]
    assert obligation["submit_to"] == "县发改局"
    assert [c["label"] for c in obligation["content"]] == ["工作进展", "存在问题"]
    assert (obligation["covers_from"], obligation["covers_to"]) == ("2024-03", "2024-12")


SPLIT_CASES = [
    # a unit name split across a blank line (陵川 measure 6)
    (
        "1. 做事。〔责任单位：县发改局、县中\n\n小企业发展促进中心〕",
        ["县发改局", "县中小企业发展促进中心"],
    ),
    # a bracket split from its label (陵川 measure 9), closed with ]
    ("1. 做事。〔责\n\n责任单位：县发改局、县财政局]", ["县发改局", "县财政局"]),
    # the bracket on its own paragraph (陵川 measure 3, 新绛 measure 35)
    ("1. 做事。\n\n（县发改局牵头，县财政局配合）", ["县发改局", "县财政局"]),
]


@pytest.mark.parametrize(("text", "units"), SPLIT_CASES)
def test_split_lines(text: str, units: list[str]) -> None:
    body = parse_body(text_paragraphs("一、总则\n\n" + text))
    [measure] = body.measures
    bracket = find_bracket(
        measure.body, UnitNames.of(load_units(CONFIG_DIR / "units" / "lingchuan.yaml"))
    )
    assert bracket is not None
    assert [n for n, _ in parse_units(bracket.content)] == units
    assert measure.body[: bracket.start] == "做事。"


def test_heading_glued_to_previous_line() -> None:
    text = "一、总则\n\n1. 做事。完成任务。2. 再做事。继续。二、保障\n\n3. 保障有力。"
    body = parse_body(text_paragraphs(text))
    assert [(m.number, m.section, m.body) for m in body.measures] == [
        ("1", "一", "做事。完成任务。"),
        ("2", "一", "再做事。继续。"),
        ("3", "二", "保障有力。"),
    ]


def test_numbering_restarting_in_each_part_runs_on() -> None:
    text = "一、总则\n\n1. 甲。\n\n2. 乙。\n\n（1）子项。\n\n二、保障\n\n1. 丙。\n\n2. 丁。"
    body = parse_body(text_paragraphs(text))
    assert [(m.number, m.section, m.heading) for m in body.measures] == [
        ("1", "一", "1."),
        ("2", "一", "2."),
        ("2(1)", "一", "（1）"),
        ("3", "二", "1."),
        ("4", "二", "2."),
    ]
    assert body.renumbered


def test_sentence_broken_mid_word_and_a_number_that_is_no_heading() -> None:
    text = (
        "一、总则\n\n1. 推进建设。力\n\n争今年完成。\n\n2022年起执行。\n\n"
        "5. 不是第五条。\n\n2. 第二条。"
    )
    body = parse_body(text_paragraphs(text))
    assert [(m.number, m.body) for m in body.measures] == [
        ("1", "推进建设。力争今年完成。2022年起执行。5.不是第五条。"),
        ("2", "第二条。"),
    ]


ISSUED = date(2023, 1, 12)


@pytest.mark.parametrize(
    ("text", "due", "starts", "relative"),
    [
        ("2022年底", date(2022, 12, 31), None, False),
        ("2023年6月底前", date(2023, 6, 30), None, False),
        ("2023年4月30日", date(2023, 4, 30), None, False),
        ("一季度", date(2023, 3, 31), date(2023, 1, 1), True),
        ("明年一季度", date(2024, 3, 31), date(2024, 1, 1), True),
        ("今年上半年", date(2023, 6, 30), date(2023, 1, 1), True),
        ("下半年", date(2023, 12, 31), date(2023, 7, 1), True),
        ("全年", date(2023, 12, 31), date(2023, 1, 1), True),
        ("“十四五”期间", date(2025, 12, 31), date(2021, 1, 1), True),
        ('"十四五"期间', date(2025, 12, 31), date(2021, 1, 1), True),
        ("2023年度", date(2023, 12, 31), date(2023, 1, 1), True),
    ],
)
def test_date_phrases(text: str, due: date, starts: date | None, relative: bool) -> None:
    [phrase] = find_phrases(text, ISSUED)
    assert (phrase.phrase, phrase.due, phrase.starts) == (text, due, starts)
    assert bool(phrase.resolution) == relative


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("确保全年产量达到160万吨。", [(160.0, "万吨", "at_least", "全年")]),
        (
            "推动周期由36个月压减至24个月。",
            [(24.0, "个月", "at_most", "（原文未写时限，按政策期末）")],
        ),
        ("2022年底，累计建成5G基站200个。", [(200.0, "个", "at_least", "2022年底")]),
        (
            "积极培育或引进1-2家平台企业。",
            [(1.0, "家", "at_least", "（原文未写时限，按政策期末）")],
        ),
        ("对销售额超过100万元的，按照销售额的1%给予奖励，最高不超过5万元。", []),
        ("将费率由2%降到1%，政策执行至2023年4月30日。", []),
        ("补贴标准不超过4000元/人。", []),
    ],
)
def test_targets(text: str, expected: list[tuple[float, str, str, str]]) -> None:
    targets = find_targets(text, ISSUED, date(2023, 12, 31))
    assert [(t.value, t.unit, t.direction, t.due_phrase) for t in targets] == expected


def test_deadline_is_not_a_period_start_nor_a_target_date() -> None:
    assert find_deadline("对2023年1月至3月份期间的企业给予奖励。", ISSUED, []) is None
    deadline = find_deadline("2023年6月前，对景区进行补贴。", ISSUED, [])
    assert deadline is not None and deadline.due == date(2023, 6, 30) and deadline.review
    text = "2022年底，累计建成5G基站200个。"
    spans = [t.span for t in find_targets(text, ISSUED, date(2023, 12, 31))]
    assert find_deadline(text, ISSUED, spans) is None


@pytest.mark.parametrize(
    ("raw", "compacted"),
    [
        ("达到 160 万吨", "达到160万吨"),
        ("28. 畅通融资渠道。 落实好", "28.畅通融资渠道。落实好"),
        ("乡村 e 镇、互联网 +", "乡村e镇、互联网+"),
        ("Hello World 项目", "Hello World项目"),
    ],
)
def test_compact(raw: str, compacted: str) -> None:
    assert compact(raw) == compacted


# --- Property: page breaks anywhere inside a measure lose no text -------------------------------

_CHARS = st.sampled_from(list("推进建设完善服务体系加强工作落实政策发展企业项目，、“”"))
_SENTENCE = st.lists(_CHARS, min_size=2, max_size=25).map(lambda c: "".join(c).strip("，、") + "。")
_UNITS = st.lists(st.sampled_from(sorted(NAMES.units)), min_size=1, max_size=4, unique=True)


@st.composite
def _notice(draw: st.DrawFn) -> tuple[str, list[tuple[str, list[str]]]]:
    measures = []
    lines = ["一、总则"]
    for number in range(1, draw(st.integers(1, 5)) + 1):
        text = "".join(draw(st.lists(_SENTENCE, min_size=1, max_size=3)))
        units = draw(_UNITS)
        bracket = draw(
            st.sampled_from([f"〔责任单位：{'、'.join(units)}〕", f"（{'、'.join(units)}负责）"])
        )
        printed = f"{number}. {text}{bracket}"
        # Page breaks at arbitrary points after the numbering, possibly several.
        cuts = sorted(set(draw(st.lists(st.integers(4, len(printed) - 1), max_size=4))))
        pieces = [printed[a:b] for a, b in zip([0, *cuts], [*cuts, len(printed)], strict=True)]
        lines += pieces
        measures.append((text, units))
    return "\n\n".join(lines), measures


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_notice())
def test_page_breaks_lose_no_text(notice: tuple[str, list[tuple[str, list[str]]]]) -> None:
    text, expected = notice
    body = parse_body(text_paragraphs(text))
    assert len(body.measures) == len(expected)
    for measure, (measure_text, units) in zip(body.measures, expected, strict=True):
        bracket = find_bracket(measure.body, NAMES)
        assert bracket is not None
        assert (measure.body[: bracket.start] + measure.body[bracket.end :]) == measure_text
        assert [n for n, _ in parse_units(bracket.content)] == units
    consumed = "".join(text_paragraphs(text)).replace(" ", "")
    assert body.consumed == consumed


# --- The command line --------------------------------------------------------------------------


def run(tmp_path: Path, *args: str) -> CliResult:
    """``taskforce policy import ARGS``, its entry point in this process (tests/cli/test_cli.py
    runs the policy commands' user errors as a subprocess), with a copy of the units directories:
    an import that onboards a county writes a units draft there, never into config/units."""
    units_dir = tmp_path / "units"
    if not units_dir.exists():
        shutil.copytree(CONFIG_DIR / "units", units_dir)
    return invoke_cli(
        tmp_path, "policy", "import", *args, env={"TASKFORCE_UNITS_DIR": str(units_dir)}
    )


def test_cli_imports_a_seed_and_prints_the_summary(tmp_path: Path) -> None:
    output = tmp_path / "xinjiang-2022.yaml"
    result = run(tmp_path, str(SEEDS / "xinjiang-2022.txt"), "-o", str(output))
    assert result.returncode == 0, result.stderr
    for label in ("措施（含子项）", "64", "量化目标", "报送事项", "待核对事项", "十四五"):
        assert label in result.stdout
    assert output.read_text(encoding="utf-8").count("- number:") == 64
    again = run(tmp_path, str(SEEDS / "xinjiang-2022.txt"), "-o", str(output))
    assert again.returncode == 2 and "--force" in again.stderr


def test_cli_reads_docx(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    for paragraph in text_paragraphs((SEEDS / "lingchuan-2023.txt").read_text(encoding="utf-8")):
        document.add_paragraph(paragraph)
    source = tmp_path / "notice.docx"
    document.save(str(source))
    result = run(tmp_path, str(source), "-o", str(tmp_path / "lingchuan-2023.yaml"))
    assert result.returncode == 0, result.stderr
    assert "47" in result.stdout


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        ("某某县人民政府办公室文件\n\n2024年1月1日\n\n一、总则\n\n1. 做事。", [], "--units"),
        (None, ["--units", "lingchuan"], "文件不存在"),
        (b"not a zip", [], "无法读取 Word 文件"),
        ("seed", ["--units", "nowhere"], "找不到单位目录"),
        ("seed", ["-o", "陵川.yaml"], "须为小写字母"),
    ],
)
def test_cli_user_errors_are_one_chinese_line(
    tmp_path: Path, make: bytes | str | None, args: list[str], message: str
) -> None:
    source = tmp_path / "notice.docx"
    if isinstance(make, bytes):
        source.write_bytes(make)
    elif make == "seed":
        source = SEEDS / "lingchuan-2023.txt"
    elif make is not None:
        source = tmp_path / "notice.txt"
        source.write_text(make, encoding="utf-8")
    result = run(tmp_path, str(source), "-o", str(tmp_path / "out.yaml"), *args)  # a later -o wins
    assert result.returncode == 2
    assert message in result.stderr
    assert str(source) in result.stderr or make == "seed"  # the units error names its file
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
