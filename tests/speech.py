"""Scripted calls spoken by Debian's espeak-ng, for the tests that recognise real speech.

`recorded_call(script)` speaks each line in turn with a pause between them and returns a WAV
file: two channels (agent left, customer right, as call recorders write them) or one.
`needs_espeak` skips a test, with the reason, on a machine without espeak-ng (CI installs it:
.ci/system-deps).
"""
from __future__ import annotations

import array
import io
import re
import shutil
import subprocess
import wave

import pytest

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed (Debian package espeak-ng; "
                                  "`make system-deps` installs it as root)")
# PocketSphinx's US English model hears this voice best of espeak-ng's (measured on these scripts).
VOICE, WORDS_PER_MINUTE = "en-us+f2", "120"
RATE = 22050  # espeak-ng's output
PAUSE_SECONDS = 0.8


def spoken(text: str) -> array.array:
    """16-bit mono samples at 22.05 kHz of espeak-ng saying `text`."""
    assert ESPEAK is not None
    output = subprocess.run([ESPEAK, "-v", VOICE, "-s", WORDS_PER_MINUTE, "--stdout", text], check=True,
                            capture_output=True, timeout=60).stdout
    with wave.open(io.BytesIO(output)) as file:
        assert (file.getnchannels(), file.getsampwidth(), file.getframerate()) == (1, 2, RATE)
        return array.array("h", file.readframes(file.getnframes()))


def recorded_call(script: list[tuple[str, str]], *, stereo: bool) -> bytes:
    """A WAV of (speaker, line) pairs said one after another, speaker `agent` or `customer`."""
    pause = array.array("h", bytes(2 * int(RATE * PAUSE_SECONDS)))
    left, right = array.array("h", pause), array.array("h", pause)
    for speaker, line in script:
        samples = spoken(line)
        silence = array.array("h", bytes(2 * len(samples)))
        left.extend(samples if speaker == "agent" or not stereo else silence)
        right.extend(samples if speaker == "customer" else silence)
        left.extend(pause)
        right.extend(pause)
    frames = array.array("h")
    if stereo:
        for pair in zip(left, right):
            frames.extend(pair)
    else:
        frames = left
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(2 if stereo else 1)
        file.setsampwidth(2)
        file.setframerate(RATE)
        file.writeframes(frames.tobytes())
    return out.getvalue()


def word_error_rate(reference: str, heard: str) -> float:
    """Word-level edit distance over the reference's length: how far recognition is from the script."""
    ref, hyp = _words(reference), _words(heard)
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, other in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1] / max(len(ref), 1)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())
