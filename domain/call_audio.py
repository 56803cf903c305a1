"""Call audio: which uploads are recordings, and their samples for the recogniser.

| rule | definition |
| --- | --- |
| formats | WAV (`RIFF`/`RF64` ... `WAVE`) and MP3 (an ID3v2 tag or an MPEG layer III frame header), told by the first bytes, never by the file name or declared type |
| size | at most `MAX_AUDIO_BYTES` (25 MiB) |
| duration | from the decoded samples; at most `MAX_DURATION_MS` (2 hours) |
| channels | two channels are the agent (left) and the customer (right), the layout call recorders write; two identical channels are one speaker stream, and three or more are mixed to one |
| samples | 16 kHz, 16-bit signed, one stream per speaker: what the recogniser takes |

Decoding is miniaudio's (dr_wav, dr_mp3), compiled into its wheel: no ffmpeg, no network.
"""
from __future__ import annotations

from dataclasses import dataclass

import miniaudio

MAX_AUDIO_BYTES = 25 * 1024 * 1024
MAX_DURATION_MS = 2 * 3_600_000
SAMPLE_RATE = 16_000
FORMATS = ("wav", "mp3")
CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg"}
AGENT, CUSTOMER = "agent", "customer"


class AudioError(ValueError):
    """A recording that cannot be used; the message says why, for the analysis' error_message."""


@dataclass(frozen=True)
class Probe:
    duration_ms: int
    channels: int
    sample_rate: int


@dataclass(frozen=True)
class Stream:
    speaker: str | None  # None: a mono recording, whoever speaks
    samples: bytes  # 16 kHz, 16-bit signed, little-endian


@dataclass(frozen=True)
class DecodedAudio:
    format: str
    duration_ms: int
    streams: tuple[Stream, ...]


def sniff(head: bytes) -> str | None:
    """`wav` or `mp3` from a file's first 12 bytes; None for anything else."""
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 3 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
        bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
        # MPEG 1, 2 or 2.5 (not the reserved 01), layer III, a real bitrate and sample rate.
        if version != 1 and layer == 1 and bitrate not in (0, 15) and rate != 3:
            return "mp3"
    return None


def probe(data: bytes, fmt: str) -> Probe | None:
    """Duration and channels from the headers alone (fast); None when they cannot be read."""
    reader = miniaudio.wav_get_info if fmt == "wav" else miniaudio.mp3_get_info
    try:
        info = reader(data)
    except miniaudio.DecodeError:
        return None
    if info.sample_rate <= 0 or info.nchannels <= 0:
        return None
    return Probe(round(info.num_frames * 1000 / info.sample_rate), info.nchannels, info.sample_rate)


def _clock(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def decode(data: bytes, fmt: str) -> DecodedAudio:
    """Every sample, as one 16 kHz stream per speaker; raises AudioError with the reason."""
    name = fmt.upper()
    found = probe(data, fmt)
    if found is None:
        raise AudioError(f"audio could not be decoded: not a readable {name} file (corrupt or truncated header)")
    if found.duration_ms > MAX_DURATION_MS:
        raise AudioError(f"audio lasts {_clock(found.duration_ms)}; the limit is {_clock(MAX_DURATION_MS)}")
    stereo = found.channels == 2
    try:
        decoded = miniaudio.decode(data, output_format=miniaudio.SampleFormat.SIGNED16,
                                   nchannels=2 if stereo else 1, sample_rate=SAMPLE_RATE)
    except miniaudio.DecodeError as error:
        raise AudioError(f"audio could not be decoded: the {name} data is corrupt ({error})") from None
    frames = len(decoded.samples) // decoded.nchannels
    if frames == 0:
        raise AudioError(f"audio could not be decoded: the {name} file holds no samples")
    duration_ms = round(frames * 1000 / SAMPLE_RATE)
    if stereo:
        left, right = decoded.samples[0::2], decoded.samples[1::2]
        if left != right:
            return DecodedAudio(fmt, duration_ms, (Stream(AGENT, left.tobytes()), Stream(CUSTOMER, right.tobytes())))
        return DecodedAudio(fmt, duration_ms, (Stream(None, left.tobytes()),))
    return DecodedAudio(fmt, duration_ms, (Stream(None, decoded.samples.tobytes()),))
