"""Engagement score of a session (0-100) and the label a lead shows for it.

The score adds five parts, each capped, and rounds the sum to the nearest integer:

| part | points | full marks at |
| --- | --- | --- |
| active time (visible and interacting) | 35 x min(active seconds / 180, 1) | 3 minutes |
| deepest scroll | 15 x max scroll % / 100 | 100 % |
| interactions (clicks) | 3 per click | 5 clicks |
| pages viewed | 3 per page view | 5 pages |
| form activity | 20 once a form was submitted | 1 submission |

Every input only grows as a session goes on, so a session's score never goes down.

Labels: Cold below 25, Warm 25-49, Hot 50-69, Very Hot 70 and above.

A lead's score is the best score of any session of the visitors that submitted its forms.
"""
from __future__ import annotations

ACTIVE_FULL_MS = 180_000
_LABELS = ((70, "Very Hot"), (50, "Hot"), (25, "Warm"), (0, "Cold"))


def engagement_score(*, active_ms: int, max_scroll: int, clicks: int, page_views: int, form_submits: int) -> int:
    points = 35 * min(max(active_ms, 0) / ACTIVE_FULL_MS, 1.0)
    points += 15 * min(max(max_scroll, 0), 100) / 100
    points += 3 * min(max(clicks, 0), 5)
    points += 3 * min(max(page_views, 0), 5)
    points += 20 if form_submits > 0 else 0
    # Half-up rounding, so 49.5 is Warm-to-Hot the same way in every surface.
    return min(100, int(points + 0.5))


def engagement_label(score: int) -> str:
    for threshold, label in _LABELS:
        if score >= threshold:
            return label
    return "Cold"
