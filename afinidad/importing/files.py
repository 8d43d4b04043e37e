"""Reading files: the format told by the name, gzip recognised from the bytes, JSON lines, and CSV records with
their physical lines. Memory stays flat: one line or record at a time."""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from afinidad.errors import UnsupportedFile
from afinidad.importing.mapping import Source
from afinidad.importing.results import RejectedRow

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv",)
_GZIP_MAGIC = b"\x1f\x8b"
_PROGRESS_EVERY = 4096  # lines between two on_progress calls: often enough for a bar, cheap enough to ignore

CsvRow = tuple[int, list[str], str]  # (first line, cells, problem: "" when the row could be read)
OnProgress = Callable[[int], None] | None  # called with the bytes of the file on disk consumed so far


def file_format(path: Path) -> Literal["json", "csv"]:
    """JSON lines or CSV, from the name (``.gz`` aside); refuses a missing file or an unknown name at once."""
    if not path.is_file():
        raise UnsupportedFile(f"{path}: no such file")
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(JSON_SUFFIXES):
        return "json"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    known = ", ".join((*JSON_SUFFIXES, *CSV_SUFFIXES))
    raise UnsupportedFile(f"{path.name}: cannot tell the format from the name; use one of {known} (+ .gz)")


def _open(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(the file on disk, for progress; the bytes to read, gunzipped when the file is gzip)."""
    try:
        raw = path.open("rb")
    except OSError as error:
        raise UnsupportedFile(f"cannot read {path}: {error.strerror or error}") from None
    if raw.read(2) == _GZIP_MAGIC:
        raw.seek(0)
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    raw.seek(0)
    return raw, raw


def _lines(path: Path, on_progress: OnProgress) -> Iterator[bytes]:
    raw, stream = _open(path)
    with raw, stream:
        try:
            for number, line in enumerate(stream, 1):
                yield line
                if on_progress is not None and number % _PROGRESS_EVERY == 0:
                    on_progress(raw.tell())
        except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
            raise UnsupportedFile(f"{path.name}: the gzip stream is damaged ({error})") from None
        if on_progress is not None:
            on_progress(raw.tell())


def json_objects(path: Path, on_progress: OnProgress, what: str) -> Iterator[tuple[int, dict[str, Any]] | RejectedRow]:
    """(line, object) for each JSON object of a JSON-lines file, or the line that holds none; blank lines are
    skipped. A whole-file JSON array is refused (`UnsupportedFile`); `what` names a line's object in that error
    (``"message"``, ``"product"``)."""
    for number, line in enumerate(_lines(path, on_progress), 1):
        if not line.strip():
            continue
        if number == 1 and line.lstrip().startswith(b"["):
            raise UnsupportedFile(
                f"{path.name} is a JSON array; write one {what} per line (e.g. jq -c '.[]' file.json)"
            )
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            yield RejectedRow(number, f"not valid JSON: {error}")
            continue
        if not isinstance(value, dict):
            yield RejectedRow(number, f"not a JSON object but {type(value).__name__}")
            continue
        yield number, value


def _csv_records(
    path: Path, source: Source, on_progress: OnProgress
) -> Iterator[tuple[int, int, list[str] | None, str]]:
    """(first line, last line, cells, problem) per CSV record; cells None when the record is unreadable.
    Bytes the encoding cannot read are kept as lone surrogates (`surrogateescape`) and reject their row,
    so a bad byte costs one row, not the import."""
    raw, stream = _open(path)
    with raw, stream:
        text = io.TextIOWrapper(stream, encoding=source.encoding, errors="surrogateescape", newline="")
        reader = csv.reader(text, delimiter=source.delimiter)
        last = 0
        report_at = _PROGRESS_EVERY
        try:
            while True:
                first = last + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    last = reader.line_num
                    yield first, last, None, f"unreadable CSV ({error})"
                    continue
                last = reader.line_num
                problem = ""
                joined = "".join(cells)
                if not joined.isascii():
                    try:
                        joined.encode(source.encoding)
                    except UnicodeEncodeError:
                        problem = f"not valid {source.encoding}"
                yield first, last, cells, problem
                if on_progress is not None and last >= report_at:
                    on_progress(raw.tell())
                    report_at = last + _PROGRESS_EVERY
        except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
            raise UnsupportedFile(f"{path.name}: the gzip stream is damaged ({error})") from None
        if on_progress is not None:
            on_progress(raw.tell())


def csv_table(path: Path, source: Source, on_progress: OnProgress) -> tuple[list[str] | None, Iterator[CsvRow]]:
    """(header, data rows) of a CSV file; the header is None for a file without one (empty, or blank lines).
    Each row has the header's width or a problem saying why not; cells are stripped when `source.strip`, and
    cells written as one of `source.empty_values` are read as empty. Blank lines are no rows."""
    records = _csv_records(path, source, on_progress)
    header: list[str] | None = None
    for first, _last, cells, problem in records:
        if cells is None:
            raise UnsupportedFile(f"{path.name}: the header (line {first}) is {problem}")
        if cells:  # blank lines before the header carry nothing
            header = [cell.strip() for cell in cells]
            header[0] = header[0].removeprefix("\ufeff").strip()  # a byte-order mark is no part of a name
            break
    if header is None:
        return None, iter(())
    width = len(header)
    strip = source.strip
    empty_values = frozenset(source.empty_values)

    def rows() -> Iterator[CsvRow]:
        for first, last, cells, problem in records:
            if cells is None:
                yield first, [], problem
                continue
            if not cells:  # a blank line is no row
                continue
            if len(cells) != width:
                span = f" (lines {first}-{last}: an unbalanced quote?)" if last > first else ""
                problem = problem or f"expected {width} columns, found {len(cells)}{span}"
            if strip:
                cells = list(map(str.strip, cells))
            if empty_values:
                cells = ["" if cell in empty_values else cell for cell in cells]
            yield first, cells, problem

    return header, rows()
