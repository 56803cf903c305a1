"""Transcripts: the caller's own, parsed and checked; and PocketSphinx on speech espeak-ng says."""
from __future__ import annotations

import json

import pytest

from domain import call_audio, transcription
from domain.transcription import TranscriptError, parse_uploaded
from tests.speech import needs_espeak, recorded_call, word_error_rate


def test_plain_text_is_one_segment_per_line_with_optional_speakers() -> None:
    assert parse_uploaded("Agent: Hello, this is Sam.\n\n  customer :hi\nno speaker here\n") == [
        {"id": 0, "start": None, "end": None, "speaker": "agent", "text": "Hello, this is Sam."},
        {"id": 1, "start": None, "end": None, "speaker": "customer", "text": "hi"},
        {"id": 2, "start": None, "end": None, "speaker": None, "text": "no speaker here"},
    ]


def test_json_segments_as_a_list_or_an_object() -> None:
    segments = [{"speaker": "agent", "text": " Hello ", "start": 0, "end": 1.5},
                {"text": "Hi", "start": 2.0}, {"text": "   "}]
    expected = [{"id": 0, "start": 0.0, "end": 1.5, "speaker": "agent", "text": "Hello"},
                {"id": 1, "start": 2.0, "end": None, "speaker": None, "text": "Hi"}]  # blank segments dropped
    assert parse_uploaded(json.dumps(segments)) == expected
    assert parse_uploaded(json.dumps({"segments": segments, "language": "en"})) == expected


@pytest.mark.parametrize("raw, message, where", [
    ("", "has no text", ()),
    ("[{]", "is neither a list of segments nor an object with segments: invalid JSON", ()),
    ('{"text": "hello"}', "a JSON transcript object needs `segments`", ("segments",)),
    ('{"segments": "hello"}', "segments must be a list", ("segments",)),
    ('["hello"]', "a segment must be an object", (0,)),
    ('[{"text": 5}]', "a segment's text must be a string", (0, "text")),
    ('[{"text": "a", "speaker": "boss"}]', "speaker must be agent, customer or null", (0, "speaker")),
    ('[{"text": "a", "start": -1}]', "must be a non-negative number of seconds", (0, "start")),
    ('[{"text": "a", "start": true}]', "must be a non-negative number of seconds", (0, "start")),
    ('[{"text": "a", "end": 1e999}]', "must be a non-negative number of seconds", (0, "end")),
    ('[{"text": "a", "start": 3, "end": 2}]', "end must not be before start", (0, "end")),
    ('[{"text": "\\ud800"}]', "a segment's text contains a lone UTF-16 surrogate", (0, "text")),
    ('[{"text": "x"}, {"text": "a", "start": NaN}]',
     "is neither a list of segments nor an object with segments: invalid JSON", ()),
    ("[" * 100_000, "is neither a list of segments nor an object with segments: invalid JSON", ()),
    ("x" * 10_001, "line 1 is longer than 10000 characters", ()),
])
def test_unusable_transcripts_say_what_and_where(raw: str, message: str, where: tuple[object, ...]) -> None:
    with pytest.raises(TranscriptError) as raised:
        parse_uploaded(raw)
    assert (str(raised.value), raised.value.where) == (message, where)


def test_transcript_joins_the_segments() -> None:
    segments = parse_uploaded("Agent: Hello.\nCustomer: Hi.")
    assert transcription.transcript(segments) == {"text": "Hello. Hi.", "segments": segments, "language": "en"}


def test_an_unknown_recognizer_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown speech recognizer 'whisper' \\(known: pocketsphinx\\)"):
        transcription.recognizer("whisper")


@needs_espeak
def test_pocketsphinx_hears_each_channel_and_merges_them_in_time_order() -> None:
    script = [("agent", "Hello, thank you for calling Acme Insurance, my name is Sarah."),
              ("customer", "I am so frustrated."),
              ("agent", "Can you please confirm your full name and address?")]
    decoded = call_audio.decode(recorded_call(script, stereo=True), "wav")
    segments = transcription.recognise(decoded, transcription.recognizer("pocketsphinx"))
    assert [s["speaker"] for s in segments] == ["agent", "customer", "agent"]
    assert [s["id"] for s in segments] == [0, 1, 2]
    starts = [s["start"] for s in segments]
    assert starts == sorted(starts) and all(s["end"] > s["start"] for s in segments)
    for (_, line), segment in zip(script, segments):
        assert word_error_rate(line, segment["text"]) <= 0.25, (line, segment["text"])
    assert segments[1]["text"] == "i am so frustrated"


@needs_espeak
def test_a_recording_is_heard_the_same_whatever_came_before() -> None:
    engine = transcription.recognizer("pocketsphinx")
    first = call_audio.decode(recorded_call([("agent", "What do you need?")], stereo=False), "wav")
    other = call_audio.decode(recorded_call([("customer", "This is awful, I am so frustrated.")], stereo=False), "wav")
    heard = transcription.recognise(first, engine)
    transcription.recognise(other, engine)
    assert transcription.recognise(first, engine) == heard
    assert transcription.recognise(first, transcription.PocketSphinx()) == heard
