"""Audio made in the tests: tones as WAV (any channels) or MP3 (lameenc), no speech."""
from __future__ import annotations

import array
import io
import math
import wave

import lameenc


def tone(seconds: float, rate: int = 8000, hz: float = 440.0) -> array.array:
    return array.array("h", (int(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(int(seconds * rate))))


def wav(channels: list[array.array], rate: int = 8000) -> bytes:
    """A 16-bit WAV file; channels are interleaved frame by frame."""
    frames = array.array("h")
    for samples in zip(*channels):
        frames.extend(samples)
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(len(channels))
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(frames.tobytes())
    return out.getvalue()


def mp3(samples: array.array, rate: int = 16000) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(32)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(5)
    return bytes(encoder.encode(samples.tobytes()) + encoder.flush())
