"""The rules of domain/call_findings.py, each on a transcript whose answer is worked out by hand."""
from __future__ import annotations

from domain import call_findings as findings
from domain.transcription import Segment


def lines(*said: tuple[str | None, str], step: float = 5.0) -> list[Segment]:
    return [{"id": i, "start": i * step, "end": i * step + 4, "speaker": speaker, "text": text}
            for i, (speaker, text) in enumerate(said)]


GOOD = lines(
    ("agent", "Good morning, this is Sarah from Acme."),
    ("agent", "I'm calling about your policy renewal."),
    ("customer", "Okay."),
    ("agent", "Before we go on, could you verify your date of birth for me?"),
    ("agent", "This call may be recorded for quality and training purposes."),
    ("agent", "I'm sorry to hear about the delay."),
)


def test_words_are_lowercase_runs_with_apostrophes() -> None:
    assert findings.words("I\u2019m SORRY, it's 12:30!") == ["i'm", "sorry", "it's", "12", "30"]


def test_identity_is_verified_by_asking_to_confirm_a_detail_within_six_words() -> None:
    result = findings.identity_verification(GOOD)
    assert result["flagged"] is False
    assert [(e["segment"], e["match"]) for e in result["evidence"]] == [(3, "verify your date of birth")]
    # "confirm" then seven words before "address": too far to count.
    far = lines(("agent", "Please confirm that you are happy with the service at this address"))
    assert findings.identity_verification(far)["flagged"] is True
    assert findings.identity_verification(lines(("agent", "Let me ask your security question.")))["flagged"] is False


def test_identity_verification_is_flagged_without_a_check() -> None:
    result = findings.identity_verification(lines(("agent", "What is your name?")))
    assert result == {"flagged": True, "summary": "No identity check was found in the agent's words.",
                      "evidence": []}


def test_a_disclosure_may_miss_one_word_in_five() -> None:
    phrase = "this call may be recorded for quality and training purposes"  # ten words: two edits allowed
    heard = lines(("agent", "the stall may be recorded for quality and training purposes"))
    assert findings.mandatory_disclosures(heard, [phrase])["flagged"] is False
    three_off = lines(("agent", "it's always be recorded for quality and training purposes"))  # 3 edits
    result = findings.mandatory_disclosures(three_off, [phrase])
    assert result["flagged"] is True
    assert result["disclosures"] == [{"phrase": phrase, "found": False, "evidence": None}]
    assert result["summary"] == f"Missing: {phrase}."


def test_every_phrase_is_reported_and_one_missing_flags() -> None:
    result = findings.mandatory_disclosures(GOOD, ["this call may be recorded", "calls are monitored"])
    assert result["flagged"] is True
    found, missing = result["disclosures"]
    assert (found["found"], found["evidence"]["segment"], found["evidence"]["match"]) == (
        True, 4, "this call may be recorded")
    assert (missing["found"], missing["evidence"]) == (False, None)
    assert findings.mandatory_disclosures(GOOD, [])["flagged"] is False


def test_a_disclosure_split_by_a_pause_still_counts() -> None:
    split = lines(("agent", "this call may"), ("customer", "uh huh"), ("agent", "be recorded"))
    result = findings.analyse(split, ["this call may be recorded"], 15_000)["compliance"]["mandatory_disclosures"]
    assert result["flagged"] is False
    assert result["disclosures"][0]["evidence"]["segment"] == 0


def test_find_phrase_counts_word_edits() -> None:
    said = "x a b c d e y".split()
    assert findings.find_phrase("a b c d e".split(), said) == (1, 6)
    assert findings.find_phrase("a b c d e".split(), "x a q c d e".split()) == (1, 6)  # one substitution
    assert findings.find_phrase("a b c d e".split(), "x a c d e".split()) == (1, 5)  # one word not said
    assert findings.find_phrase("a b c d e".split(), "x a q r d e".split()) is None  # two edits, one allowed
    assert findings.find_phrase([], said) is None


def test_purpose_must_come_in_the_first_two_minutes() -> None:
    assert findings.purpose_declaration(GOOD)["flagged"] is False
    late = lines(("agent", "Hello."), ("agent", "The reason for my call is your renewal."), step=70.0)
    assert late[1]["start"] == 70.0
    assert findings.purpose_declaration(late)["flagged"] is False
    later = lines(("agent", "Hello."), ("agent", "Hm."), ("agent", "I'm calling about your renewal."), step=70.0)
    result = findings.purpose_declaration(later)
    assert result["flagged"] is True
    assert result["summary"] == "The agent did not state the purpose of the call within the first 2 minutes."


def test_untimed_transcripts_look_at_the_first_five_agent_segments() -> None:
    untimed: list[Segment] = [{"id": i, "start": None, "end": None, "speaker": "agent", "text": text}
                              for i, text in enumerate(["a", "b", "c", "d", "e", "I am calling about your bill"])]
    assert findings.purpose_declaration(untimed)["flagged"] is True
    assert findings.purpose_declaration(untimed[1:])["flagged"] is False


def test_greeting_in_the_agents_first_two_segments() -> None:
    assert findings.greeting_present(GOOD)["evidence"][0]["match"] == "good morning"
    late = lines(("agent", "Yes."), ("agent", "One moment."), ("agent", "Hello!"))
    assert findings.greeting_present(late) == {"present": False, "evidence": []}


def test_empathy_counts_the_segments_that_show_it() -> None:
    result = findings.empathetic_language(GOOD)
    assert (result["present"], result["count"]) == (True, 1)
    assert result["evidence"][0]["match"] == "i'm sorry"


def test_sentiment_is_weighted_by_words_and_labelled_at_005() -> None:
    # VADER's compound for each: "This is awful." -0.4588 (3 words), "Okay." 0.2263 (1 word).
    result = findings.sentiment_analysis(lines(("customer", "This is awful."), ("customer", "Okay.")))
    assert [s["score"] for s in result["segments"]] == [-0.4588, 0.2263]
    assert result["customer"] == {"score": round((-0.4588 * 3 + 0.2263) / 4, 4), "label": "negative"}
    assert result["agent"] is None
    assert findings.label(0.05) == "positive" and findings.label(0.0499) == "neutral"
    assert findings.label(-0.05) == "negative"


def test_the_speakers_of_a_mono_recording_are_everyone() -> None:
    mono = lines((None, "Hello, I'm calling about your account."), (None, "Can you confirm your address?"))
    result = findings.analyse(mono, [], 30_000)
    assert result["quality"]["greeting"]["present"] is True
    assert result["compliance"]["identity_verification"]["flagged"] is False
    assert result["quality"]["sentiment_analysis"]["customer"] is None


def test_customer_effort_score_adds_one_per_signal() -> None:
    calm = lines(("customer", "Thanks."))
    assert findings.customer_effort_score(calm, 0.5, 60_000) == 1
    assert findings.customer_effort_score(calm, -0.2, 60_000) == 2  # negative
    assert findings.customer_effort_score(calm, -0.6, 60_000) == 3  # very negative
    tired = lines(("customer", "I was transferred twice and I am still waiting."))
    assert findings.customer_effort_score(tired, -0.6, 60_000) == 4
    assert findings.customer_effort_score(tired, -0.6, 11 * 60_000) == 5
    assert findings.customer_effort_score(tired, -0.9, 60 * 60_000) == 5  # never past 5


def test_a_good_call_has_no_recommendation_and_a_poor_one_has_each() -> None:
    good = findings.analyse(GOOD, ["this call may be recorded"], 60_000)
    assert good["coaching"] == {"recommendations": [], "customer_effort_score": 1}
    poor = findings.analyse(lines(("agent", "Yes?"), ("customer", "I have called three times already."),
                                  ("customer", "This is awful and I am so frustrated.")),
                            ["this call may be recorded"], 60_000)
    assert [(r["finding"], r["priority"]) for r in poor["coaching"]["recommendations"]] == [
        ("identity_verification", "high"), ("mandatory_disclosures", "high"), ("purpose_declaration", "medium"),
        ("empathetic_language", "medium"), ("greeting", "low"), ("customer_effort_score", "medium")]
    # Customer: (0 x 5 words + -0.8109 x 8 words) / 13 = -0.499, negative but not -0.5: 1 + 1 + effort words = 3.
    assert poor["coaching"]["customer_effort_score"] == 3
