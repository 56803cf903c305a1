"""The engagement score: five capped parts, rounded; labels for leads."""
import pytest

from domain.engagement import engagement_label, engagement_score


def score(active_ms: int = 0, max_scroll: int = 0, clicks: int = 0, page_views: int = 0, form_submits: int = 0) -> int:
    return engagement_score(active_ms=active_ms, max_scroll=max_scroll, clicks=clicks, page_views=page_views,
                            form_submits=form_submits)


def test_nothing_scores_zero() -> None:
    assert score() == 0


@pytest.mark.parametrize(("inputs", "expected"), [
    ({"active_ms": 180_000}, 35),
    ({"active_ms": 90_000}, 18),  # 17.5 rounds half up
    ({"active_ms": 3_600_000}, 35),
    ({"max_scroll": 100}, 15),
    ({"max_scroll": 50}, 8),  # 7.5
    ({"clicks": 1}, 3),
    ({"clicks": 50}, 15),
    ({"page_views": 2}, 6),
    ({"page_views": 9}, 15),
    ({"form_submits": 1}, 20),
    ({"form_submits": 3}, 20),
])
def test_each_part_is_capped(inputs: dict, expected: int) -> None:
    assert score(**inputs) == expected


def test_everything_at_full_marks_is_100() -> None:
    assert score(active_ms=10**9, max_scroll=100, clicks=99, page_views=99, form_submits=9) == 100


def test_a_typical_lead_session() -> None:
    # One minute active, read to the bottom, five clicks, four pages, a form: the seed's "Very Hot" 74.
    assert score(active_ms=60_000, max_scroll=100, clicks=5, page_views=4, form_submits=1) == 74
    assert engagement_label(74) == "Very Hot"


def test_more_activity_never_lowers_the_score() -> None:
    previous = 0
    for step in range(1, 40):
        current = score(active_ms=step * 7_000, max_scroll=min(step * 5, 100), clicks=step // 3,
                        page_views=step // 5, form_submits=int(step > 30))
        assert current >= previous
        previous = current


@pytest.mark.parametrize(("value", "label"), [
    (0, "Cold"), (24, "Cold"), (25, "Warm"), (49, "Warm"), (50, "Hot"), (69, "Hot"), (70, "Very Hot"), (100, "Very Hot"),
])
def test_labels(value: int, label: str) -> None:
    assert engagement_label(value) == label
