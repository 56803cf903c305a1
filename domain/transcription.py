"""Transcripts: speech to text offline through a pluggable recogniser, or the caller's own text.

| rule | definition |
| --- | --- |
| recogniser | named by the `SPEECH_RECOGNIZER` var (default `pocketsphinx`), one of `RECOGNIZERS` |
| pocketsphinx | CMU PocketSphinx with the US English acoustic model, language model and dictionary inside its PyPI wheel: no download, no network |
| segment | one stretch of speech between pauses (PocketSphinx's voice-activity endpointer), with its start and end in seconds, its speaker and its words |
| speakers | each speaker stream of the recording (domain.call_audio) is recognised alone; the segments are merged in time order |
| uploaded text | one segment per non-empty line; a leading `Agent:` or `Customer:` names the speaker |
| uploaded JSON | a list of segments, or an object whose `segments` is one; a segment is `{"text", "speaker"?, "start"?, "end"?}`, speaker `agent`, `customer` or null, times in seconds with end >= start |
| language | `en`: the model and the analysis rules are English |
"""
from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable
from typing import Any, Protocol, TypedDict

from domain.call_audio import AGENT, CUSTOMER, SAMPLE_RATE, DecodedAudio

LANGUAGE = "en"
DEFAULT_RECOGNIZER = "pocketsphinx"
SPEAKERS = (AGENT, CUSTOMER)
MAX_SEGMENTS = 10_000
MAX_SEGMENT_CHARS = 10_000

_SPEAKER_LINE = re.compile(r"\s*(agent|customer)\s*:\s*(.*)", re.IGNORECASE | re.DOTALL)


class Segment(TypedDict):
    id: int
    start: float | None
    end: float | None
    speaker: str | None
    text: str


class Transcript(TypedDict):
    text: str
    segments: list[Segment]
    language: str


class Utterance(TypedDict):
    start: float
    end: float
    text: str


class Recognizer(Protocol):
    """Turns one speaker's 16 kHz 16-bit mono samples into timed utterances. Runs in a worker process."""

    def utterances(self, samples: bytes) -> list[Utterance]: ...


class TranscriptError(ValueError):
    """An uploaded transcript that cannot be used; `where` is the path inside it, e.g. (3, "text")."""

    def __init__(self, message: str, where: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.where = where


class PocketSphinx:
    """PocketSphinx 5: the endpointer cuts the stream at pauses, the decoder recognises each piece."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder  # loads a 40 MB model: only in the process that recognises

        self._decoder = Decoder(samprate=SAMPLE_RATE)

    def utterances(self, samples: bytes) -> list[Utterance]:
        from pocketsphinx import Segmenter

        # Feature extraction adapts to what it hears (cepstral mean, noise estimate); starting each
        # stream afresh makes a recording's transcript the same whatever was recognised before it.
        self._decoder.reinit_feat()
        found: list[Utterance] = []
        for piece in Segmenter(sample_rate=SAMPLE_RATE).segment(io.BytesIO(samples)):
            self._decoder.start_utt()
            self._decoder.process_raw(piece.pcm, full_utt=True)
            self._decoder.end_utt()
            hypothesis = self._decoder.hyp()
            text = hypothesis.hypstr.strip() if hypothesis is not None else ""
            if text:
                found.append({"start": round(piece.start_time, 2), "end": round(piece.end_time, 2), "text": text})
        return found


RECOGNIZERS: dict[str, Callable[[], Recognizer]] = {"pocketsphinx": PocketSphinx}
_loaded: dict[str, Recognizer] = {}


def recognizer(name: str) -> Recognizer:
    """The named recogniser, made once per process (a model load takes about half a second)."""
    if name not in RECOGNIZERS:
        raise ValueError(f"unknown speech recognizer {name!r} (known: {', '.join(RECOGNIZERS)})")
    if name not in _loaded:
        _loaded[name] = RECOGNIZERS[name]()
    return _loaded[name]


def recognise(audio: DecodedAudio, engine: Recognizer) -> list[Segment]:
    """Every speaker stream through the recogniser, merged into one time-ordered list."""
    timed = [(u["start"], u["end"], stream.speaker, u["text"])
             for stream in audio.streams for u in engine.utterances(stream.samples)]
    timed.sort(key=lambda item: (item[0], item[1]))
    return [{"id": index, "start": start, "end": end, "speaker": speaker, "text": text}
            for index, (start, end, speaker, text) in enumerate(timed)]


def transcript(segments: list[Segment]) -> Transcript:
    return {"text": " ".join(s["text"] for s in segments), "segments": segments, "language": LANGUAGE}


# --- uploaded transcripts ------------------------------------------------------------------


def parse_uploaded(raw: str) -> list[Segment]:
    """The caller's transcript as segments; raises TranscriptError naming what is wrong."""
    text = raw.strip()
    if text[:1] in ("[", "{"):
        try:
            data = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise TranscriptError("is neither a list of segments nor an object with segments: invalid JSON") from None
        if isinstance(data, dict):
            if "segments" not in data:
                raise TranscriptError("a JSON transcript object needs `segments`", ("segments",))
            data, prefix = data["segments"], ("segments",)
        else:
            prefix = ()
        segments = _json_segments(data, prefix)
    else:
        segments = _text_segments(text)
    if not segments:
        raise TranscriptError("has no text")
    return segments


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _text_segments(text: str) -> list[Segment]:
    segments: list[Segment] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _SPEAKER_LINE.fullmatch(line)
        speaker, words = (match.group(1).lower(), match.group(2).strip()) if match else (None, line.strip())
        if len(words) > MAX_SEGMENT_CHARS:
            raise TranscriptError(f"line {number} is longer than {MAX_SEGMENT_CHARS} characters")
        if words:
            segments.append({"id": len(segments), "start": None, "end": None, "speaker": speaker, "text": words})
    if len(segments) > MAX_SEGMENTS:
        raise TranscriptError(f"has more than {MAX_SEGMENTS} lines")
    return segments


def _json_segments(data: Any, prefix: tuple[str | int, ...]) -> list[Segment]:
    if not isinstance(data, list):
        raise TranscriptError("segments must be a list", prefix)
    if len(data) > MAX_SEGMENTS:
        raise TranscriptError(f"has more than {MAX_SEGMENTS} segments", prefix)
    segments: list[Segment] = []
    for index, item in enumerate(data):
        where = (*prefix, index)
        if not isinstance(item, dict):
            raise TranscriptError("a segment must be an object", where)
        words = item.get("text")
        if not isinstance(words, str):
            raise TranscriptError("a segment's text must be a string", (*where, "text"))
        if len(words) > MAX_SEGMENT_CHARS:
            raise TranscriptError(f"a segment's text is longer than {MAX_SEGMENT_CHARS} characters", (*where, "text"))
        if not _encodable(words):
            raise TranscriptError("a segment's text contains a lone UTF-16 surrogate", (*where, "text"))
        speaker = item.get("speaker")
        if speaker is not None and speaker not in SPEAKERS:
            raise TranscriptError("speaker must be agent, customer or null", (*where, "speaker"))
        start, end = _seconds(item.get("start"), (*where, "start")), _seconds(item.get("end"), (*where, "end"))
        if start is not None and end is not None and end < start:
            raise TranscriptError("end must not be before start", (*where, "end"))
        if words.strip():
            segments.append({"id": len(segments), "start": start, "end": end, "speaker": speaker,
                             "text": words.strip()})
    return segments


def _seconds(value: Any, where: tuple[str | int, ...]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise TranscriptError("must be a non-negative number of seconds", where)
    return float(value)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
