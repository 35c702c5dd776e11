"""A new county onboards from its notice alone (issue 21 §1) and the importer's messages (§4).

The real command line on real files: ``policy import`` with no units directory writes a policy
draft and a units draft; a script fills one mailbox per unit; ``policy load`` and ``calendar`` run.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from config.loading import load_units
from config.settings import CONFIG_DIR, Settings
from tasks.policy_import.units_draft import ascii_initials, county_code, is_collective, unit_kind
from tests.helpers import CliResult, invoke_cli

NOTICE = """\
上海市海滨区人民政府办公室文件

海府办发〔2024〕5号

上海市海滨区人民政府办公室关于印发《海滨区海洋环境保护实施方案》的通知

各街道、镇人民政府，区政府各委、办、局：

现将《海滨区海洋环境保护实施方案》印发给你们，请认真贯彻执行。

上海市海滨区人民政府办公室

2024年3月1日

海滨区海洋环境保护实施方案

一、主要任务

（一）加强陆源污染治理

1. 加强沿海农业面源污染治理，防治农业废弃物入海。(区绿化市容局、区农业农村委、相关沿海街镇)

2. 做好入海排污口排查整治。(区水务局（区海洋局）、相关沿海街镇）

3. 完善海洋环境应急预案。
责任单位：区应急局、区公安分局，各街道、各区属集团

（二）强化监督管理

4. 建立联席会议制度，由区发改委牵头，区财政局、人行海滨支行配合落实。

5. 加强执法检查（区生态环境局牵头，区市场监管局、海事局海滨分局配合）。

6. 强化宣传引导。各有关部门按职责分工负责。

二、保障措施

7. 加强组织领导，成立区海洋环境保护工作专班，办公室设在区生态环境局。（区生态环境局负责）

8. 做好资金保障。（区财政局、海滨城投集团、东滩街道、滨海镇负责）

三、工作要求

区生态环境局、区水务局每月5日前将上月工作进展报送区海洋环境保护工作专班办公室。
"""


def cli(tmp_path: Path, *args: str, database_url: str | None = None) -> CliResult:
    """``taskforce ARGS`` with policies and units directories under tmp_path."""
    env = {
        "TASKFORCE_UNITS_DIR": str(tmp_path / "config" / "units"),
        "TASKFORCE_POLICIES_DIR": str(tmp_path / "config" / "policies"),
    }
    if database_url is not None:
        env["TASKFORCE_DATABASE_URL"] = database_url
    return invoke_cli(tmp_path, *args, env=env)


@pytest.fixture
def notice(tmp_path: Path) -> Path:
    file = tmp_path / "notice.txt"
    file.write_text(NOTICE, encoding="utf-8")
    (tmp_path / "config" / "units").mkdir(parents=True)
    return file


def fill_mailboxes(file: Path) -> None:
    """What the office does: a real mailbox per unit (here: another domain, one per unit)."""
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    for unit in data["units"]:
        unit["mailboxes"] = [f"{unit['code']}@haibin.gov.test"]
    file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_import_without_a_directory_writes_both_drafts_that_load(
    tmp_path: Path, notice: Path, db_settings: Settings
) -> None:
    policy = tmp_path / "config" / "policies" / "haibin-2024.yaml"
    imported = cli(tmp_path, "policy", "import", str(notice), "-o", str(policy))
    assert imported.returncode == 0, imported.stderr
    units_file = tmp_path / "config" / "units" / "haibin.yaml"
    assert f"单位目录草稿已写入 {units_file}" in imported.stdout
    assert policy.exists()

    directory = load_units(units_file)
    assert directory.county == "海滨区"
    by_name = {u.name: u for u in directory.units}
    assert by_name["区水务局"].aliases == ["区海洋局", "区水务局（区海洋局）"]
    assert by_name["区水务局"].mailboxes == ["swj@haibin.example.org"]
    assert by_name["区财政局"].note == "原文措施4、8点名。"
    kinds = {name: u.kind.value for name, u in by_name.items()}
    assert kinds["区应急局"] == "department"
    assert kinds["人行海滨支行"] == kinds["海事局海滨分局"] == "external"
    assert kinds["东滩街道"] == kinds["滨海镇"] == "township"
    assert kinds["海滨城投集团"] == "company"
    collectives = {c.name: c.members for c in directory.collectives}
    assert collectives["相关沿海街镇"] == ["东滩街道", "滨海镇"]
    assert collectives["各街道"] == ["东滩街道"]
    assert collectives["各区属集团"] == ["海滨城投集团"]
    assert "区生态环境局" in collectives["各有关部门"]
    # the addressees: 各 stands before the whole list; the issuing office is a unit
    assert collectives["各街道、镇人民政府"] == ["东滩街道", "滨海镇"]
    assert "区财政局" in collectives["区政府各委、办、局"]
    assert kinds["上海市海滨区人民政府办公室"] == "department"

    drafted = yaml.safe_load(policy.read_text(encoding="utf-8"))
    assert drafted["units_directory"] == "haibin"
    units = {m["number"]: [(r["unit"], r["role"]) for r in m["units"]] for m in drafted["measures"]}
    assert units["2"] == [("区水务局（区海洋局）", "responsible"), ("相关沿海街镇", "responsible")]
    assert units["4"] == [
        ("区发改委", "lead"),
        ("区财政局", "support"),
        ("人行海滨支行", "support"),
    ]

    fill_mailboxes(units_file)
    database = db_settings.effective_database_url
    loaded = cli(tmp_path, "policy", "load", str(policy), database_url=database)
    assert loaded.returncode == 0, loaded.stderr
    assert "已载入 haibin-2024" in loaded.stdout
    args = ("calendar", "--policy", "haibin-2024", "--json")
    calendar = cli(tmp_path, *args, database_url=database)
    assert calendar.returncode == 0, calendar.stderr
    cycles = yaml.safe_load(calendar.stdout)
    assert cycles and {c["obligation"] for c in cycles} == {"monthly-report-1"}
    assert cycles[0]["due"].startswith("2024-04-0")  # March's report, due early April


def test_a_collective_without_members_stops_the_load_with_what_to_do(
    tmp_path: Path, notice: Path
) -> None:
    notice.write_text(
        NOTICE.replace("区农业农村委、相关沿海街镇)", "区农业农村委、各岸段使用或管理单位)"),
        encoding="utf-8",
    )
    policy = tmp_path / "config" / "policies" / "haibin-2024.yaml"
    imported = cli(tmp_path, "policy", "import", str(notice), "-o", str(policy))
    assert imported.returncode == 0, imported.stderr
    assert "各岸段使用或管理单位”的成员无法从通知推定" in imported.stdout
    loaded = cli(tmp_path, "policy", "load", str(policy))
    assert loaded.returncode == 2
    assert "measures[0].units[2].unit" in loaded.stderr
    assert "集合单位在单位目录中还没有成员" in loaded.stderr


def test_an_existing_units_file_is_never_overwritten(tmp_path: Path, notice: Path) -> None:
    units_file = tmp_path / "config" / "units" / "haibin.yaml"
    shutil.copy(CONFIG_DIR / "units" / "xinjiang.yaml", units_file)  # another county's file
    before = units_file.read_bytes()
    policy = tmp_path / "config" / "policies" / "haibin-2024.yaml"
    result = cli(tmp_path, "policy", "import", str(notice), "-o", str(policy))
    assert result.returncode == 2
    assert "已存在" in result.stderr and "--units" in result.stderr
    assert str(units_file) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert units_file.read_bytes() == before
    assert not policy.exists()


def test_a_second_import_finds_the_draft_directory_by_county(tmp_path: Path, notice: Path) -> None:
    policy = tmp_path / "config" / "policies" / "haibin-2024.yaml"
    assert cli(tmp_path, "policy", "import", str(notice), "-o", str(policy)).returncode == 0
    units_file = tmp_path / "config" / "units" / "haibin.yaml"
    before = units_file.read_bytes()
    again = cli(tmp_path, "policy", "import", str(notice), "-o", str(policy), "--force")
    assert again.returncode == 0, again.stderr
    assert "单位目录草稿" not in again.stdout and "目录中没有的单位" in again.stdout
    assert units_file.read_bytes() == before


def test_a_notice_naming_only_collectives_drafts_the_issuer_and_the_collectives(
    tmp_path: Path, notice: Path
) -> None:
    # The tasks are in an annex the file lacks: the issuer (from the title) is the one unit
    # named, the addressees are collectives whose members the office fills in.
    text = "泾县人民政府关于分解落实目标任务的通知\n\n各乡镇人民政府，县政府各部门：\n\n"
    notice.write_text(text + "2024年1月1日\n\n一、总则\n\n1. 做事。\n", "utf-8")
    result = cli(tmp_path, "policy", "import", str(notice), "-o", str(tmp_path / "x-2024.yaml"))
    assert result.returncode == 0, result.stderr
    [units_file] = (tmp_path / "config" / "units").iterdir()
    draft = yaml.safe_load(units_file.read_text("utf-8"))
    assert draft["county"] == "泾县"
    assert [u["name"] for u in draft["units"]] == ["泾县人民政府"]
    assert [(c["name"], c["members"]) for c in draft["collectives"]] == [
        ("各乡镇人民政府", []),
        ("县政府各部门", []),
    ]


def test_a_notice_naming_only_collectives_and_no_issuer_still_gives_a_draft_to_fill(
    tmp_path: Path, notice: Path
) -> None:
    text = "2021年县政府重点工作任务\n\n各乡镇人民政府、县直各单位：\n\n"
    notice.write_text(text + "2021年3月1日\n\n一、总则\n\n1. 做事。\n", "utf-8")
    result = cli(tmp_path, "policy", "import", str(notice), "-o", str(tmp_path / "x-2021.yaml"))
    assert result.returncode == 0, result.stderr
    [units_file] = (tmp_path / "config" / "units").iterdir()
    written = units_file.read_text("utf-8")
    assert "原文只点名了集合单位（各乡镇人民政府、县直各单位），没有具体单位" in written
    assert "原文未点名具体责任单位" in result.stdout


def test_a_notice_without_units_asks_for_a_directory(tmp_path: Path, notice: Path) -> None:
    notice.write_text("某某县人民政府办公室文件\n\n2024年1月1日\n\n一、总则\n\n1. 做事。", "utf-8")
    result = cli(tmp_path, "policy", "import", str(notice), "-o", str(tmp_path / "x-2024.yaml"))
    assert result.returncode == 2
    assert "未找到任何责任单位" in result.stderr and "--units" in result.stderr
    assert list((tmp_path / "config" / "units").iterdir()) == []


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("县工信局", "department"),
        ("区滨江委", "department"),
        ("县政府办", "department"),
        ("县大数据中心", "department"),
        ("龙兴镇人民政府", "township"),
        ("夺火乡", "township"),
        ("金山街道", "township"),
        ("示范区管委会", "township"),
        ("太白湖新区", "township"),
        ("崇安能源公司", "company"),
        ("区国资集团", "company"),
        ("人行陵川县支行", "external"),
        ("上海海事局", "external"),
        ("市生态环境局陵川分局", "external"),
        ("县税务局", "external"),
        ("县市场监管局", "department"),
        ("县服务业发展领导小组", "department"),
        ("县融媒体", None),  # the name does not say: department, with a review line
    ],
)
def test_kind_from_the_name(name: str, kind: str | None) -> None:
    found = unit_kind(name)
    assert (found.value if found else None) == kind


def test_codes_and_collectives() -> None:
    assert [ascii_initials(n) for n in ("县发改局", "区水务局", "人行海滨支行")] == [
        "fgj",
        "swj",
        "rxhbzx",
    ]
    assert county_code("陵川县", "x-2023") == "lingchuan"
    assert county_code("浦东新区", "x-2023") == "pudongxin"
    assert county_code("", "lingchuan-2023") == "lingchuan"
    assert county_code("", "hubei-xianan-2023-fenjie") == "hubei-xianan"
    for name in (
        "各街道",
        "各区属集团",
        "相关沿海街镇",
        "各有关部门",
        "各乡镇",
        "县直各相关单位",
        "区政府各委、办、局",
        "乡镇人民政府",
        "街道(地区)办事处",
    ):
        assert is_collective(name), name
    for name in ("区水务局", "县发改局", "东滩街道"):
        assert not is_collective(name), name


# --- Messages (§4) ------------------------------------------------------------------------------


def test_review_lines_reach_the_terminal_unmangled(tmp_path: Path, notice: Path) -> None:
    """Reported: '^+(-+)*$' printed where the pattern was '^[a-z0-9]+(-[a-z0-9]+)*$'.

    A units directory whose file name is no code makes the draft fail the schema, and that
    line, with the name in brackets, went through Rich markup.
    """
    units_dir = tmp_path / "config" / "units"
    shutil.copy(CONFIG_DIR / "units" / "xinjiang.yaml", units_dir / "My_Units.yaml")
    policy = tmp_path / "config" / "policies" / "haibin-2024.yaml"
    result = cli(
        tmp_path, "policy", "import", str(notice), "-o", str(policy), "--units", "My_Units"
    )
    assert result.returncode == 0, result.stderr
    review = [
        line for line in result.stdout.splitlines() if re.match(r"\d+\. 草稿未通过格式校验", line)
    ]
    assert len(review) == 1, result.stdout
    assert "units_directory" in review[0] and "'My_Units'" in review[0]
    assert "'^+(-+)*$'" not in result.stdout
    assert re.search(r"[\u4e00-\u9fff]", review[0].split("units_directory", 1)[1])  # Chinese
    assert "String should match" not in result.stdout


def test_every_responsible_unit_reports(tmp_path: Path, notice: Path) -> None:
    """各责任单位每月5日前…报送: a collective of every unit the notice names."""
    notice.write_text(
        NOTICE.replace("区生态环境局、区水务局每月5日前", "各责任单位每月5日前"), "utf-8"
    )
    policy = tmp_path / "config" / "policies" / "haibin-2024.yaml"
    assert cli(tmp_path, "policy", "import", str(notice), "-o", str(policy)).returncode == 0
    drafted = yaml.safe_load(policy.read_text(encoding="utf-8"))
    assert drafted["obligations"][0]["recipients"] == ["各责任单位"]
    directory = load_units(tmp_path / "config" / "units" / "haibin.yaml")
    members = next(c.members for c in directory.collectives if c.name == "各责任单位")
    assert members == [u.name for u in directory.units]
