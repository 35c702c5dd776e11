"""What the demo's bureaus write in their monthly reports: banks of phrases per kind of measure.

A measure's kind comes from keywords in its title (煤 → 能源, 就业 → 就业 …). Each unit's text is
drawn from the banks of the kinds of its own measures, varied by unit and month through the
seed, in the register of a county bureau's monthly report (一是……；二是……。). About half of the
units have no problem to report; a unit that answers for a target behind schedule always
explains why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tasks.demo.progress import draw

Kind = str  # energy / industry / services / projects / employment / finance / general

# First match wins, so the narrower kinds come first (创业担保贷款 is 就业, not 金融).
KIND_KEYWORDS: tuple[tuple[Kind, tuple[str, ...]], ...] = (
    ("energy", ("煤", "电", "能源", "矿")),
    (
        "employment",
        ("就业", "稳岗", "失业", "社会保险", "人力资源", "见习", "创业", "技能", "补贴"),
    ),
    ("finance", ("财政", "债券", "增信", "货币", "资金", "账款", "金融", "信贷")),
    ("industry", ("工业", "制造", "产业链", "复产", "复工", "工地", "上规")),
    ("projects", ("项目", "投资", "招商", "审批")),
    (
        "services",
        ("服务业", "消费", "餐饮", "住宿", "文旅", "客源", "平台", "物流", "数字", "复商"),
    ),
)


@dataclass(frozen=True)
class Bank:
    work: tuple[str, ...]  # 工作落实情况
    problems: tuple[str, ...]  # 存在的问题困难
    steps: tuple[str, ...]  # 下一步落实措施
    reasons: tuple[str, ...]  # why a target of this kind falls behind schedule


BANKS: Mapping[Kind, Bank] = {
    "energy": Bank(
        work=(
            "组织全县煤矿按核定产能均衡组织生产，实行生产情况日调度",
            "会同县应急局对在产煤矿开展安全生产检查，督促企业落实各项安全措施",
            "督促煤矿企业制定智能化改造实施方案，明确建设内容和时间节点",
            "建立电煤供应保障机制，优先保障电厂和民生用煤需求",
        ),
        problems=(
            "部分煤矿受地质条件影响，采掘接续紧张，产量提升空间有限",
            "智能化改造设备采购周期较长，部分项目进度慢于预期",
            "节后部分矿井职工返岗不及时，影响正常生产组织",
            "煤炭外运高峰时段道路通行压力较大，个别时段出现车辆排队",
            "煤矿安全监管任务重，专业监管人员不足",
            "部分煤矿井下用工短缺，采掘一线人员配备不足",
            "冬季供暖用煤需求集中，电煤长协合同兑现压力较大",
        ),
        steps=(
            "持续做好煤炭增产保供调度，督促煤矿在确保安全的前提下均衡生产",
            "加快推进智能化矿井建设，协调设备厂家加快供货安装",
            "加强与电厂、铁路部门沟通衔接，保障电煤运输畅通",
            "加大安全生产监管力度，坚决防范各类生产安全事故",
        ),
        reasons=(
            "个别煤矿工作面接续紧张，停产搬家影响产量",
            "智能化改造设备到货滞后，安装调试尚未完成",
            "部分煤矿按要求停产整改安全隐患",
        ),
    ),
    "industry": Bank(
        work=(
            "深入企业走访调研，协调解决企业复工复产中的用工、原料、物流等问题",
            "建立重点工业企业运行监测台账，按周调度企业生产经营情况",
            "督促在建房建和市政工地落实复工条件，分批有序组织复工",
            "梳理产业链上下游配套企业清单，推动本地企业配套协作",
        ),
        problems=(
            "部分企业订单不足，产能利用率偏低",
            "原材料价格高位运行，企业生产成本上升",
            "部分企业用工缺口较大，技术工人招聘难",
            "受低温天气影响，部分工地室外作业无法正常开展",
            "个别企业复产意愿不强，仍持观望态度",
            "企业应收账款回收慢，流动资金紧张",
            "部分企业环保设施改造尚未完成，暂不能满负荷生产",
        ),
        steps=(
            "继续实行领导包联服务，帮助企业解决生产经营中的实际困难",
            "加强工业运行监测分析，对产值下滑企业逐户分析原因",
            "落实各项惠企政策，帮助企业降低生产经营成本",
            "天气转暖后督促各工地加快复工，抢抓施工黄金期",
        ),
        reasons=(
            "部分企业订单不足，复产后未能满负荷生产",
            "受低温天气影响，室外施工无法正常开展",
            "部分企业资金周转困难，复产进度放缓",
        ),
    ),
    "services": Bank(
        work=(
            "组织开展促消费系列活动，发放消费券，带动商贸、餐饮消费",
            "推动住宿餐饮、文旅企业全面恢复营业，做好服务保障",
            "联合电商平台开展农特产品网上销售活动",
            "策划春季文旅宣传推介活动，积极拓展周边客源市场",
        ),
        problems=(
            "居民消费意愿仍然偏弱，消费券核销率不高",
            "部分住宿餐饮企业经营困难，恢复营业后客流不足",
            "一季度为文旅传统淡季，游客接待量恢复较慢",
            "电商专业人才缺乏，网络销售规模偏小",
            "服务业企业普遍规模较小，达到入统标准的企业数量少",
            "物流配送成本偏高，农村寄递网点覆盖不足",
            "乡村旅游配套设施不完善，接待能力有限",
        ),
        steps=(
            "持续开展促消费活动，提高消费券使用效率",
            "加强文旅宣传推介，提前做好春季旅游市场准备",
            "加强服务业企业培育，推动符合条件的企业升规入统",
            "组织电商培训，扩大农特产品网上销售规模",
        ),
        reasons=(
            "一季度为传统淡季，市场主体经营恢复较慢",
            "消费需求恢复不及预期，企业经营意愿不足",
        ),
    ),
    "projects": Bank(
        work=(
            "召开项目推进会，逐项目明确责任领导、责任单位和时间节点",
            "开展项目前期手续集中办理，推行容缺受理和并联审批",
            "赴外开展招商引资活动，洽谈对接意向项目",
            "建立重点项目周调度制度，实行挂图作战、销号管理",
        ),
        problems=(
            "部分项目前期手续办理周期较长，用地、环评等审批进度滞后",
            "项目资金到位率不高，部分项目存在资金缺口",
            "受冬季低温天气影响，部分项目尚不具备开工条件",
            "签约项目落地转化率不高，部分企业投资意愿趋于谨慎",
            "项目储备质量不高，可申报的成熟项目偏少",
            "部分项目建设用地指标紧张，征地拆迁推进较慢",
            "招商项目信息来源渠道单一，有效线索不多",
        ),
        steps=(
            "加快项目前期手续办理，推动审批事项提速办结",
            "抢抓有利施工时机，推动新建项目尽早开工",
            "强化用地、资金等要素保障，积极争取上级资金支持",
            "加强签约项目跟踪服务，推动签约项目尽快落地开工",
        ),
        reasons=(
            "受持续低温天气影响，部分项目无法开展室外施工",
            "个别项目用地、环评手续尚未办结，暂不具备开工条件",
            "部分项目资金筹措不到位，存在资金缺口",
            "部分签约企业投资意愿趋于谨慎，项目落地进度放缓",
        ),
    ),
    "employment": Bank(
        work=(
            "落实阶段性降低失业保险费率政策，减轻企业负担",
            "举办春风行动招聘会，为企业和求职者搭建对接平台",
            "组织开展职业技能培训，提升劳动者就业能力",
            "审核发放一次性吸纳就业补贴和就业见习补贴",
        ),
        problems=(
            "部分企业对稳岗政策了解不够，申报积极性不高",
            "高校毕业生就业意向与本地岗位匹配度不高",
            "职业技能培训报名人数不足，参训积极性不高",
            "创业担保贷款反担保条件要求较高，部分创业者难以满足",
            "部分农村劳动力外出务工意愿强，本地企业招工难",
            "就业见习单位数量少，见习岗位吸引力不强",
        ),
        steps=(
            "加大稳岗就业政策宣传力度，推动政策应享尽享",
            "持续开展线上线下招聘活动，促进供需精准对接",
            "优化补贴申领流程，加快补贴资金发放",
            "组织开展订单式培训，提高培训针对性和实效性",
        ),
        reasons=(
            "企业申报积极性不高，部分补贴申领进度较慢",
            "符合条件的对象摸排工作尚未全部完成",
        ),
    ),
    "finance": Bank(
        work=(
            "加快财政资金下达拨付，保障重点项目资金需求",
            "组织相关单位谋划储备专项债券项目，做好申报准备",
            "督促金融机构落实延期还本付息政策，加大对小微企业信贷支持",
            "开展拖欠中小企业账款排查，建立问题台账",
        ),
        problems=(
            "县级财力紧张，部分配套资金难以及时到位",
            "专项债券项目储备不足，部分项目收益与融资平衡方案不达标",
            "部分小微企业缺乏有效抵押物，融资难问题依然存在",
            "个别拖欠账款涉及历史遗留问题，清偿难度较大",
            "部分项目资金拨付进度较慢，资金支出进度不及预期",
            "金融机构信贷审批权限上收，县级支行放贷效率不高",
        ),
        steps=(
            "加快专项债券项目前期工作，提高项目申报质量",
            "加强财政资金调度，优先保障重点支出",
            "组织银企对接活动，加大普惠小微贷款投放",
            "对拖欠账款逐笔制定清偿计划，限时办结",
        ),
        reasons=(
            "成熟项目储备不足，部分项目前期手续不完善",
            "上级额度分批下达，首批额度有限",
        ),
    ),
    "general": Bank(
        work=(
            "召开专题会议传达学习政策措施，细化分解任务，明确责任人",
            "结合本单位职责制定贯彻落实工作方案",
            "深入企业和项目一线开展服务，及时协调解决问题",
            "通过政务网站、微信公众号等渠道宣传解读政策措施",
        ),
        problems=(
            "政策宣传覆盖面仍需扩大，部分企业对政策内容知晓不够",
            "部门间信息共享不够及时，协调联动还需加强",
            "工作人员少、任务重，工作推进存在一定压力",
            "部分政策配套细则尚未出台，基层执行中把握不准",
            "基层工作力量薄弱，数据统计报送质量有待提高",
        ),
        steps=(
            "进一步加强政策宣传解读，提高政策知晓率",
            "加强与相关部门沟通协作，形成工作合力",
            "做好各项工作跟踪落实，按时报送月度进展情况",
        ),
        reasons=("相关工作涉及部门较多，协调推进需要一定时间",),
    ),
}

# What a unit with nothing to raise writes under 存在的问题困难 (the cell is required).
NO_PROBLEM = (
    "无。",
    "无",
    "暂无。",
    "本月工作推进总体顺利，暂无需要协调解决的问题。",
    "暂未发现突出问题。",
    "工作按计划推进，无突出困难。",
)
NO_PROBLEM_SHARE = 0.5
ORDINALS = "一二三四五"


def kind_of(title: str) -> Kind:
    """The kind of a measure, from keywords in its title."""
    for kind, words in KIND_KEYWORDS:
        if any(word in title for word in words):
            return kind
    return "general"


def pick(options: Sequence[str], *parts: object) -> str:
    return options[int(draw(*parts) * len(options))]


def pick_some(options: Sequence[str], count: int, *parts: object) -> list[str]:
    """``count`` different options, in an order fixed by ``parts``."""
    ranked = sorted(options, key=lambda o: draw(*parts, o))
    return ranked[: min(count, len(ranked))]


def enumerate_items(items: Sequence[str]) -> str:
    """一是……；二是……。 as a bureau lists its points; one point is a plain sentence."""
    if len(items) == 1:
        return f"{items[0]}。"
    return "；".join(f"{ORDINALS[i]}是{item}" for i, item in enumerate(items)) + "。"


def _kinds(titles: Sequence[str]) -> list[Kind]:
    """The kinds of a unit's measures, most frequent first (ties in measure order)."""
    kinds = [kind_of(t) for t in titles] or ["general"]
    return sorted(dict.fromkeys(kinds), key=lambda k: -kinds.count(k))


def work_done(titles: Sequence[str], facts: Sequence[str], seed: str, *where: object) -> str:
    """工作落实情况: two or three points from the unit's main kinds, then its figures."""
    kinds = _kinds(titles)[:2]
    count = 2 + int(draw(seed, "work-count", *where) * 2)
    pool = [w for k in kinds for w in BANKS[k].work]
    text = enumerate_items(pick_some(pool, count, seed, "work", *where))
    return text + "".join(facts)


def problems(titles: Sequence[str], behind: Sequence[str], seed: str, *where: object) -> str:
    """存在的问题困难: the lag explanations ``behind`` if any, else often 无, else one or two
    points from the bank of one of the unit's kinds."""
    if behind:
        return "".join(behind)
    if draw(seed, "quiet", *where) < NO_PROBLEM_SHARE:
        return pick(NO_PROBLEM, seed, "no-problem", *where)
    kind = pick(_kinds(titles)[:2], seed, "problem-kind", *where)
    count = 1 + int(draw(seed, "problem-count", *where) * 2)
    return enumerate_items(pick_some(BANKS[kind].problems, count, seed, "problem", *where))


def next_steps(titles: Sequence[str], catch_up: Sequence[str], seed: str, *where: object) -> str:
    """下一步落实措施: always given; the catch-up plans first, then one or two points."""
    kinds = _kinds(titles)[:2]
    pool = [s for k in kinds for s in BANKS[k].steps]
    count = 1 + int(draw(seed, "step-count", *where) * 2)
    return enumerate_items([*catch_up, *pick_some(pool, count, seed, "step", *where)])


# Reasons that fit a target's metric better than its measure's kind does, by keyword.
METRIC_REASONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("智能化", ("智能化改造设备到货滞后，安装调试尚未完成",
                "相关煤矿智能化建设方案仍在论证完善，施工单位尚未进场",
                "智能化建设投入大，企业资金筹措需要一定时间")),
    ("开工", ("受持续低温天气影响，部分项目无法开展室外施工",
              "个别项目用地、环评手续尚未办结，暂不具备开工条件",
              "部分项目资金筹措不到位，存在资金缺口")),
    ("到位资金", ("部分项目资金筹措不到位，存在资金缺口",
                  "部分签约企业投资意愿趋于谨慎，资金到位进度放缓",
                  "银行贷款审批周期较长，项目融资尚未落实")),
    ("签约", ("部分客商投资意愿趋于谨慎，签约进度放缓",
              "意向项目仍在洽谈，尚未达到签约条件")),
    ("债券", ("成熟项目储备不足，部分项目前期手续不完善",
              "部分项目收益与融资平衡方案未通过审核")),
    ("产量", ("个别煤矿工作面接续紧张，停产搬家影响产量",
              "部分煤矿按要求停产整改安全隐患")),
)  # fmt: skip


def reasons_for(metric: str, title: str) -> tuple[str, ...]:
    """Why a target of this metric falls behind: by its own words first, else its kind."""
    for word, reasons in METRIC_REASONS:
        if word in metric:
            return reasons
    return BANKS[kind_of(title)].reasons


def lag_explanation(
    metric: str, figure: str, month: int, title: str, seed: str, *where: object
) -> str:
    """Why a target is behind schedule, as the unit answering for it explains it."""
    reasons = pick_some(reasons_for(metric, title), 2, seed, "reason", *where)
    because = "；".join(f"{ORDINALS[i]}是{r}" for i, r in enumerate(reasons))
    return f"{metric}截至{month}月底为{figure}，低于序时进度。主要原因：{because}。"


def catch_up(metric: str, title: str) -> str:
    """The catch-up plan for a target behind schedule (a point of 下一步落实措施)."""
    plans = {
        "projects": "逐项目梳理{m}滞后原因，实行一项目一专班、一周一调度，力争尽快追上序时进度",
        "energy": "督促相关企业倒排工期，加快{m}进度，确保按期完成",
        "finance": "加快{m}相关项目前期工作，主动对接上级部门，争取更多额度",
    }
    template = plans.get(kind_of(title), "针对{m}进度滞后问题，制定追赶措施，确保按期完成目标任务")
    return template.format(m=metric)
