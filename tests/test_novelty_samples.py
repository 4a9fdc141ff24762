"""Novelty and clustering on the bundled samples, against stories read by hand."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tests.conftest import query

pytestmark = pytest.mark.slow


def test_apple_ipad_two_days_after_the_results_is_a_repeat_and_the_results_are_news(
    sample_warehouse: Path,
):
    rows = query(
        sample_warehouse,
        "select event_id, is_novel_entity, previous_event_id, round(days_since_previous_story, 4), "
        "is_near_duplicate from marts.fct_event_novelty where entity_id = 'ent_apple' "
        "and published_at < '2010-12-31' order by published_at",
    )

    assert rows == [
        ("apple-2010-01-25-q1-fy2010-results", True, None, None, False),
        # 2010-01-25 21:30 -> 2010-01-27 18:00 UTC: 1 day 20.5 hours
        ("apple-2010-01-27-ipad-unveiled", False, "apple-2010-01-25-q1-fy2010-results", 1.8542, False),
        # 66 days later: news again
        ("apple-2010-04-03-ipad-on-sale", True, "apple-2010-01-27-ipad-unveiled", 65.7917, False),
    ]


def test_the_samples_have_no_near_duplicates_and_the_undated_document_has_no_novelty(
    sample_warehouse: Path,
):
    assert query(
        sample_warehouse, "select count(*) from marts.fct_event_novelty where is_near_duplicate"
    ) == [(0,)]
    assert query(
        sample_warehouse,
        "select distinct is_novel_entity, is_near_duplicate, previous_event_id "
        "from marts.fct_event_novelty where event_id = '000_d3b65a32a009eb2b'",
    ) == [(None, None, None)]


def test_clustered_sessions_of_the_samples(sample_warehouse: Path):
    # WWDC 2012 names Apple, Google and Facebook (FB without a market model yet); on 2012-07-05
    # Apple's Proview settlement and Microsoft's aQuantive write-down share the session.
    assert query(
        sample_warehouse,
        "select event_session, measured_security_count from marts.mart_session_clustering "
        "where is_clustered order by event_session",
    ) == [(date(2012, 6, 11), 2), (date(2012, 7, 5), 2)]
