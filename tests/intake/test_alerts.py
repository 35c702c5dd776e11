"""The 【隔离】 digest counts reasons by what went wrong, not by the address or file they name."""

from __future__ import annotations

import pytest

from tasks.intake.alerts import reason_group


@pytest.mark.parametrize(
    ("reason", "group"),
    [
        ("发件地址 a@b.invalid 不在单位名录中，且邮件未附本办下发的报表", "发件地址不在单位名录中"),
        ("发件地址 c@d.invalid 不在单位名录中", "发件地址不在单位名录中"),
        ("邮件大小 300.0 MB，超过系统接收上限（40.0 MB），未予读取", "邮件超过大小上限，未予读取"),
        (
            "附件《报告.xlsx》：表格签名校验失败：元数据被改动",
            "表格签名校验失败（被改动或非本办下发）",
        ),
        (
            "是县工信局的报表，但发件地址 rsj@x（县人社局的邮箱）不是县工信局登记的邮箱",
            "发件地址不是报表所属单位的登记邮箱",
        ),
        (
            "无法判断该邮件所报的事项和报告期（本单位当前没有待报送的报告）",
            "无法判断所报事项和报告期",
        ),
        ("政策 x 未载入", "政策未载入"),
        # A reason added later: its first clause, the address in it made alike.
        ("发件人 e@f.invalid 未通过域名认证，暂不受理", "发件人 某地址 未通过域名认证"),
        ("", "其他原因"),
    ],
)
def test_reason_group(reason: str, group: str) -> None:
    assert reason_group(reason) == group
