"""What an analysis finds in a transcript: compliance, quality and coaching, one rule each.

Words are compared lowercased, as runs of letters, digits and apostrophes. "The agent's words"
are the segments whose speaker is `agent`, or every segment when the transcript names no
speaker (a mono recording); "the customer's words" likewise with `customer`.

| finding | rule |
| --- | --- |
| identity verification | flagged unless the agent asks to confirm, verify, validate or check an identifying detail (name, address, date of birth, postcode or zip, account, policy or reference number, security question, password, PIN, last digits, email, phone) within the next six words, or mentions a security question |
| mandatory disclosures | each of the workspace's phrases must appear in the agent's words; a phrase of n words matches with up to n // 5 words missing, extra or different (speech recognition misses words); flagged when one is missing |
| purpose declaration | flagged unless the agent states why they call ("calling about/regarding/to/because", "reason for my call", "purpose of this call", "reaching out about", "following up on") within the first 2 minutes, or within the first five agent segments when the transcript has no times |
| sentiment | VADER's compound score per segment, -1 to 1; overall and per speaker, the mean of the segments' scores weighted by their word counts; positive at 0.05 and above, negative at -0.05 and below, else neutral |
| greeting | present when one of the agent's first two segments greets (hello, hi, good morning/afternoon/evening, thank you for calling, welcome to) |
| empathetic language | present when the agent says any of: I understand, I'm sorry, sorry to hear/about/for, I apologise, I can imagine, that must be, I appreciate, thank you for your patience, I hear you, I know how, happy to help |
| customer effort score | 1 (effortless) to 5: 1, plus 1 if the customer's sentiment is negative, plus 1 more if it is -0.5 or below, plus 1 if the customer signals effort (again, already, repeat, transferred, on hold, still/been waiting, how many times, N times, second/third time, nobody), plus 1 if the call lasts over 10 minutes; at most 5 |
| recommendations | one per finding that needs work, most urgent first: compliance gaps (high), a late or missing purpose (medium), no empathy (medium when the customer was negative, else low), no greeting (low), an effort score of 3 or more (medium) |

Each finding lists its evidence: the segments that satisfied it (at most five), with their
times and speaker, so a reviewer can jump to the moment in the recording.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypedDict

from domain.call_audio import AGENT, CUSTOMER
from domain.transcription import Segment

DEFAULT_DISCLOSURES = ("this call may be recorded for quality and training purposes",)
POSITIVE, NEGATIVE = 0.05, -0.05
VERY_NEGATIVE = -0.5
LONG_CALL_MS = 10 * 60_000
PURPOSE_WINDOW_S = 120.0
PURPOSE_SEGMENTS = 5
GREETING_SEGMENTS = 2
MAX_EVIDENCE = 5
IDENTITY_REACH = 6  # words between the asking verb and the detail

_WORD = re.compile(r"[a-z0-9']+")
_ASK = re.compile(r"(confirm|verif|validat|check)\w*")
_DETAIL = frozenset({
    "name", "address", "birth", "birthday", "dob", "postcode", "zip", "account", "policy", "reference",
    "password", "passcode", "pin", "digits", "email", "phone", "identity", "ssn",
})
_SECURITY_QUESTION = re.compile(r"\bsecurity questions?\b")
_PURPOSE = re.compile(
    r"\b(calling (you )?(about|regarding|to|because)|reason for (my|this|the|our) call"
    r"|purpose of (my|this|the|our) call|reaching out (about|regarding|to|because)"
    r"|getting in touch (about|regarding|to)|following up (on|about|regarding)|this call is (about|regarding|to))\b")
_GREETING = re.compile(r"\b(hello|hi|hey|good (morning|afternoon|evening)|thank you for calling|thanks for calling"
                       r"|welcome to)\b")
_EMPATHY = re.compile(
    r"\b(i understand|i can understand|i'm sorry|i am sorry|sorry to hear|sorry about|sorry for|i apologi[sz]e"
    r"|i can imagine|that must be|i appreciate|thank you for your patience|thanks for your patience|i hear you"
    r"|i know how|happy to help)\b")
_EFFORT = re.compile(
    r"\b(again|already|repeat\w*|transferred|on hold|still waiting|been waiting|how many times"
    r"|(two|three|four|five|several|many|multiple) times|second time|third time|nobody)\b")


class Evidence(TypedDict):
    segment: int
    start: float | None
    end: float | None
    speaker: str | None
    text: str
    match: str


class Score(TypedDict):
    score: float
    label: str


class Results(TypedDict):
    compliance: dict[str, Any]
    quality: dict[str, Any]
    coaching: dict[str, Any]


def analyse(segments: Sequence[Segment], disclosures: Sequence[str], duration_ms: int | None) -> Results:
    """Every finding for one transcript; pure, so the same transcript always gives the same results."""
    agent = _spoken_by(segments, AGENT)
    customer = _spoken_by(segments, CUSTOMER)
    identity = identity_verification(agent)
    disclosed = mandatory_disclosures(agent, disclosures)
    purpose = purpose_declaration(agent)
    sentiment = sentiment_analysis(segments)
    greeting = greeting_present(agent)
    empathy = empathetic_language(agent)
    customer_mood = sentiment["customer"] or sentiment["overall"]
    effort = customer_effort_score(customer, customer_mood["score"], duration_ms)
    return {
        "compliance": {"identity_verification": identity, "mandatory_disclosures": disclosed,
                       "purpose_declaration": purpose},
        "quality": {"sentiment_analysis": sentiment, "greeting": greeting, "empathetic_language": empathy},
        "coaching": {
            "recommendations": recommendations(identity, disclosed, purpose, greeting, empathy, customer_mood, effort),
            "customer_effort_score": effort,
        },
    }


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def _spoken_by(segments: Sequence[Segment], speaker: str) -> list[Segment]:
    if not any(s["speaker"] for s in segments):
        return list(segments)
    return [s for s in segments if s["speaker"] == speaker]


def _evidence(segment: Segment, match: str) -> Evidence:
    return {"segment": segment["id"], "start": segment["start"], "end": segment["end"],
            "speaker": segment["speaker"], "text": segment["text"], "match": match}


def _matches(segments: Sequence[Segment], pattern: re.Pattern[str]) -> list[Evidence]:
    found = []
    for segment in segments:
        match = pattern.search(" ".join(words(segment["text"])))
        if match:
            found.append(_evidence(segment, match.group(0)))
    return found


# --- compliance ----------------------------------------------------------------------------


def identity_verification(agent: Sequence[Segment]) -> dict[str, Any]:
    evidence: list[Evidence] = []
    for segment in agent:
        said = words(segment["text"])
        match = next((" ".join(said[i:j + 1]) for i, word in enumerate(said) if _ASK.fullmatch(word)
                      for j in range(i + 1, min(i + 1 + IDENTITY_REACH, len(said))) if said[j] in _DETAIL), None)
        if match is None:
            question = _SECURITY_QUESTION.search(" ".join(said))
            match = question.group(0) if question else None
        if match is not None:
            evidence.append(_evidence(segment, match))
    flagged = not evidence
    return {
        "flagged": flagged,
        "summary": "No identity check was found in the agent's words." if flagged
        else "The agent asked the customer to confirm identifying details.",
        "evidence": evidence[:MAX_EVIDENCE],
    }


def mandatory_disclosures(agent: Sequence[Segment], phrases: Sequence[str]) -> dict[str, Any]:
    # One run of words across the agent's segments, so a phrase split by a pause still counts.
    said: list[str] = []
    owner: list[Segment] = []
    for segment in agent:
        for word in words(segment["text"]):
            said.append(word)
            owner.append(segment)
    results = []
    for phrase in phrases:
        found = find_phrase(words(phrase), said)
        evidence = _evidence(owner[found[0]], " ".join(said[found[0]:found[1]])) if found else None
        results.append({"phrase": phrase, "found": found is not None, "evidence": evidence})
    missing = [r["phrase"] for r in results if not r["found"]]
    return {
        "flagged": bool(missing),
        "summary": f"Missing: {'; '.join(missing)}." if missing else "Every mandatory disclosure was given.",
        "disclosures": results,
        "evidence": [r["evidence"] for r in results if r["evidence"]][:MAX_EVIDENCE],
    }


def find_phrase(phrase: Sequence[str], said: Sequence[str]) -> tuple[int, int] | None:
    """Where `phrase` occurs in `said` with at most len(phrase) // 5 word edits: (start, end) word
    indexes, end exclusive, of the closest match; None when there is none.

    Approximate substring matching over words (Sellers' algorithm): the phrase may start at
    any word, each missing, extra or different word costs one.
    """
    size = len(phrase)
    if size == 0:
        return None
    allowed = size // 5
    # cost[i]: edits to match the phrase's first i words ending at the current word; start[i]: where that match began.
    cost = list(range(size + 1))
    start = [0] * (size + 1)
    best: tuple[int, int, int] | None = None  # (edits, start, end)
    for j, word in enumerate(said, start=1):
        previous_cost, previous_start = cost[:], start[:]
        cost[0], start[0] = 0, j
        for i in range(1, size + 1):
            options = (
                (previous_cost[i - 1] + (phrase[i - 1] != word), previous_start[i - 1]),  # match or substitute
                (previous_cost[i] + 1, previous_start[i]),  # an extra word in what was said
                (cost[i - 1] + 1, start[i - 1]),  # a phrase word that was not said
            )
            cost[i], start[i] = min(options)
        if cost[size] <= allowed and (best is None or cost[size] < best[0]):
            best = (cost[size], start[size], j)
    return (best[1], best[2]) if best else None


def purpose_declaration(agent: Sequence[Segment]) -> dict[str, Any]:
    timed = any(s["start"] is not None for s in agent)
    early = [s for s in agent if s["start"] is not None and s["start"] <= PURPOSE_WINDOW_S] if timed \
        else list(agent[:PURPOSE_SEGMENTS])
    evidence = _matches(early, _PURPOSE)
    flagged = not evidence
    window = f"the first {PURPOSE_WINDOW_S / 60:g} minutes" if timed else f"the first {PURPOSE_SEGMENTS} segments"
    return {
        "flagged": flagged,
        "summary": f"The agent did not state the purpose of the call within {window}." if flagged
        else "The agent stated the purpose of the call.",
        "evidence": evidence[:MAX_EVIDENCE],
    }


# --- quality -------------------------------------------------------------------------------

_analyzer: Any = None


def _compound(text: str) -> float:
    global _analyzer
    if _analyzer is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _analyzer = SentimentIntensityAnalyzer()
    return float(_analyzer.polarity_scores(text)["compound"])


def label(score: float) -> str:
    return "positive" if score >= POSITIVE else "negative" if score <= NEGATIVE else "neutral"


def _score(value: float) -> Score:
    return {"score": round(value, 4), "label": label(value)}


def _weighted(scored: Sequence[tuple[Segment, float]]) -> Score | None:
    weights = [(len(words(segment["text"])), value) for segment, value in scored]
    total = sum(weight for weight, _ in weights)
    if total == 0:
        return None
    return _score(sum(weight * value for weight, value in weights) / total)


def sentiment_analysis(segments: Sequence[Segment]) -> dict[str, Any]:
    scored = [(segment, _compound(segment["text"])) for segment in segments]
    return {
        "overall": _weighted(scored) or _score(0.0),
        "agent": _weighted([(s, v) for s, v in scored if s["speaker"] == AGENT]),
        "customer": _weighted([(s, v) for s, v in scored if s["speaker"] == CUSTOMER]),
        "segments": [{"segment": s["id"], "speaker": s["speaker"], **_score(v)} for s, v in scored],
    }


def greeting_present(agent: Sequence[Segment]) -> dict[str, Any]:
    evidence = _matches(agent[:GREETING_SEGMENTS], _GREETING)
    return {"present": bool(evidence), "evidence": evidence}


def empathetic_language(agent: Sequence[Segment]) -> dict[str, Any]:
    evidence = _matches(agent, _EMPATHY)
    return {"present": bool(evidence), "count": len(evidence), "evidence": evidence[:MAX_EVIDENCE]}


# --- coaching ------------------------------------------------------------------------------


def customer_effort_score(customer: Sequence[Segment], mood: float, duration_ms: int | None) -> int:
    score = 1
    if mood <= NEGATIVE:
        score += 1
    if mood <= VERY_NEGATIVE:
        score += 1
    if _matches(customer, _EFFORT):
        score += 1
    if duration_ms is not None and duration_ms > LONG_CALL_MS:
        score += 1
    return min(score, 5)


def recommendations(identity: dict[str, Any], disclosed: dict[str, Any], purpose: dict[str, Any],
                    greeting: dict[str, Any], empathy: dict[str, Any], mood: Score, effort: int
                    ) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []

    def add(area: str, finding: str, priority: str, message: str) -> None:
        found.append({"area": area, "finding": finding, "priority": priority, "message": message})

    if identity["flagged"]:
        add("compliance", "identity_verification", "high",
            "Verify the customer's identity (for example their full name and address, or date of birth) "
            "before discussing the account.")
    for item in disclosed["disclosures"]:
        if not item["found"]:
            add("compliance", "mandatory_disclosures", "high", f'Read the mandatory disclosure: "{item["phrase"]}".')
    if purpose["flagged"]:
        add("compliance", "purpose_declaration", "medium",
            "State the purpose of the call early, for example \"I'm calling about your renewal\".")
    if not empathy["present"]:
        add("quality", "empathetic_language", "medium" if mood["label"] == "negative" else "low",
            "Acknowledge the customer's situation, for example \"I understand\" or \"I'm sorry to hear that\".")
    if not greeting["present"]:
        add("quality", "greeting", "low", "Open the call with a greeting and your name.")
    if effort >= 3:
        add("coaching", "customer_effort_score", "medium",
            f"The customer worked hard on this call (effort {effort}/5): resolve the issue on first contact "
            "and spare them repeating themselves.")
    return found
