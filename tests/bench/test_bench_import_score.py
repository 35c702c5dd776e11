"""The importer's score on the corpus of real notices (issue 21 §3), printed by ``make bench``.

Every notice in tests/data/notices is imported as a new county imports it (no units directory)
and compared with its hand-written expectations: measures found / expected (and measures the
import drafted beyond them), units right / expected on the sampled measures, obligations found /
expected, review lines left for the office, and the notice's score (the lower of its measure and
unit rates). The two seed notices follow as rows of their own, scored against their hand-checked
configs and kept out of the corpus totals. The import time of the whole corpus is printed beside
the seeds' as the baseline (the seeds are the notices the importer was built on).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from config.loading import read_yaml
from tests.helpers import POLICY_FILES, SEEDS
from tests.policy_import.score import (
    Expected,
    Score,
    load_expected,
    score_notice,
    seed_expected,
    table,
)


def _timed(expected: list[Expected], units_dir: Path) -> tuple[list[Score], float]:
    started = time.perf_counter()
    scores = [score_notice(e, units_dir) for e in expected]
    return scores, time.perf_counter() - started


def test_import_score_table(tmp_path_factory: pytest.TempPathFactory) -> None:
    units_dir = tmp_path_factory.mktemp("units")
    corpus = load_expected()
    seeds = [
        seed_expected(SEEDS / f"{code}.txt", read_yaml(POLICY_FILES[code]))
        for code in sorted(POLICY_FILES)
    ]
    corpus_scores, corpus_seconds = _timed(corpus, units_dir)
    seed_scores, seed_seconds = _timed(seeds, units_dir)
    print("\n\nImporter score on the corpus of real notices (no units directory)\n")
    print(table(corpus_scores + seed_scores))
    for score in corpus_scores:
        if score.misses:
            print(
                f"  {score.name}: "
                + "；".join(score.misses[:6])
                + ("…" if len(score.misses) > 6 else "")
            )
    corpus_label = f"import, corpus ({len(corpus)} notices)"
    seeds_label = f"import, seeds ({len(seeds)} notices)"
    print(
        f"\n{corpus_label:<40} {1000 * corpus_seconds:9.1f} ms"
        f" | {seeds_label:<40} {1000 * seed_seconds:9.1f} ms"
    )
    assert len(corpus_scores) == len(corpus) and len(seed_scores) == 2
