"""Synthetic counties for the consolidation benchmark, written straight to the database.

One policy per county (code ``syn-pNN-cNNN``; 120 counties to a province, 2,844 in the nation),
50 units, 40 measures in four sections (each unit responsible for 10 of them: two lead units per
measure, the rest support), targets on every third measure, four task-force groups, one monthly
obligation with twelve 2023 cycles. Per unit per month one report: mostly accepted on time with
one progress entry per measure it is responsible for; a few late, missing, rejected, rejected
then corrected (version 2), or a reply without our form (unstructured). Rows are written month
by month (as intake would write them): COPY on PostgreSQL, one executemany transaction on SQLite
with ``synchronous=OFF`` (generation only).

Scale: ``TASKFORCE_BENCH_SCALE`` = county | province | nation (default province);
``TASKFORCE_BENCH_COUNTIES`` caps the number of counties. A generated database is kept (SQLite
under ``var/bench/``, PostgreSQL database ``taskforce_bench_<scale>``) and reused when it holds
the same counties; ``TASKFORCE_BENCH_REGENERATE=1`` forces a fresh one.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import models.issued_forms  # registers its table
import models.tables  # noqa: F401  (registers the tables)
from tests.bench.report import TINY

SCALES = {"county": 1, "province": 120, "nation": 2844}
PROVINCE = 120
UNITS = 50
MEASURES = 40
PER_UNIT = 10  # measures each unit reports on
STRIDE = MEASURES // PER_UNIT  # unit u is responsible for measures m ≡ u (mod STRIDE)
LEADS = 2
MONTHS = 12
YEAR = 2023
GROUPS = 4
SECTIONS = "一二三四"
STATUSES = ("已完成", "推进中", "滞后", "未启动")
STATUS_WEIGHTS = (25, 55, 12, 8)
NOTES = (
    "",
    "",
    "",
    "按计划推进。",
    "资金已拨付到位。",
    "受天气影响进度放缓。",
    "已完成阶段性验收。",
)
PROBLEMS = ("", "", "项目审批环节较多，进度偏慢。", "专项资金尚未全部到位。")
NEXT_STEPS = ("", "加快推进项目建设。", "加强调度，确保按期完成。")
SHANGHAI_HOURS = 8


@dataclass
class Synthetic:
    """A generated (or reused) synthetic database."""

    url: str
    backend: str
    codes: list[str]
    provinces: dict[str, list[str]]
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    size_bytes: int = 0
    reused: bool = False

    def summary(self) -> str:
        rows = ", ".join(f"{k} {v:,}" for k, v in self.rows.items())
        how = "reused (generated earlier in" if self.reused else "generated in"
        tail = ")" if self.reused else ""
        return (
            f"{self.backend}: {len(self.codes):,} counties, {how} {self.seconds:.1f} s{tail}, "
            f"{self.size_bytes / 2**20:,.0f} MiB; rows: {rows}"
        )


def scale_from_env() -> tuple[str, int]:
    scale = os.environ.get("TASKFORCE_BENCH_SCALE", "province")
    if scale not in SCALES:
        raise ValueError(f"TASKFORCE_BENCH_SCALE must be one of {', '.join(SCALES)}: {scale!r}")
    counties = SCALES[scale]
    cap = "2" if TINY else os.environ.get("TASKFORCE_BENCH_COUNTIES")
    if cap:
        counties = min(counties, int(cap))
    return scale, counties


def county_codes(counties: int) -> tuple[list[str], dict[str, list[str]]]:
    codes: list[str] = []
    provinces: dict[str, list[str]] = {}
    for index in range(counties):
        province = f"p{index // PROVINCE + 1:02d}"
        code = f"syn-{province}-c{index % PROVINCE + 1:03d}"
        codes.append(code)
        provinces.setdefault(province, []).append(code)
    return codes, provinces


def month_period(month: int) -> str:
    return f"{YEAR}-{month:02d}"


def due_at(month: int) -> datetime:
    """The 5th of the next month, 18:00 Beijing time."""
    first = date(YEAR + month // 12, month % 12 + 1, 5)
    return datetime(first.year, first.month, first.day, 18 - SHANGHAI_HOURS, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Databases


def sqlite_url(scale: str, counties: int) -> str:
    root = Path(__file__).resolve().parents[2] / "var" / "bench"
    return f"sqlite:///{root / f'synthetic-{scale}-{counties}.db'}"


def postgres_bench_url(test_url: str, scale: str) -> str:
    """A database of its own on the test server, so the tests' drop_all never meets it."""
    url = make_url(test_url)
    name = f"taskforce_bench_{scale}" + ("_tiny" if TINY else "")  # a tiny run keeps the real one
    return url.set(database=name).render_as_string(hide_password=False)


def _recreate_postgres(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def _postgres_exists(url: str) -> bool:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        found = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": parsed.database}
        ).first()
    admin.dispose()
    return found is not None


def _meta(engine: Engine) -> dict[str, Any] | None:
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT value FROM synthetic_meta WHERE key = 'summary'")
            ).first()
    except Exception:
        return None
    return json.loads(row[0]) if row else None


def db_size(engine: Engine) -> int:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return int(
                conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            )
    database = engine.url.database or ""
    return sum(
        Path(database + s).stat().st_size for s in ("", "-wal") if Path(database + s).exists()
    )


def schema_fingerprint() -> str:
    """The tables' columns and indexes as the code declares them: a database generated before
    a column was added (or dropped) is generated again rather than failing the benchmark, and
    one made before an index was added, rather than measuring without it."""
    tables = SQLModel.metadata.sorted_tables
    shape = [
        [t.name, [c.name for c in t.columns], sorted(str(i.name) for i in t.indexes)]
        for t in tables
    ]
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


def ensure_synthetic(url: str, scale: str, counties: int) -> Synthetic:
    """The synthetic database at ``url`` with ``counties`` counties: reused, else generated."""
    backend = make_url(url).get_backend_name()
    codes, provinces = county_codes(counties)
    regenerate = os.environ.get("TASKFORCE_BENCH_REGENERATE") == "1"
    if backend == "postgresql" and (regenerate or not _postgres_exists(url)):
        _recreate_postgres(url)
    if backend == "sqlite":
        path = Path(make_url(url).database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        if regenerate:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
    engine = create_engine(url)
    meta = _meta(engine)
    if (
        meta is not None
        and meta.get("counties") == counties
        and meta.get("complete")
        and meta.get("schema") == schema_fingerprint()
    ):
        found = Synthetic(url, backend, codes, provinces, meta["rows"], meta["seconds"],
                          db_size(engine), reused=True)  # fmt: skip
        engine.dispose()
        return found
    engine.dispose()
    if backend == "postgresql":
        _recreate_postgres(url)
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(str(make_url(url).database) + suffix).unlink(missing_ok=True)
    engine = create_engine(url)
    SQLModel.metadata.create_all(engine)
    start = time.perf_counter()
    if backend == "postgresql":
        rows = _write_postgres(engine, counties)
    else:
        rows = _write_sqlite(engine, counties)
    seconds = time.perf_counter() - start
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE synthetic_meta (key TEXT PRIMARY KEY, value TEXT)"))
        summary = {"counties": counties, "rows": rows, "seconds": seconds, "complete": True,
                   "schema": schema_fingerprint()}  # fmt: skip
        conn.execute(
            text("INSERT INTO synthetic_meta VALUES ('summary', :v)"), {"v": json.dumps(summary)}
        )
    made = Synthetic(url, backend, codes, provinces, rows, seconds, db_size(engine))
    engine.dispose()
    return made


# ---------------------------------------------------------------------------------------------
# Rows


Row = tuple[Any, ...]
Stamp = Callable[[datetime], str]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _pools(rng: random.Random) -> dict[int, list[tuple[str, float | None, str]]]:
    """Per number of targets: (status, value_reached, fields JSON) for progress entries."""
    pools: dict[int, list[tuple[str, float | None, str]]] = {}
    for n in (0, 1, 2):
        pool = []
        for _ in range(256):
            status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
            values = [round(rng.uniform(0, 110), 1) for _ in range(n)]
            fields = {
                "targets": [{"index": i, "value": v} for i, v in enumerate(values)],
                "note": rng.choice(NOTES),
            }
            reached = values[0] if values else (None if rng.random() < 0.8 else 1.0)
            pool.append((status, reached, _dumps(fields)))
        pools[n] = pool
    return pools


def _responsible(unit: int) -> list[int]:
    return [m for m in range(MEASURES) if m % STRIDE == unit % STRIDE]


def _measure_units(measure: int) -> list[int]:
    return [u for u in range(UNITS) if u % STRIDE == measure % STRIDE]


def _targets_of(measure: int) -> int:
    return 0 if measure % 3 else 1 + (measure // 3) % 2


def config_rows(c: int, ts: Stamp, counters: dict[str, int]) -> dict[str, list[Row]]:
    """The configuration rows of county index ``c`` (ids derived from ``c``)."""
    province, county_no = c // PROVINCE + 1, c % PROVINCE + 1
    code = f"syn-p{province:02d}-c{county_no:03d}"
    county = f"合成省{province:02d}第{county_no:03d}县"
    pid = c + 1
    loaded = ts(datetime(2022, 12, 20, tzinfo=UTC))
    out: dict[str, list[Row]] = {}
    out["policy"] = [(
        pid, code, county, f"synthetic/{code}.yaml", f"{county}稳经济促发展工作方案",
        f"{county}人民政府办公室", f"合政办发〔{YEAR}〕{county_no}号", "2022-12-30",
        f"{YEAR}-01-01", f"{YEAR}-12-31",
        _dumps({"name": f"{county}工作专班", "office": {
            "name": f"{county}专班办公室", "unit": "第01单位",
            "mailbox": f"office@{code}.example.org",
        }}),
        "{}", "[]", f"{c:064x}", loaded,
    )]  # fmt: skip
    unit_id = c * UNITS + 1
    names = [f"第{u + 1:02d}单位" for u in range(UNITS)]
    out["unit"] = [
        (unit_id + u, county, f"u{u:02d}", names[u], "", "[]",
         "township" if u >= 35 else "bureau", _dumps([f"u{u:02d}@{code}.example.org"]), "{}",
         False, "", None)
        for u in range(UNITS)
    ]  # fmt: skip
    mid = c * MEASURES + 1
    out["measure"] = [
        (mid + m, pid, str(m + 1), None, m + 1, 0,
         f"{SECTIONS[m * GROUPS // MEASURES]}({m % 10 + 1})",
         f"措施{m + 1}", f"第{m + 1}项措施的内容。", None, "", "task", "", None)
        for m in range(MEASURES)
    ]  # fmt: skip
    out["responsibility"] = []
    out["target"] = []
    for m in range(MEASURES):
        for position, u in enumerate(_measure_units(m)):
            counters["responsibility"] += 1
            out["responsibility"].append((counters["responsibility"], mid + m, unit_id + u,
                                          "lead" if position < LEADS else "support", None,
                                          position))  # fmt: skip
        for position in range(_targets_of(m)):
            counters["target"] += 1
            out["target"].append((
                counters["target"], mid + m, position, f"指标{m + 1}-{position + 1}", 100.0,
                "万元", "at_most" if (m + position) % 5 == 4 else "at_least", f"{YEAR}-12-31",
                "年底前", None, "", "", None,
            ))  # fmt: skip
    out["taskforcegroup"] = [
        (c * GROUPS + g + 1, pid, f"g{g + 1}", f"第{g + 1}专项推进组",
         _dumps([names[_measure_units(g * MEASURES // GROUPS)[0]]]), _dumps([SECTIONS[g]]),
         "[]", "")
        for g in range(GROUPS)
    ]  # fmt: skip
    out["obligation"] = [(
        pid, pid, "monthly-progress", "月度工作进展", "monthly",
        _dumps({"day": 5, "of": "next_month"}), None, None, "next_working_day", "{}", "[]",
        "office", False, "每月5日前报送上月工作进展。", None,
    )]  # fmt: skip
    out["obligationrecipient"] = [(unit_id + u, pid, unit_id + u) for u in range(UNITS)]
    cycles = []
    for month in range(1, MONTHS + 1):
        start = date(YEAR, month, 1)
        end = date(YEAR + month // 12, month % 12 + 1, 1) - timedelta(days=1)
        due = due_at(month)
        cycles.append((
            c * MONTHS + month, pid, month_period(month), f"{YEAR}年{month}月", start.isoformat(),
            end.isoformat(), end.isoformat(), due.date().isoformat(), ts(due),
            _dumps([(due.date() - timedelta(days=2)).isoformat()]), True, None,
        ))  # fmt: skip
    out["cycle"] = cycles
    return out


CONFIG_TABLES = ("policy", "unit", "measure", "responsibility", "target", "taskforcegroup",
                 "obligation", "obligationrecipient", "cycle")  # fmt: skip


def month_rows(
    c: int,
    month: int,
    ts: Stamp,
    counters: dict[str, int],
    pools: dict[int, list[tuple[str, float | None, str]]],
    rng: random.Random,
    submissions: list[Row],
    entries: list[Row],
) -> None:
    """Append county ``c``'s reports for ``month`` to ``submissions`` and ``entries``."""
    cycle_id = c * MONTHS + month
    due = due_at(month)
    unit_id = c * UNITS + 1
    mid = c * MEASURES + 1
    for u in range(UNITS):
        r = rng.random()
        if r < 0.02:
            continue  # missing
        received = due - timedelta(hours=1 + u % 72, minutes=u)
        late = 0
        if 0.04 <= r < 0.07:
            late = 1 + u % 3
            received = due + timedelta(days=late, hours=2)
        versions: list[tuple[str, str]] = []
        if r < 0.04:
            versions.append(("rejected", REJECTED))
        if not 0.02 <= r < 0.03:  # rejected only: no second version
            versions.append(("unstructured" if 0.07 <= r < 0.08 else "accepted", "[]"))
        previous = None
        for version, (status, errors) in enumerate(versions, start=1):
            counters["submission"] += 1
            sid = counters["submission"]
            at = received + timedelta(hours=20 * (version - 1))
            fields = TEXTS[(u + month) % len(TEXTS)] if status == "accepted" else (
                _dumps({"body": "本月工作进展见正文。", "attachments": ["进展.docx"]})
                if status == "unstructured" else "{}"
            )  # fmt: skip
            submissions.append((
                sid, cycle_id, unit_id + u, version, previous, None, status, "email", ts(at),
                late, f"{YEAR}年{month}月进展.xlsx", None, fields, errors, ts(at),
            ))  # fmt: skip
            previous = sid
            if status != "accepted":
                continue
            bits = rng.getrandbits(64)
            for k, m in enumerate(_responsible(u)):
                status_, reached, entry_fields = pools[_targets_of(m)][(bits >> (k * 6)) & 255]
                counters["progressentry"] += 1
                entries.append(
                    (counters["progressentry"], sid, mid + m, status_, reached, entry_fields)
                )


MONTH_TABLES = ("submission", "progressentry")
TEXTS = [_dumps({"work-done": "本月按计划推进各项工作。", "problems": p, "next-steps": n})
         for p in PROBLEMS for n in NEXT_STEPS]  # fmt: skip
REJECTED = _dumps([{"sheet": "月度报告", "cell": "D12", "problem": "进展状态不在可选范围内"}])


def _columns(table: str) -> list[str]:
    return [c.name for c in SQLModel.metadata.tables[table].columns]


def _generate(counties: int, ts: Stamp, write: Callable[[str, list[Row]], None]) -> dict[str, int]:
    counters = dict.fromkeys((*CONFIG_TABLES, *MONTH_TABLES), 0)
    batch: dict[str, list[Row]] = {name: [] for name in CONFIG_TABLES}
    for c in range(counties):
        for name, rows in config_rows(c, ts, counters).items():
            batch[name].extend(rows)
        if (c + 1) % 200 == 0 or c == counties - 1:
            for name in CONFIG_TABLES:
                write(name, batch[name])
                batch[name] = []
    pools = _pools(random.Random(7))
    for month in range(1, MONTHS + 1):
        for start in range(0, counties, 200):
            submissions: list[Row] = []
            entries: list[Row] = []
            for c in range(start, min(counties, start + 200)):
                rng = random.Random(c * 100 + month)
                month_rows(c, month, ts, counters, pools, rng, submissions, entries)
            write("submission", submissions)
            write("progressentry", entries)
    counters["policy"] = counters["obligation"] = counties
    counters["unit"] = counters["obligationrecipient"] = counties * UNITS
    counters["measure"] = counties * MEASURES
    counters["taskforcegroup"] = counties * GROUPS
    counters["cycle"] = counties * MONTHS
    return counters


def _write_sqlite(engine: Engine, counties: int) -> dict[str, int]:
    def ts(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.execute("PRAGMA cache_size=-1000000")
        cursor.execute("PRAGMA journal_mode=WAL")
        statements = {
            name: f"INSERT INTO {name} ({', '.join(_columns(name))}) "
            f"VALUES ({', '.join('?' * len(_columns(name)))})"
            for name in (*CONFIG_TABLES, *MONTH_TABLES)
        }

        def write(name: str, rows: list[Row]) -> None:
            cursor.executemany(statements[name], rows)

        counters = _generate(counties, ts, write)
        raw.commit()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.execute("ANALYZE")
        raw.commit()
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        raw.close()
    return counters


def _write_postgres(engine: Engine, counties: int) -> dict[str, int]:
    def ts(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")

    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()

        def write(name: str, rows: list[Row]) -> None:
            statement = f"COPY {name} ({', '.join(_columns(name))}) FROM STDIN"
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)

        counters = _generate(counties, ts, write)
        for name in (*CONFIG_TABLES, *MONTH_TABLES):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {name}))"
            )
        raw.commit()
    finally:
        raw.close()
    raw_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    with raw_engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return counters


def iter_chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
