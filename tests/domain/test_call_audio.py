"""Call audio: formats told by their bytes, probing, and decoding to one stream per speaker."""
from __future__ import annotations

import pytest

from domain import call_audio
from domain.call_audio import AudioError
from tests.audio import mp3, tone, wav


def test_formats_are_told_by_their_first_bytes() -> None:
    assert call_audio.sniff(wav([tone(0.1)])[:12]) == "wav"
    assert call_audio.sniff(b"RF64\xff\xff\xff\xffWAVE") == "wav"
    assert call_audio.sniff(b"ID3\x04\x00\x00\x00\x00\x00\x00") == "mp3"
    assert call_audio.sniff(mp3(tone(0.5, 16000))[:12]) == "mp3"
    assert call_audio.sniff(b"\xff\xfb\x90\x00") == "mp3"  # MPEG 1 layer III, 128 kbit/s, 44.1 kHz
    assert call_audio.sniff(b"\xff\xfd\x90\x00") is None  # layer II: not MP3
    assert call_audio.sniff(b"\xff\xfb\xf0\x00") is None  # bitrate index 15 is invalid
    assert call_audio.sniff(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d") is None
    assert call_audio.sniff(b"RIFF\x00\x00\x00\x00AVI ") is None
    assert call_audio.sniff(b"") is None


def test_probe_reads_duration_and_channels_from_the_headers() -> None:
    assert call_audio.probe(wav([tone(1.5), tone(1.5)]), "wav") == call_audio.Probe(1500, 2, 8000)
    found = call_audio.probe(mp3(tone(2.0, 16000)), "mp3")
    assert found is not None and found.channels == 1 and abs(found.duration_ms - 2000) < 100
    assert call_audio.probe(b"RIFF\x00\x00\x00\x00WAVEgarbage", "wav") is None


def test_mono_decodes_to_one_16khz_stream_of_no_one_in_particular() -> None:
    decoded = call_audio.decode(wav([tone(1.0)]), "wav")
    assert (decoded.format, decoded.duration_ms) == ("wav", 1000)
    assert [stream.speaker for stream in decoded.streams] == [None]
    assert len(decoded.streams[0].samples) == 16000 * 2  # one second of 16-bit samples at 16 kHz


def test_two_channels_are_the_agent_left_and_the_customer_right() -> None:
    left, right = tone(1.0, hz=440), tone(1.0, hz=660)
    decoded = call_audio.decode(wav([left, right]), "wav")
    assert [stream.speaker for stream in decoded.streams] == ["agent", "customer"]
    assert decoded.streams[0].samples != decoded.streams[1].samples


def test_two_identical_channels_are_one_stream() -> None:
    same = tone(1.0)
    decoded = call_audio.decode(wav([same, same]), "wav")
    assert [stream.speaker for stream in decoded.streams] == [None]


def test_mp3_decodes() -> None:
    decoded = call_audio.decode(mp3(tone(2.0, 16000)), "mp3")
    assert decoded.format == "mp3" and abs(decoded.duration_ms - 2000) < 100


@pytest.mark.parametrize("data, fmt, message", [
    (b"RIFF\x00\x00\x00\x00WAVE" + b"garbage" * 10, "wav",
     "audio could not be decoded: not a readable WAV file (corrupt or truncated header)"),
    (b"\xff\xfb\x90\x00" + b"\x00" * 500, "mp3",
     "audio could not be decoded: not a readable MP3 file (corrupt or truncated header)"),
    (wav([tone(1.0)])[:44], "wav", "audio could not be decoded: the WAV file holds no samples"),
])
def test_unusable_audio_says_why(data: bytes, fmt: str, message: str) -> None:
    with pytest.raises(AudioError) as raised:
        call_audio.decode(data, fmt)
    assert str(raised.value) == message


def test_recordings_past_the_duration_limit_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two hours of audio is slow to make in a test; the rule is the same at a one-minute limit.
    monkeypatch.setattr(call_audio, "MAX_DURATION_MS", 60_000)
    with pytest.raises(AudioError, match="^audio lasts 0:01:01; the limit is 0:01:00$"):
        call_audio.decode(wav([tone(61.0, rate=1000)], rate=1000), "wav")
    assert call_audio.decode(wav([tone(59.0, rate=1000)], rate=1000), "wav").duration_ms == 59_000
