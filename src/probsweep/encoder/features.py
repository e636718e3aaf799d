"""Frozen means computed once: the encoder's pooled features of every text, cached on disk.

The key is the sha256 of the texts themselves (in order, deduplicated: the data's fingerprint as the
encoder sees it), the preset's identity (its config and its weights' hash, preset.py) and the sequence
length. Every trial, a resumed sweep and every worker on the same data and preset read the same file;
a worker that finds none computes it and writes it atomically (a temporary file, then a rename), so
two workers racing write the same bytes and no reader ever sees half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from probsweep.encoder.preset import Preset, load_backbone, load_tokenizer

CACHE_VERSION = 1  # bump when the pooling or the tokenising changes what a cached file means
ENCODE_BATCH = 64  # texts per forward pass while computing features
LENGTH_BUCKET = 8  # pad each batch to a multiple of 8 tokens: few distinct shapes, few traces


def texts_fingerprint(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def cache_key(preset: Preset, sequence_length: int, texts: Sequence[str]) -> str:
    parts = {
        "version": CACHE_VERSION,
        "preset": preset.identity,
        "sequence_length": int(sequence_length),
        "texts": texts_fingerprint(texts),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


class Progress:
    """`encoding N texts: i/N (p%), R texts/s`: in place on a terminal, every ~10% otherwise."""

    def __init__(self, total: int, label: str, stream: IO[str] | None = None):
        self.total, self.label, self.done = total, label, 0
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.next_line = 0.1
        self.rate = 0.0

    def update(self, n: int) -> None:
        self.done += n
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        self.rate = self.done / elapsed
        share = self.done / max(self.total, 1)
        line = f"{self.label}: {self.done}/{self.total} ({share:.0%}), {self.rate:.0f} texts/s"
        if self.tty:
            self.stream.write("\r" + line + (" " * 8))
            if self.done >= self.total:
                self.stream.write("\n")
        elif share >= self.next_line or self.done >= self.total:
            self.stream.write(line + "\n")
            self.next_line = share + 0.1
        self.stream.flush()


def encode(
    texts: Sequence[str],
    preset: Preset,
    sequence_length: int,
    progress: IO[str] | None = None,
    batch_size: int = ENCODE_BATCH,
) -> np.ndarray:
    """The mean-pooled backbone output of each text, (len(texts), hidden), float32, in order."""
    import tensorflow as tf

    from probsweep.encoder.body import pooled_encoder

    tokenizer = load_tokenizer(preset, sequence_length)
    model = pooled_encoder(load_backbone(preset), pad_id=pad_id(tokenizer))
    forward = tf.function(lambda ids: model(ids, training=False), reduce_retracing=True)
    encodings = tokenizer.encode_batch(list(texts))
    ids = [e.ids for e in encodings]
    order = np.argsort([len(i) for i in ids], kind="stable")  # similar lengths together: less padding
    out = np.zeros((len(texts), int(model.output.shape[-1])), np.float32)
    bar = Progress(len(texts), f"encoding {len(texts)} texts with {Path(preset.handle).name}", progress)
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(ids[r]) for r in rows)
        width = -(-width // LENGTH_BUCKET) * LENGTH_BUCKET
        batch = np.full((len(rows), width), pad_id(tokenizer), np.int32)
        for i, r in enumerate(rows):
            batch[i, : len(ids[r])] = ids[r]
        out[rows] = np.asarray(forward(tf.constant(batch)))
        bar.update(len(rows))
    return out


def pad_id(tokenizer: Any) -> int:
    found = tokenizer.token_to_id("[PAD]")
    return 0 if found is None else int(found)


def default_cache_dir() -> Path:
    from probsweep.config import PROJECT_ROOT

    return PROJECT_ROOT / "models" / "features"


_MEMORY: dict[str, np.ndarray] = {}  # this process's features by key: trials after the first read nothing


def cached_features(
    texts: Sequence[str],
    preset: Preset,
    sequence_length: int,
    cache_dir: str | Path | None = None,
    progress: IO[str] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Features of `texts` (in order) and what happened: {"key", "path", "hit", "seconds", "texts_per_s"}.

    Computed once per unique text, saved under `cache_dir` (default models/features/), reused after."""
    unique = list(dict.fromkeys(texts))
    key = cache_key(preset, sequence_length, unique)
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    path = folder / f"{key}.npy"
    info: dict[str, Any] = {"key": key, "path": str(path), "hit": True, "seconds": 0.0, "texts_per_s": None}
    features = _MEMORY.get(key) if key in _MEMORY else _read(path, len(unique))
    if features is None:
        folder.mkdir(parents=True, exist_ok=True)
        with _locked(folder / f".{key}.lock"):  # workers on one host: one computes, the others wait and read
            features = _read(path, len(unique))
            if features is None:
                features = _compute(unique, preset, sequence_length, progress, folder, key, info)
    _MEMORY[key] = features
    index = {t: i for i, t in enumerate(unique)}
    return features[[index[t] for t in texts]], info


def _read(path: Path, n: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # a damaged file is computed again and replaced
    return loaded if loaded.ndim == 2 and len(loaded) == n else None


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    """An exclusive lock on `lock` (fcntl; where there is none, no lock: workers may then compute twice)."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _compute(
    unique: list[str],
    preset: Preset,
    sequence_length: int,
    progress: IO[str] | None,
    folder: Path,
    key: str,
    info: dict[str, Any],
) -> np.ndarray:
    """Encode, then write atomically (a temporary file, then a rename): no reader sees half a file."""
    start = time.perf_counter()
    features = encode(unique, preset, sequence_length, progress)
    seconds = time.perf_counter() - start
    info.update(hit=False, seconds=round(seconds, 2), texts_per_s=round(len(unique) / max(seconds, 1e-9), 1))
    tmp = folder / f".{key}.{os.getpid()}.tmp.npy"
    np.save(tmp, features)
    os.replace(tmp, folder / f"{key}.npy")
    meta = {"preset": preset.handle, "identity": preset.identity, "sequence_length": sequence_length}
    meta.update(texts=len(unique), dim=int(features.shape[1]), seconds=info["seconds"])
    (folder / f"{key}.json").write_text(json.dumps(meta, indent=1) + "\n")
    return features
