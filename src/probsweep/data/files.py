"""Reading the user's file: the format, the separator, what is not a text file, word-vector files.

Every failure is a DataError with one line that names the problem and the fix, never a pandas traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from probsweep.config import SEPARATORS, ConfigError, DataConfig, one_line

SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


class DataError(ConfigError):
    """Input that cannot be used; the one-line message names the problem and the fix."""


# Magic numbers of files people point data.path at by mistake, and what to do instead.
MAGIC = {
    b"PAR1": "a Parquet file: set data.format=parquet",
    b"\x1f\x8b": "gzip-compressed: decompress it first",
    b"PK\x03\x04": "a zip archive (or an Excel workbook): extract or export it to CSV first",
    b"\x89PNG": "a PNG image",
    b"%PDF": "a PDF document",
    b"SQLite format 3": "an SQLite database",
}
SEP_NAMES = {",": "comma", ";": "semicolon", "|": "pipe", "\t": "tab"}


def _not_text(path: Path, encoding: str) -> str | None:
    """Why the file is not a text file (a known magic number, NUL bytes, control characters), or None."""
    with path.open("rb") as fh:
        head = fh.read(65536)
    for magic, what in MAGIC.items():
        if head.startswith(magic):
            return what
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) and "16" not in encoding:
        return "UTF-16 text: set data.encoding=utf-16"
    if "16" in encoding or "32" in encoding:
        return None  # wide encodings are full of NUL bytes
    if b"\x00" in head:
        return f"binary (a NUL byte at offset {head.index(0)})"
    control = sum(b < 32 and b not in b"\t\n\r\x0c\x0b" or b == 127 for b in head)
    if control > max(2, 0.05 * len(head)):
        return f"binary ({control} control bytes in the first {len(head)})"
    return None


def _sniff_sep(header: str, sep: str) -> str | None:
    """The separator a one-column header seems to use instead of `sep`, if any."""
    found = {c: header.count(c) for c in (";", "|", "\t", ",") if c != sep and c in header}
    return max(found, key=lambda c: found[c]) if found else None


def _sep_advice(path: Path, encoding: str, sep: str) -> str:
    try:
        with path.open(encoding=encoding, errors="replace", newline="") as fh:
            header = fh.readline().rstrip("\r\n")
    except (OSError, LookupError, ValueError):  # ValueError: a UTF-16 stream without its BOM, say
        return ""
    guess = _sniff_sep(header, sep)
    if not guess:
        return ""
    return f"; its header {header[:60]!r} looks {SEP_NAMES[guess]}-separated: set data.sep={SEP_NAMES[guess]}" + (
        " (or data.format=tsv)" if guess == "\t" else ""
    )


def _bad_json_line(path: Path, encoding: str) -> str | None:
    """Where a JSON Lines file breaks, by line number ("line 12: ..."), or None if every line is an object."""
    try:
        with path.open(encoding=encoding, errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    return f"line {n:,} is not valid JSON ({exc.msg}, column {exc.colno})"
                if not isinstance(value, dict):
                    return f'line {n:,} is a JSON {type(value).__name__}, not an object ({{"text": ..., "label": ...}})'
    except (OSError, LookupError, ValueError):  # ValueError: a UTF-16 stream without its BOM, say
        return None
    return None


def read_table(cfg: DataConfig) -> pd.DataFrame:
    """The user's file as pandas reads it; the format comes from data.format or the path's suffix."""
    if not cfg.path:
        raise DataError("data.path is not set: pass data.path=/path/to/your/file")
    path = Path(cfg.path).expanduser()
    if path.is_dir():
        raise DataError(f"data.path {path} is a directory, not a file: point data.path at the data file inside it")
    if not path.is_file():
        raise DataError(f"data file not found: {path}; check data.path")
    fmt = (cfg.format or SUFFIXES.get(path.suffix.lower(), "")).lower()
    if fmt not in ("csv", "tsv", "parquet", "jsonl"):
        raise DataError(
            f"unknown data format {cfg.format or path.suffix or path.name!r}: use a .csv, .tsv, .parquet "
            "or .jsonl file, or set data.format=csv|tsv|parquet|jsonl"
        )
    if path.stat().st_size == 0:
        raise DataError(f"data file {path} is empty (0 bytes): point data.path at a file with rows")
    if fmt != "parquet":
        what = _not_text(path, cfg.encoding)
        if what:
            raise DataError(f"data file {path.name} is not a {fmt.upper()} text file: it is {what}; check data.path")
    sep = SEPARATORS.get(cfg.sep, cfg.sep) if cfg.sep else ("\t" if fmt == "tsv" else ",")
    text_opts = dict(encoding=cfg.encoding, keep_default_na=False, na_values=[""])  # a text "NA" stays a text
    try:
        if fmt == "parquet":
            df = pd.read_parquet(path)
        elif fmt == "jsonl":
            df = pd.read_json(path, lines=True, encoding=cfg.encoding, dtype=False, convert_dates=False)
        else:
            df = pd.read_csv(path, sep=sep, **text_opts)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"cannot decode {path.name} as {cfg.encoding} (byte {exc.start}): "
            "set data.encoding=latin-1 (or the file's real encoding)"
        ) from None
    except LookupError:
        raise DataError(f"unknown encoding data.encoding={cfg.encoding!r}: use e.g. utf-8 or latin-1") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {path} is empty: point data.path at a file with rows") from None
    except Exception as exc:  # parser errors of any reader: one line, not a traceback
        where = _bad_json_line(path, cfg.encoding) if fmt == "jsonl" else None
        if where:
            raise DataError(
                f"cannot read {path.name} as JSON Lines: {where}: fix or remove that line (one JSON object a line)"
            ) from None
        advice = _sep_advice(path, cfg.encoding, sep) if fmt in ("csv", "tsv") else ""
        raise DataError(
            f"cannot read {path.name} as {fmt}: {one_line(exc)}{advice or '; check the file or data.format'}"
        ) from None
    if fmt in ("csv", "tsv") and len(df.columns) == 1:
        advice = _sep_advice(path, cfg.encoding, sep)
        if advice:
            raise DataError(f"{path.name} has one column{advice}")
    if len(df) == 0:
        raise DataError(f"data file {path} has no rows (a header only?): add rows or fix data.path")
    return df


def read_vectors(path, embed_dim: int, words: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """GloVe text vectors ("word v1 ... vd" per line; a word2vec "count dim" header is skipped).

    `words`, if given, keeps only those words: a 400k-word file then costs little memory. Words
    containing spaces (glove.840B has some) are read as everything before the last `embed_dim` fields.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"vectors file not found: {p}; check data.vectors_path")
    keep = set(words) if words is not None else None
    out: dict[str, np.ndarray] = {}
    first, n = True, 0
    try:
        with p.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                parts = line.rstrip("\r\n").rstrip(" ").split(" ")
                if parts == [""]:
                    continue
                if n == 1 and len(parts) == 2 and all(x.isdigit() for x in parts):
                    parts = ["<header>"] + ["0"] * int(parts[1])  # checked like a vector line, then dropped
                if first and len(parts) - 1 != embed_dim:
                    raise DataError(
                        f"vectors file {p.name} has dimension {len(parts) - 1} (line {n}) but "
                        f"model.embed_dim={embed_dim}: set model.embed_dim={len(parts) - 1} "
                        f"or use {embed_dim}-d vectors"
                    )
                first = False
                if len(parts) - 1 < embed_dim:
                    raise DataError(
                        f"malformed vectors file {p.name}: line {n} has {len(parts) - 1} values, "
                        f"expected {embed_dim}; fix or remove that line"
                    )
                word = " ".join(parts[:-embed_dim])
                if word == "<header>" and n == 1 or word in out or (keep is not None and word not in keep):
                    continue
                try:
                    out[word] = np.asarray(parts[-embed_dim:], dtype=np.float32)
                except ValueError:
                    raise DataError(
                        f"malformed vectors file {p.name}: line {n} has a value that is not a number; "
                        "fix or remove that line"
                    ) from None
    except UnicodeDecodeError:
        raise DataError(f"vectors file {p.name} is not UTF-8 text (near line {n + 1}): convert it to UTF-8") from None
    if first:
        raise DataError(f"vectors file {p} has no vectors: check data.vectors_path")
    return out
