"""One recording in, its transcript and findings out: the CPU-heavy part of processing a call.

Speech recognition holds the GIL for seconds at a time, so it never runs in the worker's
event loop or one of its threads: `analyse_in_worker` hands the recording to a process of
its own (one per worker process, started on first use, the model loaded once in it), and
the event loop keeps serving requests meanwhile.
"""
from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypedDict

from domain import call_audio, call_findings, transcription
from domain.call_findings import Results
from domain.transcription import Segment, Transcript


class Analysed(TypedDict):
    duration_ms: int
    transcript: Transcript
    results: Results


class RecognitionInterrupted(RuntimeError):
    """The worker process died mid-analysis (killed, out of memory): the analysis is retried."""


def analyse_recording(audio: bytes, fmt: str, uploaded: Sequence[Segment] | None, disclosures: Sequence[str],
                      recognizer: str) -> Analysed:
    """Decode, transcribe (unless a transcript came with the upload) and analyse. Raises
    `call_audio.AudioError` with a message for the analysis when the recording is unusable."""
    decoded = call_audio.decode(audio, fmt)
    if uploaded is not None:
        segments = list(uploaded)
    else:
        segments = transcription.recognise(decoded, transcription.recognizer(recognizer))
        if not segments:
            raise call_audio.AudioError("no speech was recognised in the audio")
    return {
        "duration_ms": decoded.duration_ms,
        "transcript": transcription.transcript(segments),
        "results": call_findings.analyse(segments, disclosures, decoded.duration_ms),
    }


_pool: ProcessPoolExecutor | None = None


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # spawn, not fork: the parent runs an event loop and threads that a fork would copy mid-flight.
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    return _pool


async def analyse_in_worker(audio: bytes, fmt: str, uploaded: Sequence[Segment] | None,
                            disclosures: Sequence[str], recognizer: str) -> Analysed:
    """`analyse_recording` in the worker's analysis process; one recording at a time per process."""
    global _pool
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_executor(), analyse_recording, audio, fmt,
                                          list(uploaded) if uploaded is not None else None, list(disclosures),
                                          recognizer)
    except BrokenProcessPool:
        _pool = None  # the next analysis starts a fresh process
        raise RecognitionInterrupted("the analysis process stopped before finishing") from None
