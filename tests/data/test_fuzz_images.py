"""Fuzzing the image opener: mutated JPEG/PNG/WebP/GIF bytes and headers either decode to a uint8
image of the asked size or raise BadImageError naming the file; never another exception, never a
hang, never unbounded memory (oversized headers are refused before decoding)."""
from __future__ import annotations

import resource
import struct
import time
from pathlib import Path

import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from modiste.data.images import BadImageError, ImagePolicy, load_image_bytes  # noqa: E402

CORPUS = {p.name: p.read_bytes() for p in sorted((Path(__file__).parent / "corpus").iterdir()) if p.suffix != ".md"}
POLICY = ImagePolicy(size=(16, 16))
SECONDS = 2.0  # one decode of a tiny file, on a loaded machine
MEMORY_MB = 512  # what one decode may add to the process


def _mutate(data: bytes, edits: list[tuple[int, int, int]], cut: int | None) -> bytes:
    b = bytearray(data)
    for kind, where, value in edits:
        i = where % max(len(b), 1)
        if kind == 0 and b:
            b[i] = value  # overwrite a byte
        elif kind == 1:
            b[i:i] = bytes([value])  # insert one
        elif kind == 2 and b:
            del b[i]  # drop one
        else:  # a huge number where a size might be (width, height, chunk length)
            b[i:i + 4] = struct.pack(">I", 0x7FFF0000 + value)
    return bytes(b[:cut] if cut is not None else b)


def _open(data: bytes, name: str) -> None:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    start = time.perf_counter()
    try:
        x = load_image_bytes(data, name, POLICY)
    except BadImageError as e:
        assert name in str(e)
    else:
        assert x.dtype == torch.uint8 and tuple(x.shape) == (3, 16, 16)
    assert time.perf_counter() - start < SECONDS
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 - rss < MEMORY_MB


def test_the_seed_corpus_opens():
    assert len(CORPUS) >= 6
    for name, data in CORPUS.items():
        assert load_image_bytes(data, name, POLICY).shape == (3, 16, 16)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(CORPUS)),
       edits=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       cut=st.one_of(st.none(), st.integers(0, 800)))
def test_mutated_images_decode_or_fail_with_a_bad_image_error(name, edits, cut):
    _open(_mutate(CORPUS[name], edits, cut), name)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_never_crash_the_opener(data):
    _open(data, "random.bin")
