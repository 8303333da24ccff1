"""A user's CSV dataset: read, check and split the files that a config's ``dataset`` object describes.

``load_csv_dataset(spec, base_dirs)`` turns the dataset object of a JSON config into a `CSVDataset`:
the raw (not standardised) training data and test pieces, their labels and timestamps, and a note on
which training block was chosen. Standardisation is left to `data_loader.build_series`; every check on
the raw data is done here, and every problem is one line (a `DataError`) that names the file, the
column and the first offending rows. Row numbers are 0-based data rows (the header is not counted).

Fields of the dataset object (any other field is refused, with the closest known name suggested):

``name``
    The dataset's name in run folders and tables. Default: the stem of ``path`` (else of the first
    of ``test_files``).
``path``
    The CSV file. Relative to the config file's folder, then to the repository root (the
    ``base_dirs``, in that order), or absolute. It may start with ``${ENV_VAR}``, e.g.
    ``"${SKAB_DATA_DIR}/valve1/1.csv"``, taken from the environment (an error names the variable
    if it is unset). The same rules hold for every path below. Required unless both ``train_files``
    and ``test_files`` are given. A gzip-, bzip2- or xz-compressed file (``data.csv.gz``,
    ``.bz2``, ``.xz``, in any case) is read as the CSV it holds.
``sep``
    The column separator. Default: detected per file from its first lines (``,`` ``;`` tab or ``|``:
    the one that splits every line into the same number of fields, the most fields winning), or
    named by Excel's ``sep=;`` first line, which is left out (with a note).
``decimal``, ``thousands``
    How numbers are written: ``decimal`` ``"."`` (the default) or ``","``; ``thousands`` none (the
    default) or one character, e.g. ``","`` for 1,234.5. With ``decimal`` ``","`` the separator is
    detected among ``;`` tab ``|`` first. A text column that would read as numbers under another
    setting is an error (naming the settings that differ), not left out; another decimal separator is
    not offered when other columns read fractions with the dataset's, nor a thousands separator
    unless the digits are grouped by three (text such as ``"3,4"`` or ``3'`` is left out). A Unicode minus sign
    (``−0.84``, U+2212), an en dash (U+2013) or a full-width minus (U+FF0D) before a number reads as a minus, with
    a note.
``time_column``
    Optional. Parsed as dates/times (UTC offsets, +01:00, Z, UTC or GMT, are converted to UTC; a time-zone
    name such as CET is not read, and an offset after UTC or GMT, UTC+1, is refused), or kept as numbers if
    the column is numeric; the values must be strictly increasing (unsorted or repeated
    timestamps are refused, unless ``time_order`` is ``"file"``). The rows are read as evenly spaced:
    steps of over GAP_STEPS times the usual one are counted in the note as gaps. Without it the row
    order is the time, and label timestamps and windows (below) are 0-based row numbers (20.0 is row 20, as in
    ``train_range``).
``dayfirst``, ``time_format``
    Optional, with ``time_column``, at most one: how dates written n/n/year read (``true``:
    day/month/year, ``false``: month/day/year), or a strftime format for the whole column (label
    timestamps are read with it, or as ISO times). Without them such dates take the one reading that
    fits every date, else the one that gives strictly increasing times, else times that never step
    back (the note says which); when both readings do, an error asks for ``dayfirst``. Label
    timestamps are read as the column was.
``time_order``
    ``"strict"`` (the default): the times of ``time_column`` must be strictly increasing.
    ``"file"``: keep the rows in file order and accept times that step back or repeat (as in two
    NAB files); a label timestamp then labels the first row that has it, and a window every row
    whose time lies in it. The note counts such steps. Needs ``time_column``.
``value_columns``
    Optional list of the channels. Default: every numeric column other than the time column, the
    label column and ``ignore_columns``, in file order (columns with no header, such as a saved
    pandas index, wholly empty columns and text columns are left out and listed in the note; a 0/1
    column named like labels, or an increasing one named like a time or an index, is an error).
    Every file of one dataset must have the same value columns.
``ignore_columns``
    Optional list of columns to leave out of the default value columns (e.g. SKAB's
    ``changepoint``).
``labels``
    Optional; absent or null: unlabelled. One of
    ``{"column": "anomaly"}``: a 0/1 column in the CSV (1 = anomalous row). Training files may lack
    it (then they count as anomaly-free); every test file must have it.
    ``{"timestamps": "labels.json", "key": "..."}``: NAB-style JSON, a list of anomaly timestamps, or
    a dict whose ``key`` entry is that list; without ``key``, the entry whose file name matches the
    CSV's (as NAB's ``"realKnownCause/nyc_taxi.csv"``; ``x.csv`` or ``x.csv.gz`` for ``x.csv.gz``, likewise
    ``.bz2`` and ``.xz``; of several such, or for data files of one name in several folders, the one whose folders end the CSV's path,
    ``"a/run.csv"`` for ``.../a/run.csv``, which no other ``run.csv`` takes). Each timestamp labels the row it
    equals, and is a sequence label of its own (`CSVDataset.full_anomaly_rows`), neighbours too; one that matches no
    row is an error.
    ``{"windows": "windows.json", "key": "..."}``: NAB-style list of ``[start, end]`` pairs, both
    ends included; every row inside a window is labelled (an end written as a date alone, on times with
    times of day, is an error: it would read as that day's 00:00).
    ``{"timestamps": ..., "windows": ..., "key": "..."}``: both, as NAB gives them: the windows are
    the point labels and the timestamps the anomalies' own rows (`CSVDataset.full_anomaly_rows`,
    the sequence labels, to which `data_loader.load_csv_series` adds the first row of a test piece's
    labelled run that goes on from the training block and holds none; the first row of each window otherwise). ``key`` goes with both files.
The training block, at most one of (default ``"train": "auto"``):
``train_range``
    ``[start, end)``: 0-based rows of ``path``.
``train_points``
    ``N``: the first N rows of ``path``.
``train_fraction``
    ``f`` with 0 < f < 1: the first floor(f * rows) rows of ``path``.
``train_files``
    A list of separate training files (e.g. an anomaly-free run). The detectors train on their
    concatenation (``train``), so the windows around each join take points of two files; the note says
    so. ``CSVDataset.train_parts`` keeps each file and ``train_part_starts`` where it begins. The test
    data is then the whole of ``path`` and/or ``test_files``.
``train``
    ``"auto"`` (the default): the longest stretch of ``path`` free of labelled anomalies (the first
    such stretch on a tie); with no labels, or no labelled row in ``path``, the leading 50%
    (floor(rows / 2)), but all of ``path`` when labels are given and ``test_files`` hold the test data.
``test_files``
    Optional list of test files, each a test piece named by its file stem (prefixed by its folder's
    name where two stems clash). Without it the test data is what lies outside the training block of
    ``path``: one piece, ``test``, or two, ``test_1`` before the block and ``test_2`` after it. With it
    (and a block inside ``path``), the rows of ``path`` outside the block are test pieces as well.

Labelled rows inside the chosen training block are not refused: the note warns about them. A
file may play one part only (a test file that is also trained on is an error); a label window that
covers no row is an error. The header must name the columns (a first row of numbers, or a name given
twice, is an error); rows with data in more fields than the header are an error, an empty trailing
field (a trailing separator) is left out and noted.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import itertools
import json
import lzma
import math
import os
import re
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_float_dtype, is_integer_dtype, is_numeric_dtype
from pandas.tseries.api import guess_datetime_format

from .data_loader import flat_channels, rounding_note
from .download import local_root
from .errors import DataError, UserError, closest, home_path, json_error, no_repeated_keys
from .evaluation import span_mask

__all__ = ["CSVDataset", "FIELDS", "load_csv_dataset"]

FIELDS = (
    "name", "path", "sep", "decimal", "thousands", "time_column", "time_format", "dayfirst", "time_order",
    "value_columns", "ignore_columns", "labels",
    "train", "train_range", "train_points", "train_fraction", "train_files", "test_files",
)
TRAIN_FIELDS = ("train_range", "train_points", "train_fraction", "train_files", "train")
LABEL_FIELDS = ("column", "timestamps", "windows", "key")
TIME_ORDERS = ("strict", "file")
SEPARATORS = (",", ";", "\t", "|")
DECIMALS = (".", ",")
SHOWN = 5  # offending rows named in a message
NAMES_SHOWN = 20  # columns named in a message that lists them (a file of hundreds of channels)


@dataclass(eq=False)
class CSVDataset:
    """The raw pieces of a CSV dataset (float64, not standardised); see the module docstring."""

    name: str
    channels: list[str]  # value column names, in file order
    train: np.ndarray  # (n_train, n_channel) raw training data (the training files concatenated)
    train_parts: list[np.ndarray]  # one array per training file (one part for a block of `path`)
    train_part_starts: list[int]  # index in `train` where each part begins ([0] for one part)
    test_pieces: list[dict]  # {name, values (n, c), point_labels (n,) bool | None, timestamps | None,
    #                            path (str), start (first row in its file), anomaly_rows (k,) int64 | None}
    train_block_note: str  # one line: which rows / files train, why, what is tested, warnings
    has_labels: bool
    train_point_labels: np.ndarray | None = None  # (n_train,) bool; None if unlabelled
    # only when the dataset is one file split into a training block and the rest (no train/test files):
    full_values: np.ndarray | None = None  # (N, n_channel) the whole file
    full_timestamps: np.ndarray | None = None  # (N,) datetime64 or numbers; None without time_column
    full_point_labels: np.ndarray | None = None  # (N,) bool; None if unlabelled
    train_start: int | None = None  # the training block is full_values[train_start:train_end]
    train_end: int | None = None
    # only when labels give timestamps (with windows or without): the rows of the label timestamps (sorted,
    # 0-based), into full_values (None unless one file is split), into train, and in each test piece
    full_anomaly_rows: np.ndarray | None = None
    train_anomaly_rows: np.ndarray | None = None
    utc: bool = False  # every test piece's file had UTC offsets (Z included): the times the outputs show are UTC


@dataclass(eq=False)
class _File:
    path: Path
    role: str  # "split" (path with a training block in it), "train" or "test"
    df: pd.DataFrame
    values: np.ndarray | None = None
    timestamps: np.ndarray | None = None  # for output: datetime64 or numbers
    timeline: np.ndarray | None = None  # for label matching: int64 ns, float, or row numbers
    labels: np.ndarray | None = None  # (n,) bool, or None when this file carries no labels
    anomaly_rows: np.ndarray | None = None  # rows of the label timestamps, when the labels give timestamps
    disorder: str = ""  # time_order "file": how the times step back or repeat, for the note
    notes: list[str] = field(default_factory=list)  # for the note: what reading the file left out or chose
    dayfirst: bool | None = None  # how the time column's n/n/year dates were read (None: not such dates)
    utc_offset: str | None = None  # a time of the time column written with a non-zero UTC offset
    utc: bool = False  # the time column held UTC offsets (Z included): its times are converted to UTC


# ----------------------------------------------------------------------------- small helpers


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _rows(idx, shown: int = SHOWN) -> str:
    idx = [int(i) if isinstance(i, int | np.integer) else i for i in idx]
    text = ", ".join(str(i) for i in idx[:shown])
    return text + (", ..." if len(idx) > shown else "")


def _names(names, shown: int = NAMES_SHOWN) -> str:
    """``names`` joined by commas, the first ``shown`` of them, then how many more there are."""
    names = [str(n) for n in names]
    return ", ".join(names[:shown]) + (f", ... ({len(names) - shown} more)" if len(names) > shown else "")


def _segments(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    y = np.concatenate(([0], np.asarray(mask, bool).astype(np.int8), [0]))
    d = np.diff(y)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def _suggest(name, known) -> str:
    near = closest(name, [str(k) for k in known])
    return f"; did you mean {near!r}?" if near else ""


def _check_fields(obj: dict, known, where: str) -> None:
    for key in obj:
        if key not in known:
            hint = _suggest(key, known) or f"; known fields: {', '.join(known)}"
            raise DataError(f"{where}: unknown field {key!r}{hint}")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _whole(x):
    """A float that is a whole number as that int; anything else as it is."""
    return int(x) if isinstance(x, float) and x.is_integer() else x


def _str_list(spec: dict, key: str) -> list[str] | None:
    value = spec.get(key)
    if value is None:
        return None
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, str) and v.strip() for v in value)):
        raise DataError(f"dataset: {key} must be a non-empty list of strings, got {value!r}")
    if len(set(value)) != len(value):
        dup = next(v for v in value if value.count(v) > 1)
        raise DataError(f"dataset: {key} lists {dup!r} twice")
    return list(value)


def _fmt(value) -> str:
    """A cell's value for a message; a cell read as missing (empty, or text such as NA, n/a, null) is "missing"."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "missing"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


_ENV = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _resolve(value, base_dirs: list[Path], where: str) -> Path:
    """A path of the spec: ${VAR} at its start expanded, then absolute or relative to a base folder."""
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"dataset: {where} must be a file path (a string), got {value!r}")
    text = value.strip()
    m = _ENV.match(text)
    if m:
        var = m.group(1)
        root = os.environ.get(var)
        if not root:
            raise DataError(f"dataset: {where} {value!r} uses ${{{var}}}, but the environment variable "
                            f"{var} is not set; set it to the data folder")
        text = str(local_root(root, f"dataset: {where}: ${{{var}}}")) + text[m.end():]  # ~ and a relative folder read as the sha256 check reads them
    elif "${" in text:
        raise DataError(f"dataset: {where} {value!r}: ${{VAR}} may only start a path")
    path = _home(text, where)
    if path.is_absolute() and path.is_dir():
        raise DataError(f"dataset: {where}: {path} is a folder, not a CSV file")
    if path.is_absolute():
        if not path.is_file():
            from_var = (f" (${{{m.group(1)}}} is {os.environ[m.group(1)]!r}: is it the folder that holds "
                        f"{text[len(str(local_root(os.environ[m.group(1)]))):].lstrip('/')}?)" if m else "")
            raise DataError(f"dataset: {where}: file {path} not found{from_var}")
        return path
    dirs = base_dirs or [Path.cwd()]
    for base in dirs:
        if (Path(base) / path).is_file():
            return _as_given(Path(base) / path)
    folder = next((Path(base) / path for base in dirs if (Path(base) / path).is_dir()), None)
    if folder is not None:
        raise DataError(f"dataset: {where}: {folder.resolve()} is a folder, not a CSV file")
    raise DataError(f"dataset: {where}: file {value} not found (looked in {', '.join(str(d) for d in dirs)})")


def _home(text: str, where: str) -> Path:
    """``text`` as a path, "~" the home folder (``home_path``); "~name/" of no user a DataError naming ``where``, as
    every refusal of a dataset's file is."""
    try:
        return home_path(text)
    except UserError as e:
        raise DataError(f"dataset: {where}: {e}") from None


def _as_given(path: Path) -> Path:
    """``path`` made absolute, a link in it not followed: a data file given by a link into another folder keeps the
    name and folders it is given by, which label entries, the dataset's default name and the test pieces' names
    follow (as an absolute path keeps them). "." and ".." are dropped where that leads to the same file."""
    path = path.absolute()
    tidy = Path(os.path.normpath(path))
    return tidy if tidy.is_file() and os.path.samefile(tidy, path) else path


def read_files(spec: dict, base_dirs: list[Path]) -> dict:
    """``spec`` with each file it names (``path``, ``train_files``, ``test_files``, a labels file) replaced by the
    real path of the file it reads from ``base_dirs``: two dataset objects that read the same files compare equal,
    one text read from two folders (``"plant.csv"`` beside two configs) does not. A file found nowhere is kept as
    written (loading the dataset names it)."""
    def real(value, where: str):
        try:
            return os.path.realpath(_resolve(value, base_dirs, where))
        except DataError:
            return value

    spec = dict(spec)
    for key in ("path", "train_files", "test_files"):
        if key in spec:
            spec[key] = [real(v, key) for v in spec[key]] if isinstance(spec[key], list) else real(spec[key], key)
    if isinstance(spec.get("labels"), dict):
        spec["labels"] = {k: real(v, f"labels.{k}") if k in ("timestamps", "windows") else v
                          for k, v in spec["labels"].items()}
    return spec


def absolute_paths(spec: dict, folder: Path, then: list[Path] | None = None) -> dict:
    """``spec`` with each relative path that ``folder`` holds made absolute: a copy of a config written in another
    folder then reads the files its original reads from its own folder (the first of ``_resolve``'s folders). With
    ``then``, the folders the others are looked for in next, a path found in none is one line naming every folder,
    and one that they find as ``folder``'s file is kept as written: runs recorded it so (a changed dataset value would
    refuse them), and it reads the same file from a moved tree. One found only in ``folder`` is then given from the
    first of ``then`` (e.g. "../exp/data.csv"), so that it too is the same in a tree moved whole."""
    def absolute(value, where: str):
        text = value.strip() if isinstance(value, str) else ""
        if not text or text.startswith("${") or _home(text, where).is_absolute():
            return value
        beside = Path(folder).resolve() / text  # its name kept: the dataset's default name is its stem
        if beside.is_file():
            found = next((Path(d) / text for d in then or [] if (Path(d) / text).is_file()), None)
            if found is not None and found.resolve() == beside.resolve():
                return value
            return from_first(beside, then[0]) if then else str(beside)
        if then is not None:
            _resolve(value, list(dict.fromkeys([Path(folder).resolve(), *then])), where)  # one line if found nowhere
        return value  # found as before (the repository, the working folder)

    def from_first(file: Path, first: Path) -> str:
        """``file`` from the first folder ``then`` reads in (the dataset config's): runs record it so, and a tree moved
        whole gives them the same path; absolute where no relative one leads there (another drive)."""
        try:
            relative = Path(os.path.relpath(file, Path(first).resolve()))
        except ValueError:
            return str(file)
        return relative.as_posix() if (Path(first) / relative).resolve() == file.resolve() else str(file)

    spec = dict(spec)
    for key in ("path", "train_files", "test_files"):
        if key in spec:
            spec[key] = ([absolute(v, key) for v in spec[key]] if isinstance(spec[key], list)
                         else absolute(spec[key], key))
    if isinstance(spec.get("labels"), dict):
        spec["labels"] = {k: absolute(v, f"labels.{k}") if k in ("timestamps", "windows") else v
                          for k, v in spec["labels"].items()}
    return spec


# ----------------------------------------------------------------------------- reading one file


@contextmanager
def _long_fields():
    """Let the csv module read fields of any length (its default limit is 131,072 characters)."""
    old = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _decimal_commas(rows: list[list[str]]) -> bool:
    """Whether the data fields (after the header) that hold a comma all read as numbers with a decimal comma (21,5),
    and some do."""
    held = [f.strip() for r in rows[1:] for f in r if "," in f]
    return bool(held) and all(_DECIMAL_COMMA.fullmatch(f) for f in held)


def _sniff(text: str, avoid: str | None = None, alike: bool = False) -> str | None:
    """The separator that splits the first lines into equally many fields, the most fields winning
    (``avoid``, the decimal comma, only when no other one splits them alike; nor the comma when another
    separator splits them alike into fields whose commas are decimal commas, as under names such as
    "Temperatur, °C"); None if none splits (``alike``: none splits them into equally many)."""
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    with _long_fields():
        split = {sep: list(csv.reader(lines, delimiter=sep)) for sep in SEPARATORS}
    equal = {sep: all(len(r) == len(rows[0]) for r in rows) for sep, rows in split.items() if rows}
    decimal_commas = any(equal[sep] and len(split[sep][0]) >= 2 and _decimal_commas(split[sep])
                         for sep in equal if sep != ",")
    best = None
    for sep in equal:
        n = len(split[sep][0])
        if n < 2 or (alike and not equal[sep]):
            continue
        key = (equal[sep], equal[sep] and sep != avoid, not (sep == "," and decimal_commas), n)
        if best is None or key > best[0]:
            best = (key, sep)
    return best[1] if best else None


@dataclass(eq=False)
class _Shape:
    """What the header check needs of a file's records (as pandas sees them, blank lines left out)."""

    header: list[str]  # the first record's fields, as read
    rows: int = 0  # data records
    extra: list[tuple[int, list[str]]] = field(default_factory=list)  # the first data records (0-based
    #                                      data row, fields) with data in more fields than the header
    n_extra: int = 0  # how many data records have such data
    trailing: int = 0  # data records with more fields than the header, those fields empty


def _blank(fields: list[str]) -> bool:
    return len(fields) < 2 and not (fields and fields[0].strip())


def _split_line(line: str, sep: str) -> list[str]:
    """One line's fields as pandas splits them: the csv module for one character (the C engine), else
    the line stripped and split at the regular expression (the python engine, e.g. ``\\s+``)."""
    if len(sep) > 1:
        return re.split(sep, line.strip())
    with _long_fields():
        return next(csv.reader([line], delimiter=sep, skipinitialspace=True), [""])


def _scan_records(records) -> _Shape | None:
    """The shape of a stream of records (no list of them is kept); None if every record is blank."""
    shape, width = None, 0
    for r in records:
        if _blank(r):
            continue
        if shape is None:
            shape, width = _Shape(list(r)), len(r)
            continue
        k = shape.rows
        shape.rows += 1
        if len(r) > width:
            if any(f.strip() for f in r[width:]):
                shape.n_extra += 1
                if len(shape.extra) <= SHOWN:
                    shape.extra.append((k, list(r)))
            else:
                shape.trailing += 1
    return shape


_SPACES = b" \t\x0b\x0c"  # bytes that leave a field blank (str.strip)


def _scan_bytes(text: str, sep: str) -> _Shape | None | bool:
    """`_scan_records` for one ASCII separator, counted with numpy over the bytes (a million rows in a
    tenth of a second, where the csv module takes over half a second); False where quotes could move a
    field boundary (then the csv module reads the file), None if every line is blank."""
    raw = text.encode("utf-8")
    b = np.frombuffer(raw, np.uint8)
    breaks = np.flatnonzero((b == 10) | (b == 13))
    seps = np.flatnonzero(b == ord(sep))
    quotes = np.flatnonzero(b == ord('"'))
    if quotes.size % 2:
        return False
    # quotes taken in order two by two: if no pair holds a separator or a line break, quoting moves no
    # field boundary (a quote inside a field is read as it is)
    opens, closes = quotes[0::2], quotes[1::2]
    if any((np.searchsorted(pos, closes) != np.searchsorted(pos, opens)).any() for pos in (seps, breaks)):
        return False
    ends = np.append(breaks, len(b))
    starts = np.concatenate(([0], breaks + 1))
    first = np.searchsorted(seps, starts)
    counts = np.searchsorted(seps, ends) - first + 1
    spaces = None

    def between(pos: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return np.searchsorted(pos, hi) - np.searchsorted(pos, lo)

    def blank(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Whether the bytes [lo, hi) hold only separators and spaces (a range with quotes is read by
        the caller: "" is an empty field at the start of one, and text after a tab)."""
        nonlocal spaces
        if not lo.size:
            return np.zeros(0, bool)
        if spaces is None:
            spaces = np.flatnonzero(np.logical_or.reduce([b == c for c in _SPACES if c != ord(sep)]))
        return hi - lo == between(seps, lo, hi) + between(spaces, lo, hi)

    def fields(line: int) -> list[str]:
        return _split_line(raw[starts[line]:ends[line]].decode("utf-8"), sep)

    keep = counts > 1
    one = np.flatnonzero(~keep & (ends > starts))  # lines without a separator: blank if only spaces
    keep[one] = ~blank(starts[one], ends[one])
    for line in one[between(quotes, starts[one], ends[one]) > 0]:
        keep[line] = not _blank(fields(line))
    lines = np.flatnonzero(keep)
    if not lines.size:
        return None
    shape = _Shape(fields(lines[0]), rows=lines.size - 1)
    width = len(shape.header)
    data = lines[1:]
    over = np.flatnonzero(counts[data] > width)  # data rows with more fields than the header
    if over.size:
        # the fields beyond the header's start after the row's width-th separator
        line = data[over]
        cut = seps[first[line] + width - 1] + 1
        empty = blank(cut, ends[line])
        for k in np.flatnonzero(between(quotes, cut, ends[line]) > 0):
            empty[k] = not any(f.strip() for f in fields(line[k])[width:])
        shape.trailing = int(empty.sum())
        shape.n_extra = int((~empty).sum())
        shape.extra = [(int(k), fields(data[k])) for k in over[~empty][:SHOWN + 1]]
    return shape


def _scan(text: str, sep: str) -> _Shape | None:
    """The header and field counts of the file's records as pandas sees them (blank lines left out)."""
    if len(sep) == 1 and sep.isascii() and sep not in ' "\r\n':
        shape = _scan_bytes(text, sep)
        if shape is not False:
            return shape
    with _long_fields():
        if len(sep) == 1:
            return _scan_records(csv.reader(io.StringIO(text, newline=""), delimiter=sep, skipinitialspace=True))
        # pandas reads a longer separator as a regular expression (python engine), each line stripped
        return _scan_records(_split_line(line, sep) for line in io.StringIO(text))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_TIME_LIKE = re.compile(r"\d{1,4}[-/:]\d{1,2}")  # 2024-01-01, 01/02/2024, 10:00: not t1, 1m or 1.5h


def _is_time_text(text: str) -> bool:
    """Whether a header name reads as a date or time (a data row's time), e.g. 2024-01-01 00:00."""
    if not _TIME_LIKE.search(text):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.notna(pd.to_datetime(text, errors="coerce"))


_DECIMAL_COMMA = re.compile(r"[-+]?\d*,\d+")
# the cells that pandas reads as missing, lowercased (nan and -nan are numbers to float())
MISSING_CELLS = {"#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "1.#ind", "1.#qnan", "<na>", "n/a", "na", "null",
                 "none"}


LINE_BREAKS = re.compile(r"\s*[\r\n]\s*")  # a line break in a quoted name, with the spaces around it


def _column_name(name: str) -> str:
    """A header name as read: stripped, a line break inside it (a spreadsheet cell's, Alt+Enter) a space, and a
    no-break space (U+00A0, U+202F, as a French export writes one before a unit) a space. The config's names of
    columns read so too, so that a name typed with a space, or copied with the file's line break, names it."""
    return LINE_BREAKS.sub(" ", name.strip()).replace("\u00a0", " ").replace("\u202f", " ")


def _config_names(names: list[str] | None, key: str) -> list[str] | None:
    """The column names a config lists under ``key``, read as header names are (`_column_name`)."""
    if names is None:
        return None
    read = [_column_name(n) for n in names]
    dup = next((n for k, n in enumerate(read) if n in read[:k]), None)
    if dup is not None:
        raise DataError(f"dataset: {key} lists {dup!r} twice (line breaks and no-break spaces in a name read as "
                        "spaces)")
    return read


def _check_header(path: Path, shape: _Shape, sep: str) -> list[str]:
    """The header's names (stripped); one line on duplicate names, a missing header, or rows with
    data in more fields than the header has."""
    first = shape.header
    header = [_column_name(h) for h in first]
    named = [h for h in header if h]
    def number(h: str) -> bool:  # 12.5, or 12,5 as a European export writes it
        return _is_number(h) or bool(_DECIMAL_COMMA.fullmatch(h))

    def missing(h: str) -> bool:  # a cell that pandas reads as missing (n/a, NULL, #N/A), as a data row holds
        return h.lower() in MISSING_CELLS

    # pandas' default names 0, 1, ..., or its index's empty name before whole numbers (columns labelled by ids, as
    # pandas writes them): a header of numbers
    index_names = header == [str(k) for k in range(len(header))] \
        or (len(header) > 1 and header[0] == "" and all(h.isascii() and h.isdigit() for h in header[1:]))
    dates = [h for h in named if not number(h) and not missing(h) and _is_time_text(h)]
    plain = [h for h in named if number(h)]
    gaps = [h for h in named if missing(h)]
    # numbers, or times and numbers, with empty or missing cells among them: a row of data
    numbers = plain and not index_names and len(plain) + len(gaps) == len(named)
    if numbers or (dates and plain and len(dates) + len(plain) + len(gaps) == len(named)):
        names = [repr(h) for h in named if not _is_time_text(h)]  # numbers and missing-value names (NA, n/a, null)
        rename = (f", or, if this row is the header, rename its columns {', '.join(names[:-1])} and {names[-1]}: a "
                  "header of numbers and names that read as missing values (NA, n/a, null) reads as a row of data"
                  if gaps and len(names) > 1 else "")
        raise DataError(f"{path}: the first row looks like data, not a header ({sep.join(first)[:80]}); "
                        f"add a header row naming the columns{rename}")
    for k, h in enumerate(header):
        if h and header.index(h) < k:
            raise DataError(f"{path}: the header names column {h!r} twice (columns {header.index(h) + 1} and "
                            f"{k + 1}, 1-based, counting spaces around names as nothing); rename one")
    if shape.extra:
        i, r = shape.extra[0]
        if len(header) == 1 and sep == "," and all(_DECIMAL_COMMA.fullmatch(",".join(r).strip())
                                                    for _, r in shape.extra[:SHOWN]):
            raise DataError(f"{path}: one column {header[0]!r}, but its values hold a comma (data row {i}, 0-based: "
                            f"{','.join(r)!r}): the decimal separator looks like a comma: add "
                            f"\"decimal\": \",\" to the dataset object")
        if len(header) == 1 and shape.n_extra == shape.rows:
            raise DataError(f"{path}: the first line ({sep.join(first)[:60]!r}) has one field and every "
                            f"other line more: is it a title or comment? The header (the column names) must be "
                            f"the first line")
        raise DataError(f"{path}: {shape.n_extra} data row(s) have more fields than the header: data row {i} "
                        f"(0-based) has {len(r)} fields, the header {len(header)} (extra: "
                        f"{', '.join(repr(f) for f in r[len(header):][:3])}; rows {_rows([j for j, _ in shape.extra])}); "
                        f"name every column in the header, or check the separator ({sep!r}) and that numbers "
                        f"have no decimal comma")
    return header


def _engine(sep: str, thousands: str | None) -> str:
    """pandas' reader for these separators: its C reader takes one ASCII byte each; a longer ``sep`` (a regular
    expression), or a non-ASCII one (§, or a thousands no-break space), needs the python reader."""
    ascii_byte = all(len(c) == 1 and c.isascii() for c in (sep, thousands) if c is not None)
    return "c" if ascii_byte else "python"


BLANK_LINE = re.compile(r"^[ \t]*(\r\n|\r|\n)", re.MULTILINE)  # a line of nothing but spaces (the last one, stripped, aside)
# the first bytes of compressed files (bzip2's "BZh", a block size and a block's or the stream end's magic number)
COMPRESSIONS = {"gzip": re.compile(b"\x1f\x8b"), "bzip2": re.compile(rb"BZh[1-9](?:1AY&SY|\x17rE8P\x90)"),
                "xz": re.compile(re.escape(b"\xfd7zXZ\x00")), "zstd": re.compile(re.escape(b"\x28\xb5\x2f\xfd"))}
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")  # of the compressions read: data.csv.gz holds data.csv
HEADER_LINE = re.compile(r"\s*[^\r\n]*")  # blank lines, then the header's line
# signs read as a minus before a number (−0.84, −.5) or an offset (−05:00), named as the note names them: the Unicode
# minus sign, the en dash a word processor makes of "-", and the full-width minus of East Asian input
MINUS_SIGNS = {"\u2212": "Unicode minus sign(s)", "\u2013": "en dash(es)", "\uff0d": "full-width minus sign(s)"}
# before a digit, or the decimal separator and a digit: a sign alone in its cell ("no value" in typeset tables) stays
UNICODE_MINUS = {decimal: re.compile(f"[{''.join(MINUS_SIGNS)}](?={re.escape(decimal)}?[0-9])") for decimal in ".,"}
EXCEL_SEP = re.compile(r'"?sep=([^\r\n"])"?[ \t]*(?:\r\n|\r|\n)')  # Excel's first line naming the separator


MARKUP = re.compile(r"\s*<(?:!doctype|html|\?xml|table|head|body|meta)\b", re.IGNORECASE)  # a web page, XML


def _json_file(text: str) -> bool:
    """Whether the text is a JSON array or object (a CSV's header starts with neither, and is no JSON)."""
    if text.lstrip()[:1] not in ("[", "{"):
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _quoted_number(text: str) -> bool:
    """Whether a quoted field reads as one number that holds a separator: a decimal comma (21,5) or digits grouped
    by three (1,234.5, 1.234,5 or 1 234,5), as a spreadsheet quotes them."""
    text = text.strip()
    return bool(_DECIMAL_COMMA.fullmatch(text)) or any(
        re.fullmatch(_grouped(thousands, decimal), text) for decimal in ".," for thousands in ",. '\u00a0\u202f"
        if thousands != decimal)


def _quoted_lines(text: str, sep: str) -> bool:
    """Whether the first lines are each one field in quotes that holds a separator ("time,a,b"), as an export that
    quotes whole lines writes them, and not every data line a number with a decimal comma or thousands separators
    ("21,5" or "1,234.5", one column), or with a unit ("1,013 hPa"). Only the first lines are split."""
    lines = list(itertools.islice((line.strip() for line in io.StringIO(text) if line.strip()), 6))
    fields = [_split_line(line, sep) for line in lines]
    return len(lines) > 1 and all(line.startswith('"') and len(f) == 1 and any(s in f[0] for s in SEPARATORS)
                                  for line, f in zip(lines, fields, strict=True)) \
        and not all(_quoted_number(f[0]) or WITH_UNIT.fullmatch(f[0].strip()) for f in fields[1:])


NO_BREAK_SPACES = "\u00a0\u202f"  # a spreadsheet's no-break and narrow no-break spaces, which pandas reads as text


def _strip_no_break_spaces(text: str, sep: str) -> str:
    """``text`` without the no-break spaces (and the spaces beside them) at the start or end of a field, inside its
    quotes too: pandas reads a number with one as text, where it reads one with an ordinary space as the number. One
    inside a field (1\u00a0234,5, as thousands) stays."""
    s, nb, any_space = re.escape(sep), f"[{NO_BREAK_SPACES}]", f"[ \t{NO_BREAK_SPACES}]*"
    text = re.sub(rf'(^|{s})([ \t]*"?){any_space}{nb}{any_space}', r"\1\2", text, flags=re.MULTILINE)
    return re.sub(rf'{any_space}{nb}{any_space}("?[ \t]*)(?={s}|\r?$)', r"\1", text, flags=re.MULTILINE)


def _read_csv(path: Path, sep: str | None, decimal: str = ".", thousands: str | None = None,
              text_column: str | None = None) -> tuple[pd.DataFrame, str]:
    """The file as text columns and numbers, and a note on what was dropped ("" if nothing); ``text_column`` is
    kept as text (times for a time_format, 000100 with its leading zeros)."""
    data = path.read_bytes()
    packed = next((k for k, magic in COMPRESSIONS.items() if magic.match(data)), None)
    if packed == "zstd":
        raise DataError(f"{path}: a zstd-compressed file, which is not read: decompress it (zstd -d) and give the CSV, "
                        "or compress it with gzip, bzip2 or xz, which are read")
    if packed:  # data.csv.gz, .bz2, .xz
        try:
            data = {"gzip": gzip, "bzip2": bz2, "xz": lzma}[packed].decompress(data)
        except (OSError, EOFError, ValueError, lzma.LZMAError) as e:
            raise DataError(f"{path}: a damaged {packed} file ({_one_line(e)})") from e
    elif data.startswith(b"PK\x03\x04"):
        raise DataError(f"{path}: a zip archive (or a spreadsheet such as .xlsx), not a CSV: unpack it, or save the "
                        "sheet as CSV, and give that file")
    try:
        # UTF-16 with its byte-order mark: what spreadsheet programs write as "Unicode text"
        text = data.decode("utf-16") if data.startswith((b"\xff\xfe", b"\xfe\xff")) else data.decode("utf-8-sig")
    except UnicodeDecodeError:  # a UTF-8 byte-order mark on text that is not UTF-8 is still no part of the header
        data = data.removeprefix(b"\xef\xbb\xbf")
        try:  # Windows-1252 (Excel's "ANSI" CSV: € is 0x80), else Latin-1, which any bytes are
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    del data  # decoded: the text alone is read from here on (a large file is not held twice)
    text = text.lstrip("\ufeff")  # a second byte-order mark, from a tool that put its own before the file's
    if "\x00" in text[:65536]:  # no CSV holds NUL: a binary file (a spreadsheet, say), or UTF-16 without its mark
        raise DataError(f"{path}: not a text CSV (it holds NUL bytes: a binary file such as a spreadsheet, or "
                        "UTF-16 text without its byte-order mark); save it as CSV, UTF-8")
    if "\r" in text and "\n" not in text:  # lines ended by a carriage return alone (Excel for Mac's older CSV): the
        text = text.replace("\r", "\n")  # blank lines below are found after a line feed
    notes = []
    excel = EXCEL_SEP.match(text)
    if excel:  # Excel's hint line before the header
        text = text[excel.end():]
        sep = sep or excel.group(1)
        notes.append(f"{path.name}: its first line, Excel's \"sep={excel.group(1)}\", names the separator and is left out")
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    what = "an HTML or XML file" if MARKUP.match(text) else "a JSON file" if _json_file(text) else None
    if what:  # a web application's "export to Excel", Excel's XML spreadsheet, or JSON, saved as .csv
        raise DataError(f"{path}: {what}, not a CSV: save the table as CSV (comma-separated values) and give that "
                        "file")
    if any(sign in text for sign in MINUS_SIGNS):  # typeset text and some locales' exports: -0.84 (after the header)
        header = HEADER_LINE.match(text).end()
        minus = UNICODE_MINUS.get(decimal, UNICODE_MINUS["."])
        counts = Counter(m.group() for m in minus.finditer(text, header))
        text = text[:header] + minus.sub("-", text[header:])
        notes += [f"{path.name}: {counts[sign]} {name} ('{sign}', U+{ord(sign):04X}) read as '-'"
                  for sign, name in MINUS_SIGNS.items() if counts[sign]]
    sep = sep or _sniff(text, avoid=decimal) or (";" if decimal == "," else ",")
    if len(sep) == 1 and sep not in NO_BREAK_SPACES and any(space in text for space in NO_BREAK_SPACES):
        text = _strip_no_break_spaces(text, sep)
    if len(sep) == 1 and sep not in " \r\n":
        # rows of empty fields after the last row (,, where a spreadsheet's cells below the data were once touched):
        # no rows, as blank lines there are none
        end = len(text.rstrip(sep + " \t\r\n"))
        tail = re.search(r"[\r\n]", text[end:])
        if tail:
            empty = sum(sep in line for line in text[end + tail.start():].splitlines())
            if empty:
                text = text[:end + tail.start()] + "\n"
                notes.append(f"{path.name}: {empty} row(s) of empty fields after the last row left out")
    try:
        shape = _scan(text, sep)
    except csv.Error as e:
        raise DataError(f"{path}: cannot parse as CSV with separator {sep!r} ({_one_line(e)})") from e
    if shape is None:
        raise DataError(f"{path}: the file is empty")
    if len(shape.header) == 1:
        # a file of one column writes an empty cell as a blank line: a missing value, where pandas would skip the
        # line and move every later row up one place (the time, without time_column, and row-number labels);
        # blank lines before the header and after the last row are no rows
        filled = BLANK_LINE.sub(r"NaN\1", text.strip())
        if filled != text.strip():
            text, shape = filled, _scan(filled, sep)
    else:
        blank = len(BLANK_LINE.findall(text.strip())) if '"' not in text else 0  # a quoted field may hold blank lines
        if blank:  # pandas skips them: say so, since the rows that messages and outputs name do not count them
            notes.append(f"{path.name}: {blank} blank line(s) between rows left out (row numbers count the rows "
                         "without them)")
    if len(shape.header) == 1 and shape.rows and _quoted_lines(text, sep):
        raise DataError(f"{path}: every line is one quoted field ({shape.header[0][:60]!r}): the quotes around each "
                        "line hide its separators; remove them")
    if len(shape.header) == 1 and shape.rows and shape.n_extra == shape.rows:  # a header of one field, rows of more
        other = _sniff(text, avoid=decimal, alike=True)
        if other is not None and other != sep:  # another separator splits every line alike: not a title line
            raise DataError(f"{path}: the header ({shape.header[0][:60]!r}) reads as one column: the file seems "
                            f"separated by {other!r}, not by the dataset's sep {sep!r} (leave sep out to detect it)")
    header = _check_header(path, shape, sep)
    trailing = shape.trailing
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)  # the empty extra fields, checked above
            # rows with empty fields beyond the header's (a trailing separator on some rows): read the
            # header's columns only (pandas stops at the first such row otherwise)
            # from the text's UTF-8 bytes: an io.StringIO holds 4 bytes a character
            df = pd.read_csv(io.BytesIO(text.encode("utf-8")), encoding="utf-8", sep=sep, skipinitialspace=True,
                             index_col=False,
                             decimal=decimal, thousands=thousands, usecols=range(len(header)) if trailing else None,
                             engine=_engine(sep, thousands),
                             converters={header.index(text_column): str} if text_column in header else None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as e:
        raise DataError(f"{path}: cannot parse as CSV with separator {sep!r} ({_one_line(e)})") from e
    if thousands is not None:
        df = _ungrouped_as_text(df, text, sep, decimal, thousands)
    if len(df.columns) == len(header):
        df.columns = [h or str(c).strip() for h, c in zip(header, df.columns, strict=True)]
    else:
        df.columns = [_column_name(str(c)) for c in df.columns]
    broken = [_column_name(h) for h in shape.header if LINE_BREAKS.search(h.strip())]
    if broken:
        notes.append(f"{path.name}: the line breaks in column name(s) {', '.join(map(repr, broken))} read as spaces")
    if trailing:
        notes.append(f"{path.name}: the empty last field of {trailing} row(s) (a trailing {sep!r}) left out")
    return df, "; ".join(notes)


def _require_column(f: _File, column: str, what: str) -> None:
    if column not in f.df.columns:
        raise DataError(f"{f.path}: missing {what} {column!r}{_suggest(column, f.df.columns)} "
                        f"(columns: {_names(f.df.columns)}){_one_column_hint(f)}")


def _one_column_hint(f: _File) -> str:
    """Why a header may read as one column whose name holds the others: the file is split by another separator than
    ``sep``, or by spaces, which are not detected; "" otherwise."""
    if len(f.df.columns) != 1 or _percentages(f.df.iloc[:, 0]) or _units(f.df.iloc[:, 0]):  # one column rightly
        return ""
    name = str(f.df.columns[0])
    other = next((s for s in (",", ";", "\t", "|") if s in name), None)
    if other:
        return (f"; the header reads as one column: the file seems separated by {other!r}, not by the dataset's sep "
                "(leave sep out to detect it)")
    if re.search(r"\S +\S", name):
        return "; the header reads as one column: the file seems separated by spaces, which are not detected: give " \
               "\"sep\": \" \""
    return ""


def _numeric_like(col: pd.Series, decimal: str = ".", thousands: str | None = None) -> bool:
    """Whether at least half of the values present read as numbers (with the dataset's decimal and thousands)."""
    if is_bool_dtype(col) or is_numeric_dtype(col):
        return True
    present = col.dropna()
    return len(present) > 0 and (~np.isnan(_as_float(present, decimal, thousands))).mean() >= 0.5


_GROUPED = re.compile(r"[-+]?[1-9]\d{0,2}(?:,\d{3})+")  # thousands by comma: no leading 0 (0,013 is a decimal)


def _fraction_columns(df: pd.DataFrame) -> set:
    """The numeric columns of ``df`` that hold fractions (for ``_fractions_elsewhere``, read once per file)."""
    out = set()
    for c in df.columns:
        if is_float_dtype(df[c]):
            v = df[c].to_numpy(dtype=np.float64, na_value=np.nan)
            v = v[np.isfinite(v)]
            if (v != np.round(v)).any():
                out.add(c)
    return out


def _fractions_elsewhere(df: pd.DataFrame, column: str, fractions: set | None = None) -> bool:
    """Whether a numeric column other than `column` holds fractions: then the file's numbers use the
    decimal separator they were read with, and another one is not suggested. ``fractions``: the file's
    ``_fraction_columns``, when read already."""
    return bool((_fraction_columns(df) if fractions is None else fractions) - {column})


def _grouped(thousands: str, decimal: str) -> str:
    """A number written with ``thousands`` between groups of three digits after a first group without a
    leading 0 (1.234,5 or 12.345 for ".", never 0.013 or a date such as 01.01.2015)."""
    return rf"[-+]?(?:0|[1-9]\d{{0,2}}(?:{re.escape(thousands)}\d{{3}})*)(?:{re.escape(decimal)}\d+)?"


def _ungrouped_as_text(df: pd.DataFrame, text: str, sep: str, decimal: str, thousands: str) -> pd.DataFrame:
    """``df`` with each column that pandas read as numbers by dropping ``thousands`` from values that hold it
    outside groups of three (a date 01.01.2015 as 1012015 under "thousands": ".") put back as its text."""
    numeric = [c for c in df.columns if is_numeric_dtype(df[c]) and not is_bool_dtype(df[c])]
    if not numeric:
        return df
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.ParserWarning)  # empty extra fields, as in _read_csv
        # as _read_csv reads it (its UTF-8 bytes: a carriage return alone ends a line there, as in the C reader)
        raw = pd.read_csv(io.BytesIO(text.encode("utf-8")), encoding="utf-8", sep=sep, skipinitialspace=True,
                          index_col=False, dtype=str, usecols=range(len(df.columns)), engine=_engine(sep, thousands))
    df = df.copy()
    for k, c in enumerate(df.columns):
        if c not in numeric:
            continue
        values = raw.iloc[:, k].dropna().str.strip()
        held = values[values.str.contains(thousands, regex=False)]
        if not held.str.fullmatch(_grouped(thousands, decimal)).all():
            df[c] = raw.iloc[:, k]
    return df


def _other_numbers(values: pd.Series, decimal: str, thousands: str | None, decimal_fixed: bool = False
                   ) -> str | None:
    """The settings (e.g. '"decimal": ","') that differ from the dataset's and under which text values
    read as numbers (at least half of them, as `_numeric_like`); None if there are none. Another
    decimal separator only if not ``decimal_fixed`` (other columns read with this one); a thousands
    separator other than the dataset's only if every value with digits is written in groups of three
    (1 234 567.5, or up to three digits) and some value holds it."""
    text = values.dropna().astype(str).str.strip()
    text = text[text != ""]
    if text.empty:
        return None
    comma = text.str.contains(",", regex=False).any()
    dot = text.str.contains(".", regex=False).any()
    if comma and dot:  # the later of the two separates the decimals
        first = "." if (text.str.rfind(".") > text.str.rfind(",")).mean() >= 0.5 else ","
        candidates = [(first, "," if first == "." else ".")]
    elif comma or dot:
        first = "," if comma else "."
        candidates = [(first, None), ("." if comma else ",", first)]
    else:
        first = "."
        candidates = []
    candidates += [(d, t) for d in (first, "," if first == "." else ".") for t in (" ", "'", "\u00a0", "\u202f")]
    digits = text.str.contains(r"\d")
    for dec, thou in candidates:
        if dec == decimal and thou in (None, thousands):  # the dataset's own reading, or one that reads less
            continue
        if dec != decimal and decimal_fixed:
            continue
        if thou is not None and thou != thousands:  # a new thousands separator: only if it groups by three
            # digits in groups of three after a first group without a leading 0 (0,013 is not 13)
            if not (text.str.contains(thou, regex=False).any()
                    and text[digits].str.fullmatch(_grouped(thou, dec)).all()):
                continue
        t = text.str.replace(thou, "", regex=False) if thou else text
        t = t.str.replace(",", ".", regex=False) if dec == "," else t
        if pd.to_numeric(t, errors="coerce").notna().mean() >= 0.5:
            parts = [f'"decimal": "{dec}"'] * (dec != decimal)
            if thou is not None and thou != thousands:
                parts.append(f'"thousands": {json.dumps(thou)}')  # a no-break space as "\u00a0"
            elif thou is None and thousands == dec:
                parts.append('no "thousands"')
            setting = ", ".join(parts)
            if (dec, thou) == (",", None) and text.map(lambda v: bool(_GROUPED.fullmatch(v))).all():
                setting += ' (or "thousands": "," if the comma groups thousands)'
            return setting
    return None


PERCENT = re.compile(r"[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)\s*%")  # 12%, 4.5 %, 0,5%


def _percentages(values: pd.Series) -> str | None:
    """A value such as '12%' when at least half of the values with text are percentages, else None."""
    text = values.dropna().astype(str).str.strip()
    text = text[text != ""]
    hits = text[text.str.fullmatch(PERCENT.pattern)]
    return hits.iloc[0] if len(text) and len(hits) >= 0.5 * len(text) else None


def _percent_advice(example: str) -> str:
    return (f"percentages such as {example!r}: write them without the % sign (e.g. {example.rstrip('% ')}) to read "
            "the column as numbers")


UNIT_NUMBER = r"[-+]?(?:\d+(?:[.,' \u00a0\u202f]\d+)*|[.,]\d+)"  # 21.5, 1,013, 1 013,25, .5
CURRENCY = "$€£¥"
# a number with a unit after it (21.5 °C, 1,013 hPa, 12 m/s, 3.2kWh, 5 €) or a currency sign before it ($12.50): a
# unit starts with a letter (or a degree sign), holds no separator, and a second word may follow (12 m s-1); a date
# (12 Jan 2020, 12 Jan) nor an ordinal (2nd) is none
NOT_UNITS = (r"(?!(?i:(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
             r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|st|nd|rd|th)\.?)$)")
WITH_UNIT = re.compile(rf"[{CURRENCY}]\s*(?P<n>{UNIT_NUMBER})|(?P<m>{UNIT_NUMBER})\s*{NOT_UNITS}"
                       rf"(?:(?:[°º]\s*)?[^\W\d_][^\s,;|]*(?:\s+[^\W\d_][^\s,;|]*)?|[{CURRENCY}])")


def _units(values: pd.Series) -> tuple[int, str, str] | None:
    """The first value with a unit (its data row, the value, and the number in it) when at least half of the values
    with text are numbers with a unit (21.5 °C), as `_percentages` reads percentages; else None."""
    text = values.dropna().astype(str).str.strip()
    text = text[text != ""]
    hits = text[text.str.fullmatch(WITH_UNIT.pattern)]
    if not len(text) or len(hits) < 0.5 * len(text):
        return None
    m = WITH_UNIT.fullmatch(hits.iloc[0])
    return _whole(hits.index[0]), hits.iloc[0], m.group("n") or m.group("m")


def _unit_advice(found: tuple[int, str, str]) -> str:
    row, example, number = found
    return (f"values with a unit such as {example!r} (data row {row}, 0-based): write the numbers alone (e.g. "
            f"{number}), the unit in the column's name, to read the column as numbers")


def _default_columns(df: pd.DataFrame, exclude: set[str], path: Path, decimal: str = ".",
                     thousands: str | None = None) -> tuple[list[str], list[str]]:
    """Numeric columns not excluded, and the skipped ones with why (for the note). A text column that
    reads as numbers under another decimal or thousands separator is an error, not left out."""
    chosen, skipped = [], []
    fractions = None  # the columns that hold fractions: read at the first text column, for every one
    for number, c in enumerate(df.columns, 1):
        if c in exclude:
            continue
        col = df[c]
        if c.startswith("Unnamed: ") or not c:  # pandas names a column without a header "Unnamed: <k>"
            skipped.append(f"column {number} (no header)")
        elif col.isna().all():
            skipped.append(f"{c!r} (empty)")
        elif _numeric_like(col, decimal, thousands):
            chosen.append(c)
        else:
            fractions = _fraction_columns(df) if fractions is None else fractions
            setting = _other_numbers(col, decimal, thousands, _fractions_elsewhere(df, c, fractions))
            if setting:
                shown = ", ".join(repr(str(v).strip()) for v in col.dropna().iloc[:3])
                raise DataError(f"{path}: column {c!r} is not numeric as read (values {shown}, ...), but "
                                f"reads as numbers with {setting}: set that in the dataset object, or list the "
                                f"column in ignore_columns")
            percent, units = _percentages(col), _units(col)
            skipped.append(f"{c!r} (not numeric: {_percent_advice(percent)})" if percent else
                           f"{c!r} (not numeric: {_unit_advice(units)})" if units else f"{c!r} (not numeric)")
    return chosen, skipped


def _no_value_column_hint(df: pd.DataFrame, time_col: str | None, label_col: str | None, ignore: list[str],
                          skipped: list[str]) -> str:
    """Why no column of ``df`` is a value column: those in ignore_columns and those ``skipped`` (text, empty), else
    the time and label columns as the only ones (value_columns could name neither)."""
    ignored = [c for c in df.columns if c in ignore and c not in (time_col, label_col)]
    left = [f"{c!r} (ignore_columns)" for c in ignored] + skipped
    if left:
        numbers = any(_numeric_like(df[c]) for c in ignored)
        return f"; left out: {_names(left)}" + (": take the columns of values out of ignore_columns" * numbers)
    taken = [f"{c!r} is the time_column" for c in [time_col] if c in df.columns]
    taken += [f"{c!r} {'' if taken else 'is '}the labels.column" for c in [label_col] if c in df.columns]
    return (f"; {' and '.join(taken)}, and the file holds no other column: add the columns of values to detect "
            "anomalies in")


def _as_float(col: pd.Series, decimal: str = ".", thousands: str | None = None) -> np.ndarray:
    """The column as float64, NaN where a value is no number; a text column (one that pandas did not read as numbers,
    for a text cell among them) read with the dataset's decimal and thousands separators as pandas reads them."""
    if is_bool_dtype(col):
        col = col.astype("float64")
    elif not is_numeric_dtype(col):
        if decimal == "," or thousands is not None:
            text = col.astype("string").str.strip()
            if thousands is not None:  # only between groups of three digits, as `_ungrouped_as_text` keeps them
                grouped = text.str.fullmatch(_grouped(thousands, decimal)).fillna(False).astype(bool)
                text = text.where(~grouped, text.str.replace(thousands, "", regex=False))
            if decimal == ",":  # pd.to_numeric reads "." as the decimal point: "1.010" would become 1.01, not 1010
                text = text.str.replace(",", ".", regex=False).where(~text.str.contains(".", regex=False))
            col = text
        col = pd.to_numeric(col, errors="coerce")
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


def _collapsed(col: pd.Series, where: str) -> None:
    """One line if ``col`` holds whole numbers above 2**53 that float64, which keeps 53 bits, reads as one number
    (2**60 and 2**60 + 1): they would be read as equal. Such numbers that stay apart are read as they round."""
    if not is_integer_dtype(col) or is_bool_dtype(col):
        return
    whole = col.dropna().to_numpy()
    if not whole.size or (whole.max() <= 2**53 and whole.min() >= -(2**53)):  # float64 holds each exactly
        return
    whole = np.unique(whole)
    read = whole.astype(np.float64)
    same = np.flatnonzero(read[1:] == read[:-1])
    if same.size:
        a, b = whole[same[0]], whole[same[0] + 1]
        raise DataError(f"{where} holds whole numbers above 2**53 that float64 cannot tell apart: {a} and {b} both read "
                        f"as {float(a)!r} ({whole.size} distinct numbers read as {np.unique(read).size}); subtract "
                        "an offset (such as the first one) from them in the file")


def _values(f: _File, channels: list[str], decimal: str = ".", thousands: str | None = None) -> np.ndarray:
    values = np.empty((len(f.df), len(channels)), np.float64)
    bad_cols = []
    for k, c in enumerate(channels):
        _collapsed(f.df[c], f"{f.path}: column {c!r}")
        values[:, k] = _as_float(f.df[c], decimal, thousands)
        if not np.isfinite(values[:, k]).all():
            bad_cols.append(k)
    if bad_cols:
        k = bad_cols[0]
        c = channels[k]
        bad = np.flatnonzero(~np.isfinite(values[:, k]))
        also = f" (also in {_names(repr(channels[j]) for j in bad_cols[1:])})" if bad_cols[1:] else ""
        shown = [_fmt(f.df[c].iloc[i]) for i in bad[:SHOWN]]
        setting = _other_numbers(f.df[c].iloc[bad], decimal, thousands, _fractions_elsewhere(f.df, c))
        percent = _percentages(f.df[c].iloc[bad])
        units = _units(f.df[c].iloc[bad])
        present = f.df[c].dropna().astype(str).str.strip()
        times = bad.size == len(values) and len(present) and _parse_datetimes(present.iloc[:SHOWN]).notna().all()
        hint = (f"; they read as numbers with {setting}: set that in the dataset object" if setting else
                f"; they are {_percent_advice(percent)}" if percent else
                f"; they are {_unit_advice(units)}" if units else
                "; it holds times, not numbers: give it as time_column, or leave it out" if times else
                "; no row of it holds a number: leave it out" if bad.size == len(values) else
                "; fill or remove those rows, or leave the column out")
        hint += " of the channels (ignore_columns, or value_columns without it)" * (not (setting or percent or units))
        raise DataError(f"{f.path}: column {c!r} has {bad.size} non-numeric, missing or infinite value(s) "
                        f"at data row(s) {_rows(bad)} (0-based; values {', '.join(shown)}){also}{hint}")
    return values


ZONE = r"(?!(?:AM|PM)$)[A-Z]{2,5}|[A-Za-z_]+(?:/[A-Za-z_+-]+)+"  # a time-zone name (CET, Europe/Berlin), not AM/PM
# after a time of day (10:00, 10:00:00.5 or 10:00:00,5, or after a T or a space as ISO 8601's basic form writes it,
# T100000 or 20240301 100000, or the hour alone, T10): an offset, or a zone name (which only a time_format with %Z reads)
UTC_OFFSET = re.compile(rf"(?:\d{{2}}:\d{{2}}(?::\d{{2}})?|(?:T|\s)\d{{2}}(?:\d{{2}}){{0,2}})(?:[.,]\d+)?\s*"
                        rf"(?:Z|UTC|GMT|[+-]\d{{1,2}}(?::?\d{{2}})?|{ZONE})$")
ZERO_OFFSET = re.compile(r"(?:Z|UTC|GMT|[+-]0{1,2}(?::?00)?)\s*$")  # times already in UTC
# an offset after UTC or GMT (UTC+1, GMT-05:00): pandas reads some of these forms the wrong way round (UTC+1 as an
# hour behind UTC), others right, and UTC +1 as UTC
NAMED_OFFSET = re.compile(r"(?:UTC|GMT)\s*([+-])(\d{1,2})(?::?(\d{2}))?\s*$", re.IGNORECASE)
# a time of day followed by a time-zone name (CET, Europe/Berlin), which pandas does not read
ZONE_NAME = re.compile(rf"\d{{1,2}}:\d{{2}}(?::\d{{2}}(?:[.,]\d+)?)?\s*({ZONE})$")


def _refuse_named_offsets(values, where: str) -> None:
    """One line for times written with an offset after UTC or GMT, which pandas may read with the wrong sign."""
    values = [str(v).strip() for v in values]
    if not any(name in "\n".join(values).upper() for name in ("UTC", "GMT")):  # none can hold one: no search a value
        return
    value = next((v for v in values if NAMED_OFFSET.search(v)), None)
    if value is None:
        return
    m = NAMED_OFFSET.search(value)
    alone = f"{value[:m.start()].rstrip()}{m[1]}{int(m[2]):02d}:{m[3] or '00'}"
    raise DataError(f"{where} {value!r} writes its UTC offset after UTC or GMT, which is read the wrong way round in "
                    f"some forms (UTC+1 as an hour behind UTC): write the offset alone, e.g. {alone!r}")


def _zone_name_hint(value) -> str:
    """How to write times that end in a time-zone name (CET, Europe/Berlin); "" for other values."""
    m = ZONE_NAME.search(str(value).strip())
    if m is None:
        return ""
    return (f"; {m[1]!r} reads as a time-zone name, which is not read (only UTC, GMT and Z are): write each time with "
            f"its UTC offset instead, e.g. {str(value).strip()[:m.start(1)].rstrip() + '+01:00'!r} for a time "
            "one hour ahead of UTC (CET), or convert the times to UTC")


def _parse_datetimes(values) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = None
        for fmt in (None, "mixed"):
            try:
                kw = {} if fmt is None else {"format": fmt}
                parsed = pd.Series(pd.to_datetime(pd.Series(values), errors="coerce", utc=True, **kw))
            except (ValueError, TypeError, OverflowError):
                continue
            if parsed.notna().all():
                break
    if parsed is None:
        parsed = pd.Series(pd.NaT, index=range(len(values)), dtype="datetime64[ns, UTC]")
    return parsed.dt.tz_localize(None)


_DMY = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})((?:[\sT].*)?)", re.S)


def _strptime(values, fmt: str, strict: bool = False) -> pd.Series | None:
    """Times of text values read with one strptime format (NaT where one does not fit); None if
    pandas cannot use the format, or with ``strict`` a one-line error (a user's ``time_format``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.Series(pd.to_datetime(pd.Series(values, dtype=object), format=fmt, errors="coerce",
                                              utc=True))
        except (ValueError, TypeError, OverflowError) as e:
            if strict:
                raise DataError(f"dataset: time_format {fmt!r} is not a date format such as "
                                f"\"%d/%m/%Y %H:%M\" ({_one_line(e)})") from e
            return None
    return parsed.dt.tz_localize(None)


def _dmy_fast(values, first: re.Match, dayfirst: bool | None
              ) -> tuple[pd.Series, dict[bool, pd.Series]] | None:
    """`_parse_times` for n/n/year dates written as the first one is (one strptime format for the
    column): one parse, a second only when both readings fit every date; None where that does not
    settle it (other layouts, a time-zone offset, dates that fit neither way): `_dmy_readings` then."""
    rest = ""
    if first[5]:  # the time part's format, as pandas guesses it after an ISO date
        iso = guess_datetime_format("2000-01-01" + first[5])
        if iso is None or not iso.startswith("%Y-%m-%d") or "%z" in iso or "%Z" in iso:
            return None
        rest = iso[len("%Y-%m-%d"):]
    s, y = first[2], "%Y" if len(first[4]) == 4 else "%y"
    formats = {True: f"%d{s}%m{s}{y}{rest}", False: f"%m{s}%d{s}{y}{rest}"}
    if dayfirst is not None:
        parsed = _strptime(values, formats[dayfirst])
        return (parsed, {}) if parsed is not None and parsed.notna().all() else None
    # try first the reading that a sample of the dates points to (a first number over 12: day first)
    sample = [_DMY.fullmatch(str(v).strip()) for v in values[::max(1, len(values) // 1000)]]
    order = (True, False) if any(m and int(m[1]) > 12 for m in sample) else (False, True)
    for k in order:
        parsed = _strptime(values, formats[k])
        if parsed is None or parsed.isna().any():
            continue
        # dates a/b/year read with day a, month b (or the other way) read the other way too if
        # every day is at most 12 (the other reading's month); the same dates if day == month
        day = parsed.dt.day
        if (day > 12).any():
            return parsed, {k: parsed}
        if k != order[0]:  # the other reading should have fitted: not one layout
            return None
        if (day == parsed.dt.month).all():
            return parsed, {}
        other = _strptime(values, formats[not k])
        if other is None or other.isna().any():
            return None
        fits = {k: parsed, not k: other}
        return fits[True], {True: fits[True], False: fits[False]}
    return None


def _mixed_layouts(values, dayfirst: bool | None) -> pd.Series:
    """Times of a column that writes some dates n/n/year and others another way (ISO, say): pandas reads each, and
    the n/n/year ones as ``dayfirst`` says when it is given (pandas' own dayfirst would turn 2024-04-01 into 4 January
    too)."""
    parsed = _parse_datetimes(values)
    if dayfirst is None:
        return parsed
    text = pd.Series(values, dtype=object).astype(str).str.strip()
    dmy = text.str.fullmatch(_DMY).to_numpy(bool)
    if dmy.any():
        times = parsed.to_numpy(copy=True)
        times[dmy] = _parse_datetimes(_dmy_readings(text[dmy].tolist())[dayfirst]).to_numpy()
        parsed = pd.Series(times, index=parsed.index)
    return parsed


def _dmy_readings(values) -> dict[bool, list[str | None]] | None:
    """For dates written n/n/year (or with '.' or '-'): each value as ISO text read day first (True) and
    month first (False), None where it does not fit that reading; None unless every value has that shape."""
    text = pd.Series(values, dtype=object).astype(str).str.strip()
    if not len(text) or not text.str.fullmatch(_DMY).all():
        return None
    parts = text.str.extract(_DMY)
    a, b, y = (parts[k].astype(np.int64) for k in (0, 2, 3))
    year = (y + np.where(y < 69, 2000, 1900)).where(parts[3].str.len() == 2, y)  # as strptime's %y
    year = year.astype(str).str.zfill(4) + "-"
    out = {}
    for dayfirst in (True, False):
        day, month = (a, b) if dayfirst else (b, a)
        iso = year + month.astype(str).str.zfill(2) + "-" + day.astype(str).str.zfill(2) + parts[4]
        out[dayfirst] = iso.where((month >= 1) & (month <= 12), None).tolist()
    return out


def _parse_times(values, dayfirst: bool | None, time_format: str | None
                 ) -> tuple[pd.Series, dict[bool, pd.Series]]:
    """Times of text values (NaT where one is not a time), and, for n/n/year dates, the readings that fit
    every value ({dayfirst: times}; both only when they differ and ``dayfirst`` is None: the caller
    chooses or stops; {} for other dates)."""
    if time_format is not None:
        return _strptime(values, time_format, strict=True), {}
    first = _DMY.fullmatch(str(values[0]).strip()) if len(values) else None
    if first is None:  # not n/n/year dates (ISO ones, say): no regular expression on every value
        return _parse_datetimes(values), {}
    fast = _dmy_fast(values, first, dayfirst)
    if fast is not None:
        return fast
    readings = _dmy_readings(values)
    if readings is None:
        return _mixed_layouts(values, dayfirst), {}
    parsed = {k: _parse_datetimes(v) for k, v in readings.items()}
    if dayfirst is not None:
        return parsed[dayfirst], {}
    fits = {k: p for k, p in parsed.items() if p.notna().all()}
    if not fits:  # neither fits every value: the one with fewer misfits, whose bad rows are named
        best = min(parsed, key=lambda k: int(parsed[k].isna().sum()))
        return parsed[best], {}
    if len(fits) == 2 and fits[True].equals(fits[False]):
        return fits[True], {}
    return next(iter(fits.values())), fits


def _reading(dayfirst: bool) -> str:
    return "day first (day/month/year)" if dayfirst else "month first (month/day/year)"


def _ambiguous(where: str, values, fits: dict[bool, pd.Series], why: str = "") -> DataError:
    i = int(np.flatnonzero((fits[True] != fits[False]).to_numpy())[0])
    value = str(values[i]).strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        written = guess_datetime_format(value, dayfirst=True)  # the format of the file's dates, day first
    fmt = f", or a \"time_format\" such as \"{written}\"" if written else ""
    return DataError(f"{where}: dates such as {value!r} read both day first "
                     f"({fits[True].iloc[i]:%d %b %Y}) and month first ({fits[False].iloc[i]:%d %b %Y}){why}: "
                     f"add \"dayfirst\": true (day/month/year) or false (month/day/year) to the dataset "
                     f"object{fmt}")


NUMBER_TIMES = "; give the times as numbers (e.g. years), or leave out time_column"


def _ns(parsed: pd.Series, where=None, fix: str = "") -> np.ndarray:
    """Times as int64 nanoseconds. pandas reads dates in microseconds, and a cast to nanoseconds wraps the years
    outside 1677-09-21 to 2262-04-11 silently (1600-01-01 to 2184): ``where`` (a function that gives, e.g.,
    "p.csv: time column 't' holds '1600-01-01' (data row 0)"
    for the row of a value) names the first such one in a line, followed by ``fix``."""
    out = ((parsed < pd.Timestamp.min) | (parsed > pd.Timestamp.max)).to_numpy()
    if out.any():
        raise DataError(f"{where(int(np.flatnonzero(out)[0]))}, outside the years 1678 to 2261 that times are held in{fix}")
    return parsed.to_numpy().astype("datetime64[ns]").astype(np.int64)


def _coarsest(ns: np.ndarray) -> np.ndarray:
    """datetime64 in the coarsest unit (s, ms, us, ns) that keeps every value."""
    for unit, step in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if (ns % step == 0).all():
            return (ns // step).astype(f"datetime64[{unit}]")
    return ns.astype("datetime64[ns]")


def _time(f: _File, column: str, strict: bool = True, dayfirst: bool | None = None,
          time_format: str | None = None) -> None:
    col = f.df[column]
    stripped = col.astype(str).str.strip()
    empty = col.isna().to_numpy() | (stripped == "").to_numpy()
    if empty.any():
        bad = np.flatnonzero(empty)
        raise DataError(f"{f.path}: time column {column!r} has {bad.size} missing value(s) (empty, or text such "
                        f"as NA, n/a, null) at data row(s) {_rows(bad)} (0-based)")

    def mostly_numbers() -> None:
        """One line if at least half the values are numbers (a numeric column with bad cells)."""
        numbers = pd.to_numeric(col, errors="coerce")
        bad = np.flatnonzero(numbers.isna().to_numpy())
        if bad.size and numbers.notna().mean() >= 0.5:  # all numbers: a time_format's text (20240101)
            raise DataError(f"{f.path}: time column {column!r} holds numbers, but {bad.size} value(s) are not "
                            f"numbers: data row(s) {_rows(bad)} (0-based; e.g. {_fmt(col.iloc[bad[0]])}); "
                            f"fix or remove those rows")

    # a text column whose first value is a number is checked before reading dates (converting a
    # million dates to numbers takes half a second); others only if some value is not a date
    text_col = not is_numeric_dtype(col) and not is_bool_dtype(col)
    if text_col and time_format is None and _is_number(stripped.iloc[0]):
        mostly_numbers()
    yyyymmdd = False
    if is_numeric_dtype(col) and not is_bool_dtype(col) and time_format is None:  # a time_format reads 20240101
        _collapsed(col, f"{f.path}: time column {column!r}")
        f.timestamps = col.to_numpy()
        f.timeline = col.to_numpy(dtype=np.float64)
        if yyyymmdd := _yyyymmdd(col):  # its month ends are no gaps
            f.notes.append(f"{f.path.name}: time column {column!r} holds numbers that read as dates written yyyymmdd "
                           f"(e.g. {_fmt(col.iloc[0])}): they are read as numbers; give \"time_format\": \"%Y%m%d\" to "
                           "read them as dates")
    else:
        text = stripped.to_numpy()

        def out_of_range(i: int) -> str:
            return f"{f.path}: time column {column!r} holds {str(text[i])!r} (data row {i})"
        if time_format is None:
            _refuse_named_offsets(text, f"{f.path}: time column {column!r}: a time such as")
            if _times_of_day(text):
                raise DataError(f"{f.path}: time column {column!r} holds times of day without a date (e.g. "
                                f"{str(text[0])!r}){TODAY}: write each time with its date (e.g. "
                                f"{'2024-03-01 ' + str(text[0])!r}), or leave out time_column to use the row order")
        parsed, fits = _parse_times(text, dayfirst, time_format)
        if len(fits) == 2:  # n/n/year dates that read both ways: the one way that gives increasing times,
            # else the one whose times never step back (a time may repeat, as time_order "file" allows)
            steps = {k: np.diff(_ns(p, out_of_range, NUMBER_TIMES)) for k, p in fits.items()}
            rising = [k for k in fits if (steps[k] > 0).all()]
            ordered = rising or [k for k in fits if (steps[k] >= 0).all()]
            if len(ordered) != 1:
                repeats = strict and not rising and len(np.unique(text)) < len(text)  # refused below, whatever the reading
                split = _join_time_of_day(f.df, column) if repeats else ""
                if split:  # dates of a day each, beside their times of day: reading them either way is not the fix
                    raise DataError(f"{f.path}: time column {column!r} repeats its dates (e.g. {str(text[0])!r}){split}")
                why = (", and neither gives increasing times" if not ordered
                       else ", and both give increasing times" if rising else ", and both give times in order")
                raise _ambiguous(f"{f.path}: time column {column!r}", text, fits, why)
            parsed, f.dayfirst = fits[ordered[0]], ordered[0]
            how = "increasing times" if rising else "times that never step back"
            f.notes.append(f"{f.path.name}: time column {column!r} read {_reading(f.dayfirst)}, the one reading "
                           f"with {how} (give \"dayfirst\" to say)")
        elif len(fits) == 1:
            f.dayfirst = next(iter(fits))
            f.notes.append(f"{f.path.name}: time column {column!r} read {_reading(f.dayfirst)}, the one reading "
                           f"that fits every date")
        elif dayfirst is not None:
            f.dayfirst = dayfirst
        bad = np.flatnonzero(parsed.isna().to_numpy())
        if bad.size:
            if text_col:
                mostly_numbers()
            if dayfirst is not None and time_format is None and _parse_times(text[bad], not dayfirst, None)[0].notna().all():
                raise DataError(f"{f.path}: time column {column!r} has {bad.size} date(s) that read only "
                                f"{_reading(not dayfirst)}, e.g. {str(text[bad[0]])!r} (data row {bad[0]}), while dayfirst "
                                f"is {str(dayfirst).lower()}: give \"dayfirst\": {str(not dayfirst).lower()}, or leave it out")
            what = ("that are neither dates nor numbers" if time_format is None
                    else f"that time_format {time_format!r} does not read")
            raise DataError(f"{f.path}: time column {column!r} has {bad.size} value(s) {what} "
                            f"at data row(s) {_rows(bad)} (0-based; e.g. "
                            f"{_fmt(col.iloc[bad[0]])}){_zone_name_hint(col.iloc[bad[0]])}")
        f.timeline = _ns(parsed, out_of_range, NUMBER_TIMES)
        f.timestamps = _coarsest(f.timeline)
        # one search a value (a million take a second or two): which hold an offset, and those that do, which not UTC's
        with_offset = np.fromiter((UTC_OFFSET.search(str(v)) is not None for v in text), bool, len(text))
        where = np.flatnonzero(with_offset)
        offset = text[where[0]] if where.size else None
        f.utc_offset = next((str(text[k]) for k in where if not ZERO_OFFSET.search(str(text[k]))), None)
        local = int(np.argmin(with_offset)) if f.utc_offset and not with_offset.all() else None
        if local is not None:  # read as UTC, it would land an offset away from its neighbours
            raise DataError(f"{f.path}: time column {column!r} mixes times with a UTC offset (e.g. {f.utc_offset!r}) "
                            f"and without one (data row {local}: {str(text[local])!r}); write every time with its "
                            "offset, or none")
        f.utc = offset is not None
        if f.utc:
            f.notes.append(f"{f.path.name}: time column {column!r} holds UTC offsets (e.g. {str(offset)!r}): every "
                           "time is converted to UTC, and the outputs' times (flagged_ranges.csv, figures) are UTC")
    steps = np.flatnonzero(np.diff(f.timeline) <= 0)
    if steps.size and not strict:
        back = int((np.diff(f.timeline) < 0).sum())
        repeated = len(f.timeline) - len(np.unique(f.timeline))
        how = [f"{back} step(s) back in time"] * bool(back) + [f"{repeated} repeated timestamp(s)"] * bool(repeated)
        f.disorder = f"{f.path.name}: {' and '.join(how)}, kept in file order (time_order file)"
    elif steps.size:
        i = int(steps[0]) + 1
        repeat = f.timeline[i] == f.timeline[i - 1]
        how = "repeats" if repeat else "is earlier than"
        repeated = len(f.timeline) - len(np.unique(f.timeline))
        split = _join_time_of_day(f.df, column) if repeated else ""
        fix = _clock_set_back(f, column, steps + 1) or (
            "Sort and de-duplicate the file, leave out time_column to use the row order, or give "
            f"\"time_order\": \"file\" to keep the file's order{split}")
        raise DataError(
            f"{f.path}: time column {column!r} is not strictly increasing: data row {i} "
            f"({_fmt(col.iloc[i])}) {how} row {i - 1} ({_fmt(col.iloc[i - 1])}); {steps.size} such step(s) "
            f"and {repeated} repeated timestamp(s) in all. {fix}")
    gaps = _gaps(f.timeline, f.timestamps is not None and np.issubdtype(f.timestamps.dtype, np.datetime64))
    if gaps and not yyyymmdd:
        count, rest = gaps
        f.notes.append(f"{f.path.name}: {count} gap(s) in time column {column!r} {rest}: the detectors read the rows "
                       "as evenly spaced")


HOUR_NS = 3600 * 10**9
DST_END_HOURS = (1, 2)  # the local hour that daylight saving time's end repeats (Europe: 02:00, America: 01:00) ...
DST_END_MONTHS = (3, 4, 9, 10, 11)  # ... and its months, in the southern and northern hemispheres


def _clock_set_back(f: _File, column: str, rows: np.ndarray) -> str:
    """For dated ``rows`` (each earlier than, or as early as, the row before) of which one starts the hour before it
    again, at the hour and in a month where daylight saving time ends: how to write such local times (sorting would
    interleave the two hours); "" otherwise."""
    if not np.issubdtype(f.timestamps.dtype, np.datetime64):
        return ""
    _, usual = gap_steps(f.timeline)
    back = f.timeline[rows - 1] - f.timeline[rows]
    month = f.timestamps[rows].astype("datetime64[M]").astype(np.int64) % 12 + 1
    when = np.isin((f.timeline[rows] // HOUR_NS) % 24, DST_END_HOURS) & np.isin(month, DST_END_MONTHS)
    hit = rows[(back + usual == HOUR_NS) & when]
    if not hit.size:  # (no usual step, NaN, matches nothing)
        return ""
    j = int(hit[0])
    text, minute = str(f.df[column].iloc[j]).strip(), int(f.timeline[j] // (60 * 10**9) % (24 * 60))
    return (f"Data row {j} ({text!r}) starts the hour before it again, as local times do where daylight saving time "
            f"ends: write each time with its UTC offset (e.g. {text + '+01:00'!r} for the second "
            f"{minute // 60:02d}:{minute % 60:02d} in "
            "Central European time) or in UTC, rather than sorting the rows, which would interleave the two hours; "
            "or leave out time_column to use the row order")


def _yyyymmdd(col: pd.Series) -> bool:
    """Whole numbers that all read as dates written yyyymmdd (20240101), as daily data often writes its dates."""
    if not is_integer_dtype(col) or not 10000101 <= col.iloc[0] <= 99991231 or not col.between(10000101, 99991231).all():
        return False
    return bool(_strptime(col.astype(str), "%Y%m%d").notna().all())


TIME_OF_DAY = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"  # 07:30, 7:30:15, 07:30:15.250


TODAY = ", which would be read as today's"  # as pandas dates a bare time of day


# a time of day alone, as pandas reads it (dated today, or year 1): 07:30, 1:00 PM, 1 PM, T07:30, 07:30+01:00
CLOCK = re.compile(rf"T?(?:{TIME_OF_DAY}(?:\s*[AaPp]\.?[Mm]\.?)?|\d{{1,2}}\s*[AaPp]\.?[Mm]\.?)"
                   r"\s*(?:Z|UTC|GMT|[+-]\d{1,2}(?::?\d{2})?)?")


def _times_of_day(text) -> bool:
    """Every value is a time of day alone (07:30), without a date; the first is checked before all."""
    return (len(text) > 0 and CLOCK.fullmatch(str(text[0]).strip()) is not None
            and pd.Series(text, dtype=object).astype(str).str.strip().str.fullmatch(CLOCK).all())


def _join_time_of_day(df: pd.DataFrame, time_column: str) -> str:
    """For dates that repeat beside a column of times of day (Datum;Uhrzeit): "; ..." asking to join the two, else ""."""
    clock = _time_of_day_column(df, time_column)
    if clock is None:
        return ""
    date, time = str(df[time_column].iloc[0]).strip(), str(df[clock].iloc[0]).strip()
    return (f"; column {clock!r} holds the times of day (e.g. {time!r}): join it to {time_column!r} in one column "
            f"(e.g. {f'{date} {time}'!r}) and give that as time_column")


def _time_of_day_column(df: pd.DataFrame, time_column: str) -> str | None:
    """Another column whose every value is a time of day (a date and its time in two columns), else None."""
    for c in df.columns:
        if c != time_column and not is_numeric_dtype(df[c]):
            text = df[c].astype("string").str.strip()
            if text.notna().all() and text.str.fullmatch(TIME_OF_DAY).all():
                return c
    return None


GAP_STEPS = 10  # a step between two rows over this many times the usual one is a gap, named in the note


def gap_steps(timeline: np.ndarray) -> tuple[np.ndarray, float]:
    """The steps (i: from row i to row i + 1) forward in time of over GAP_STEPS times the median step forward,
    and that median (times that repeat or step back are not steps forward; none is a gap with under two of
    them). Datetimes count in nanoseconds."""
    timeline = np.asarray(timeline)
    if np.issubdtype(timeline.dtype, np.datetime64):
        timeline = timeline.astype("datetime64[ns]").astype(np.int64)
    steps = np.diff(timeline)
    forward = steps[steps > 0]
    if forward.size < 2:
        return np.array([], dtype=int), float("nan")
    usual = float(np.median(forward))
    return np.flatnonzero(steps > GAP_STEPS * usual), usual


def _gaps(timeline: np.ndarray, dated: bool) -> tuple[int, str] | None:
    """How many steps forward in time exceed GAP_STEPS times the median one, and how large, the largest where."""
    gaps, usual = gap_steps(timeline)
    if not gaps.size:
        return None
    steps = np.diff(timeline)
    widest = int(gaps[np.argmax(steps[gaps])])
    size = _duration if dated else (lambda x: f"{_whole(float(x)):g}")
    return gaps.size, (f"of over {GAP_STEPS} times its usual step of {size(usual)} (the largest "
                       f"{size(steps[widest])}, after data row {widest})")


def _duration(ns: float) -> str:
    """A span of nanoseconds in days, hours, minutes and seconds, e.g. "2 h 40 min", "1 day" or "0.0001 s"."""
    rest = int(round(float(ns)))  # whole nanoseconds: a step of 100 µs is 0.0001 s, not 0 s
    parts = []
    for unit, length in (("day", 86400), ("h", 3600), ("min", 60)):
        count, rest = divmod(rest, length * 10**9)
        if count:
            parts.append(f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''}")
    if rest or not parts:
        parts.append(f"{rest / 1e9:g} s")
    return " ".join(parts)


def _label_column(f: _File, column: str) -> np.ndarray:
    col = f.df[column]
    num = _as_float(col)
    ok = (num == 0) | (num == 1)
    if not ok.all():
        bad = np.flatnonzero(~ok)
        found = []
        for v in col.tolist():
            s = _fmt(v)
            if s not in found:
                found.append(s)
        listed = ", ".join(found[:8]) + (", ..." if len(found) > 8 else "")
        sklearn = ("it holds -1 and 1 only, as scikit-learn writes outliers (-1) and inliers (1)? Then write 1 for -1 "
                   "and 0 for 1; else " if set(np.unique(num)) == {-1.0, 1.0} else "")
        raise DataError(f"{f.path}: label column {column!r} must hold only 0 and 1; found {listed} "
                        f"(not 0/1 at data row(s) {_rows(bad)}, 0-based): {sklearn}write 0 (normal) or 1 (anomalous) in "
                        "every row")
    return num == 1


# ----------------------------------------------------------------------------- labels from JSON


def _label_source(labels: dict, kind: str, base_dirs: list[Path], files: list[_File]):
    """A function file -> the raw label list for that file (or None), and the JSON path."""
    path = _resolve(labels[kind], base_dirs, f"labels.{kind}")
    unique = no_repeated_keys(lambda name: DataError(  # an emptied copy of an entry would drop the file's labels
        f"{path}: entry {name!r} is given twice; keep one (JSON would silently take the last)"))

    try:
        # bytes: UTF-8 with or without a byte-order mark, or UTF-16/32 with one (Notepad's "Unicode"), as JSON allows
        data = json.loads(path.read_bytes(), object_pairs_hook=unique)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON: {json_error(e)}") from e
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({_one_line(e)})") from e
    key = labels.get("key")
    if key is not None:
        if not isinstance(data, dict):
            raise DataError(f"{path}: labels.key {key!r} given, but the file holds a {type(data).__name__}, "
                            f"not an object")
        if key not in data:
            raise DataError(f"{path}: no entry {key!r}{_suggest(key, data)}")
        return path, (lambda f: (key, data[key]))
    if isinstance(data, list):
        return path, (lambda f: (None, data))
    if isinstance(data, dict):
        def per_file(f: _File):
            others = [g.path for g in files if g is not f]
            # the entries named like the file, but none whose folders name another data file (a/run.csv is not
            # b/run.csv's), while an entry whose folders name no data file is any file's of that name (NAB's)
            keys = [k for k in data if _names_file(_key_parts(k)[-1:], f.path) and (
                _names_file(_key_parts(k), f.path) or not any(_names_file(_key_parts(k), o) for o in others))]
            if len(keys) > 1:  # files of one name in several folders: the entry whose folders end the file's path
                keys = [k for k in keys if _names_file(_key_parts(k), f.path)] or keys
            if len(keys) > 1:
                raise DataError(f"{path}: several entries match {f.path.name} ({', '.join(keys)}); name each "
                                f"entry by the file's folder and name, e.g. "
                                f"{_entry_name(f.path, others)!r}, or give labels.key")
            if not keys and f.role != "train":
                namesake = any(_csv_name(o) == _csv_name(f.path) for o in others)
                shown = _entry_name(f.path, others) if namesake else f.path.name
                fix = f"add one named {shown!r} ([] for a file without anomalies)" if namesake else "give labels.key"
                raise DataError(f"{path}: no entry for {shown} (entries: {_rows(list(data), 3)}); {fix}")
            parts = _key_parts(keys[0]) if keys else ()
            namesakes = [f.path] + [o for o in others if _names_file(parts[-1:], o)]
            own = len(parts) > 1 and _names_file(parts, f.path)  # a folder of the file's, not just its name
            if len(namesakes) > 1 and (not own or any(_names_file(parts, o) for o in namesakes[1:])):
                # an entry that names no folder of the file, or only folders another file of its name is in too, would
                # be every such file's, whichever it was written for
                shown = [_entry_name(p, [o for o in namesakes if o != p]) for p in namesakes]
                which = (f"names {', '.join(shown[:-1])} and {shown[-1]} alike" if own else
                         f"names no folder of {shown[0]}, and {', '.join(shown[:-1])} and {shown[-1]} are files of one "
                         "name")
                raise DataError(f"{path}: entry {keys[0]!r} {which}: name each file's entry by its folder and name "
                                f"({', '.join(map(repr, shown))}; [] for a file without anomalies), or give labels.key "
                                "to use one entry for every file")
            return (keys[0], data[keys[0]]) if keys else None
        return path, per_file
    raise DataError(f"{path}: expected a list of {kind} or an object of such lists, got {type(data).__name__}")


def _csv_name(path: Path) -> str:
    """The file's name as a CSV: data.csv for data.csv.gz (.bz2, .xz, in any case: DATA.CSV.GZ), which is read through
    its decompressor."""
    suffix = next((s for s in COMPRESSED_SUFFIXES if path.name.lower().endswith(s)), "")
    return path.name[:len(path.name) - len(suffix)] or path.name


def csv_stem(path: Path | str) -> str:
    """The default name of a dataset or a test piece: the file's stem, plant for plant.csv and plant.csv.gz."""
    return Path(_csv_name(Path(path))).stem


def _entry_name(path: Path, others: list[Path]) -> str:
    """The entry to name a data file by in a labels file when other data files share its name: its folder and name,
    with as many more folders as it takes for no other data file to take that entry too."""
    for k in range(2, len(path.parts)):
        if not any(_names_file(path.parts[-k:], o) for o in others):
            return "/".join(path.parts[-k:])
    return "/".join(path.parts[-2:])


def _key_parts(key: str) -> tuple[str, ...]:
    """The folders and name of a label file's entry ("realKnownCause/x.csv", "a\\x.csv", "./x.csv")."""
    return tuple(part for part in key.replace("\\", "/").split("/") if part not in ("", "."))


def _names_file(parts: tuple[str, ...], path: Path) -> bool:
    """Whether an entry's folders and name end the file's path; the name as on disk (x.csv.gz) or as the CSV it
    holds (x.csv)."""
    return bool(parts) and parts[-1] in (path.name, _csv_name(path)) and (
        (*path.parts[:-1], parts[-1])[-len(parts):] == parts)


def _is_time(x) -> bool:
    """A label timestamp or window end as JSON gives it: a string or a finite number."""
    return (isinstance(x, str) and bool(x.strip())) or (
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x))


def _parse_stamps(stamps: list, f: _File, path: Path, has_time: bool, dayfirst: bool | None = None,
                  time_format: str | None = None, what: str = "label timestamps") -> np.ndarray:
    """Label timestamps (``what``) on the file's timeline (ns, numbers or row numbers: 20.0 is row 20, as in
    train_range); n/n/year dates are read as the file's time column was (else as ``dayfirst`` says; one line when
    they read both ways)."""
    if not has_time:
        stamps = [_whole(s) for s in stamps]
        if not all(_is_int(s) for s in stamps):
            bad = next(s for s in stamps if not _is_int(s))
            raise DataError(f"{path}: without time_column, {what} are 0-based row numbers; got {bad!r}"
                            + (": give time_column to read them as times" if isinstance(bad, str) else ""))
        big = next((s for s in stamps if not -2**63 <= s < 2**63), None)
        if big is not None:  # int64 cannot hold it (an OverflowError otherwise); no file has such a row
            raise DataError(f"{path}: label row number {big} is beyond the rows of {f.path.name} "
                            f"({_span(f)})")
        return np.asarray(stamps, np.int64)
    if f.timeline.dtype == np.float64:
        try:
            return np.asarray(stamps, np.float64)
        except (TypeError, ValueError) as e:
            dates = ("; its numbers read as dates written yyyymmdd: give \"time_format\": \"%Y%m%d\" to read them as "
                     "dates" if _yyyymmdd(pd.Series(f.timestamps)) else "")
            raise DataError(f"{path}: {what} must be numbers, as {f.path.name}'s time column "
                            f"({_one_line(e)}){dates}") from e
    text = [str(s) for s in stamps]
    _refuse_named_offsets(text, f"{path}: label time")
    local = next((t for t in text if not UTC_OFFSET.search(t.strip())), None) if f.utc_offset else None
    if local is not None:  # read as UTC it would land an offset away from the row the user means
        raise DataError(f"{path}: label time {local!r} has no UTC offset, while {f.path.name}'s times have one "
                        f"(e.g. {f.utc_offset!r}); write each label time with its offset, as the file does, or "
                        "in UTC with a trailing Z")
    shifted = next((t for t in text if UTC_OFFSET.search(t.strip()) and not ZERO_OFFSET.search(t.strip())),
                   None) if not f.utc else None
    if shifted is not None:  # converted to UTC it would land an offset away from the file's own clock
        raise DataError(f"{path}: label time {shifted!r} has a UTC offset, while {f.path.name}'s times have none; "
                        "write the label times as the file writes its times, without an offset (an object of lists, one "
                        "per file name, gives files with and without offsets their own)")
    clock = next((t for t in text if _times_of_day([t]) and (  # unless the time_format reads it (as "%H:%M")
        time_format is None or _strptime([t], time_format).isna().all())), None)
    if clock is not None:
        raise DataError(f"{path}: label time {clock!r} is a time of day without a date{TODAY}: write each label time "
                        f"with its date, as {f.path.name}'s time column does (e.g. {f.timestamps[0]})")
    # n/n/year dates as the file's were read, or in the order of its time_format (for those the format misses)
    order = next((k for k in (f.dayfirst, dayfirst, _format_order(time_format)) if k is not None), None)
    parsed, fits = _parse_times(text, order, time_format)
    if len(fits) == 2:
        raise _ambiguous(f"{path}: label timestamps", text, fits)
    if time_format is not None and parsed.isna().any():  # label files may write times otherwise (ISO)
        parsed = parsed.fillna(_parse_times(text, order, None)[0])
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size and order is not None and _parse_times(
            [text[i] for i in bad], not order, None)[0].notna().all():  # dates, written in the other order
        raise DataError(f"{path}: label times such as {stamps[bad[0]]!r} read only {_reading(not order)}, while "
                        f"{f.path.name}'s times read {_reading(order)}, as its label times are read too; write "
                        f"every label time in that order, or as an ISO time (e.g. {f.timestamps[0]})")
    if bad.size:
        rows = (", or leave out time_column to give row numbers"
                if all(_is_int(stamps[i]) and 0 <= stamps[i] < len(f.timeline) for i in bad) else "")
        raise DataError(f"{path}: {bad.size} label time(s) are not dates, e.g. {stamps[bad[0]]!r}; write them as "
                        f"times, as {f.path.name}'s time column holds (e.g. {f.timestamps[0]}){rows}"
                        f"{_zone_name_hint(stamps[bad[0]])}")
    return _ns(parsed, lambda i: f"{path}: label time {text[i]!r}",
               f"; write it between {f.path.name}'s first and last times ({_span(f).removeprefix('times ')})")


DATE_ALONE = re.compile(r"\d{4}([-/.]?)\d{1,2}\1\d{1,2}|\d{1,2}([-/.])\d{1,2}\2(?:\d{4}|\d{2})")  # no time of day
DAY_NS = 86400 * 10**9


# a date written with a month's or a day's name ("Jan 2, 2020", "2 January 2020") or ending in a bare "T" (2020-01-02T):
# a date alone unless a time of day is written too (10:00, 3 AM, T03, 10h)
WORDS_OR_T = re.compile(r"[A-Za-z]{3}|\dT$")
CLOCK_WRITTEN = re.compile(r":|\d\s*[AaPp]\.?[Mm]\b|\dT\d|\d\s*[hH]\b")
CLOCK_DIRECTIVES = re.compile(r"%[-#]?[HIMSXTRcsfp]")  # a strftime format's hour, minute, second, or all of a time


def _refuse_date_ends(windows: list, f: _File, at: str, time_format: str | None = None) -> None:
    """One line for a label window that ends on a date alone (2024-01-02) when the file's times have times of day: the
    end reads as 00:00 of that day, so a window meant to take in the day would leave out all of it but its first
    instant. An end that a ``time_format`` with a time of day reads (24010215 of %y%m%d%H) writes its time."""
    if f.timestamps is None or not np.issubdtype(f.timestamps.dtype, np.datetime64) or not (f.timeline % DAY_NS).any():
        return

    def date_alone(end: str) -> bool:
        if not DATE_ALONE.fullmatch(end) and not (WORDS_OR_T.search(end) and not CLOCK_WRITTEN.search(end)):
            return False
        return not (time_format and CLOCK_DIRECTIVES.search(time_format)
                    and _strptime([end], time_format).notna().all())
    w = next((w for w in windows if isinstance(w[1], str) and date_alone(w[1].strip())), None)
    if w is not None:
        raise DataError(f"{at}: window {json.dumps(w)} ends on a date without a time of day, which reads as 00:00 of "
                        f"that day, while {f.path.name}'s times have times of day: write the end's time, e.g. "
                        f"'{w[1].strip()}{'' if w[1].strip().endswith('T') else ' '}23:59:59' to take in the whole day")


def _format_order(time_format: str | None) -> bool | None:
    """Whether a strptime format writes dates as n/n/year dates read, day before month (True) or month first
    (False); None when it writes no day or month, or the year before them (2024-03-01 says nothing of how 01/03/2024
    reads)."""
    fmt = time_format or ""
    at = {k: fmt.find(k) for k in ("%d", "%m")}
    year = min((i for i in (fmt.find("%Y"), fmt.find("%y")) if i >= 0), default=len(fmt))
    return None if -1 in at.values() or year < max(at.values()) else at["%d"] < at["%m"]


def _first_rows(timeline: np.ndarray, stamps: np.ndarray) -> np.ndarray:
    """The first row whose time equals each stamp (file order; -1 where none)."""
    if len(timeline) == 0:
        return np.full(len(stamps), -1, np.int64)
    uniq, first = np.unique(timeline, return_index=True)
    pos = np.minimum(np.searchsorted(uniq, stamps), len(uniq) - 1)
    return np.where(uniq[pos] == stamps, first[pos], -1).astype(np.int64)


def _in_windows(timeline: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``timeline``: inside one of the windows ``bounds`` ([start, end] rows, both ends included); and
    per window: it covers a row. Found on the sorted times, never as a (rows x windows) array, which for thousands of
    windows on a million rows took tens of GB."""
    order = np.argsort(timeline, kind="stable")
    ordered = timeline[order]
    first = np.searchsorted(ordered, bounds[:, 0], "left")
    after = np.searchsorted(ordered, bounds[:, 1], "right")
    inside = np.empty(len(timeline), bool)
    inside[order] = span_mask(len(timeline), np.column_stack([first, after]))  # [first, after) of the sorted rows
    return inside, after > first


def _span(f: _File) -> str:
    if f.timestamps is None:
        return f"rows 0 to {len(f.timeline) - 1}"
    return f"times {f.timestamps.min()} to {f.timestamps.max()}"


def _json_labels(labels: dict, files: list[_File], base_dirs: list[Path], has_time: bool,
                 dayfirst: bool | None = None, time_format: str | None = None) -> None:
    """Point labels (``f.labels``) from the windows, else the timestamps; the timestamps' rows go to
    ``f.anomaly_rows`` (the sequence labels)."""
    both = "timestamps" in labels and "windows" in labels
    for kind in ("timestamps", "windows"):
        if kind not in labels:
            continue
        path, source = _label_source(labels, kind, base_dirs, files)
        groups: dict[int, tuple[str, list, list[_File]]] = {}
        for f in files:
            found = source(f)
            if found is None:  # a training file without labels: anomaly-free
                continue
            entry, raw = found
            if not isinstance(raw, list):
                raise DataError(f"{path}: entry {entry!r} must be a list of {kind}, got {type(raw).__name__}")
            groups.setdefault(id(raw), (entry, raw, []))[2].append(f)
        for entry, raw, group in groups.values():
            if entry is None and not has_time and len(group) > 1:  # row numbers are each file's own
                names = [g.path.name for g in group]
                example = next(g for g in group if g.role != "train").path.name
                raise DataError(f"{path}: without time_column, a list of label rows would label the same rows of "
                                f"{', '.join(names[:-1])} and {names[-1]}: give an object with each file's own entry "
                                f"(e.g. {{\"{example}\": [...]}}; a training file without one is anomaly-free), or, to "
                                "label the same rows of every file, an object of one entry and labels.key naming it")
            at = f"{path}: entry {entry!r}" if entry is not None else str(path)
            if kind == "timestamps":
                if not all(_is_time(s) for s in raw):
                    bad = next(s for s in raw if not _is_time(s))
                    also = ("; [start, end] windows go under labels.windows"
                            if isinstance(bad, list | tuple) else "")
                    raise DataError(f"{at}: label timestamps must be a flat list of times "
                                    f"(strings or numbers), got {json.dumps(bad)}{also}")
                matched = np.zeros(len(raw), bool)
                for f in group:
                    rows = _first_rows(f.timeline, _parse_stamps(raw, f, path, has_time, dayfirst, time_format))
                    matched |= rows >= 0
                    rows = np.unique(rows[rows >= 0])
                    f.anomaly_rows = rows  # each timestamp a sequence label, neighbours too (not runs' first rows)
                    if not both:
                        f.labels = np.zeros(len(f.timeline), bool)
                        f.labels[rows] = True
                if not matched.all():
                    missing = [str(raw[i]) for i in np.flatnonzero(~matched)]
                    raise DataError(f"{path}: label timestamp(s) {', '.join(missing[:SHOWN])} match no row of "
                                    f"{', '.join(f.path.name for f in group)}")
            else:
                if not all(isinstance(w, list | tuple) and len(w) == 2 for w in raw):
                    bad = next(w for w in raw if not (isinstance(w, list | tuple) and len(w) == 2))
                    raise DataError(f"{at}: each window must be a [start, end] pair, "
                                    f"got {bad!r}")
                if not all(_is_time(b) for w in raw for b in w):
                    bad = next(w for w in raw if not all(_is_time(b) for b in w))
                    raise DataError(f"{at}: window {json.dumps(bad)} needs a start and an end, "
                                    f"each a time (or a 0-based row number without time_column)")
                covered = np.zeros(len(raw), bool)
                for f in group:
                    bounds = _parse_stamps([b for w in raw for b in w], f, path, has_time, dayfirst,
                                           time_format, "label window ends").reshape(-1, 2)
                    if (bounds[:, 0] > bounds[:, 1]).any():
                        w = raw[int(np.flatnonzero(bounds[:, 0] > bounds[:, 1])[0])]
                        raise DataError(f"{path}: window {w!r} ends before it starts")
                    _refuse_date_ends(raw, f, at, time_format)
                    f.labels, covers = _in_windows(f.timeline, bounds)
                    covered |= covers
                if not covered.all():
                    k = np.flatnonzero(~covered)
                    names = ", ".join(f.path.name for f in group)
                    raise DataError(f"{at}: window {json.dumps(raw[k[0]])} covers no row of "
                                    f"{names} ({_span(group[0])}){f' ({k.size} such windows)' if k.size > 1 else ''}; "
                                    f"check its ends, and that it belongs to this file")
    if both:  # a file with windows but no timestamps entry (a training file) has no anomaly rows
        for f in files:
            if f.anomaly_rows is None and f.labels is not None:
                f.anomaly_rows = np.empty(0, np.int64)


# ----------------------------------------------------------------------------- the spec


def _check_labels(labels) -> dict | None:
    if labels is None:
        return None
    if not isinstance(labels, dict):
        raise DataError(f"dataset: labels must be an object such as {{\"column\": \"anomaly\"}}, got {labels!r}")
    _check_fields(labels, LABEL_FIELDS, "dataset.labels")
    kinds = [k for k in ("column", "timestamps", "windows") if k in labels]
    if len(kinds) != 1 and kinds != ["timestamps", "windows"]:
        raise DataError("dataset: labels needs exactly one of 'column', 'timestamps', 'windows' (or both "
                        "'timestamps' and 'windows')" + (f" (found {', '.join(kinds)})" if kinds else ""))
    for kind in kinds:
        if not isinstance(labels[kind], str) or not labels[kind].strip():
            raise DataError(f"dataset: labels.{kind} must be a string, got {labels[kind]!r}")
    if "key" in labels and (kinds[0] == "column" or not isinstance(labels["key"], str)):
        raise DataError("dataset: labels.key must be a string and goes with 'timestamps' or 'windows'")
    return labels


def _train_mode(spec: dict) -> tuple[str, object]:
    given = [k for k in TRAIN_FIELDS if k in spec and spec[k] is not None]
    if len(given) > 1:
        raise DataError(f"dataset: give only one of {', '.join(TRAIN_FIELDS)} (found {' and '.join(given)})")
    mode = given[0] if given else "train"
    value = spec.get(mode, "auto")
    if mode in ("train_range", "train_points"):  # 400.0 is 400, as for the config's own integer keys
        value = [_whole(v) for v in value] if isinstance(value, list) else _whole(value)
    if mode == "train" and value != "auto":
        raise DataError(f"dataset: train must be \"auto\" (or give train_range, train_points, train_fraction "
                        f"or train_files), got {value!r}")
    if mode == "train_range" and not (isinstance(value, list) and len(value) == 2
                                      and all(_is_int(v) for v in value)):
        raise DataError(f"dataset: train_range must be [start, end) as two integers, got {value!r}")
    if mode == "train_points" and not _is_int(value):
        raise DataError(f"dataset: train_points must be an integer, got {value!r}")
    if mode == "train_fraction" and not (isinstance(value, int | float) and not isinstance(value, bool)
                                         and 0 < value < 1):
        raise DataError(f"dataset: train_fraction must be a number with 0 < f < 1, got {value!r}")
    return mode, value


# Names a test file's piece cannot take: the keys beside the pieces in metrics.json (the pooled "all" row, a
# detector's "threshold", "threshold_undefined", "threshold_few_excesses" and "points", the point rules' "rules").
RESERVED_PIECE_NAMES = ("all", "points", "rules", "threshold", "threshold_undefined", "threshold_few_excesses")


def _piece_names(paths: list[Path], taken: set[str]) -> list[str]:
    stems = [csv_stem(p) for p in paths]
    names = []
    for p, stem in zip(paths, stems, strict=True):
        name = stem if stems.count(stem) == 1 and stem not in taken else f"{p.parent.name}_{stem}"
        base, k = name, 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        names.append(name)
    return names


def _in_file_block(mode: str, value, f: _File, has_labels: bool, other_tests: bool):
    """[start, end) of the training block inside `path`, and why."""
    n = len(f.df)
    if mode == "train_range":
        s, e = value
        if s > e:
            raise DataError(f"{f.path}: train_range [{s}, {e}) starts after it ends; give [start, end)")
        if not 0 <= s <= e <= n:
            raise DataError(f"{f.path}: train_range [{s}, {e}) does not fit the file's {n} data rows")
        return s, e, "train_range"
    if mode == "train_points":
        if not 0 <= value <= n:
            raise DataError(f"{f.path}: train_points = {value} but the file has {n} data rows")
        return 0, value, f"train_points = {value}"
    if mode == "train_fraction":
        return 0, int(math.floor(value * n + 1e-9)), f"train_fraction = {value}"
    labels = f.labels if has_labels else None
    if labels is not None and labels.any():
        if labels.all():
            raise DataError(f"{f.path}: every row is labelled anomalous: no stretch to train on "
                            f"(give train_files or train_range)")
        clean = _segments(~labels)
        s, e = max(clean, key=lambda se: se[1] - se[0])  # the first of the longest
        n_seg = len(_segments(labels))
        why = (f"auto: the longest stretch free of labelled anomalies ({int(labels.sum())} labelled row(s) in "
               f"{n_seg} segment(s))")
        if 0 < s and e < n and e - s > 2:  # between two anomalies: the test pieces before and after it would
            s += 1  # join, in the pooled metrics, into one anomaly; its first row ends the piece before instead
            why += ", less its first row, which ends the test piece before it with a normal row"
        return s, e, why
    if other_tests and labels is not None:
        return 0, n, "auto: no labelled anomaly in the file, and test_files hold the test data"
    why = "no labelled anomaly in the file" if labels is not None else "no labels"
    return 0, n // 2, f"auto: {why}, so the leading 50%"


def _warn_labelled(labels: np.ndarray | None, offset: int = 0) -> str:
    if labels is None or not labels.any():
        return ""
    segs = _segments(labels)
    shown = ", ".join(f"[{s + offset}, {e + offset})" for s, e in segs[:3]) + (", ..." if len(segs) > 3 else "")
    return f"; WARNING: {int(labels.sum())} labelled anomalous row(s) inside the training data (rows {shown})"


LABEL_LIKE_NAMES = {"anomaly", "anomalies", "is_anomaly", "label", "labels", "outlier", "is_outlier", "changepoint"}


def _refuse_label_like_channel(f: _File, channels: list[str], labelled: bool) -> None:
    """Without ``value_columns``, a 0/1 column named like anomaly labels (a second one, such as SKAB's
    changepoint, when ``labels`` are given) would silently become a channel the model trains on: one line
    asking which it is."""
    for k, name in enumerate(channels):
        column = f.values[:, k]
        if name.strip().lower() in LABEL_LIKE_NAMES and np.isin(column[np.isfinite(column)], (0.0, 1.0)).all():
            read_as = ("list it in ignore_columns to leave it out" if labelled else
                       f"give \"labels\": {{\"column\": \"{name}\"}} to read it as labels")
            raise DataError(f"{f.path}: column {name!r} holds only 0 and 1, like anomaly labels; {read_as}, or list "
                            "the channels in value_columns to read it as data")


def _unread_label_like_columns(files: list[_File], read: set) -> str:
    """Without ``labels``, a 0/1 column named like anomaly labels that no part of the config reads (``value_columns``
    left it out) leaves the run without labels, its anomalies trained on or left unscored: a note naming it."""
    unread = {}  # column -> the first file that has it
    for f in files:
        for name in f.df.columns:
            if name in read or name in unread or str(name).strip().lower() not in LABEL_LIKE_NAMES:
                continue
            column = _as_float(f.df[name])
            column = column[np.isfinite(column)]
            if len(column) and np.isin(column, (0.0, 1.0)).all():
                unread[name] = f.path.name
    return "".join(f"; {where}: column {name!r} holds only 0 and 1, like anomaly labels, and is not read, so the run "
                   f"has no labels: give \"labels\": {{\"column\": \"{name}\"}} to score against it, or list it in "
                   "ignore_columns" for name, where in unread.items())


TIME_LIKE_NAMES = {"time", "timestamp", "ts", "date", "datetime", "epoch", "unix_time", "unixtime", "index", "idx",
                   "id", "row", "t"}
# words of a name (split at other characters and at camelCase: timestamp_ms, "Time (s)", UnixTime, sample_index) that
# name a time or an index, or their plurals (timestamps, as Yahoo's S5 A3 and A4 files name their times; Dates, ids)
TIME_LIKE_WORDS = TIME_LIKE_NAMES - {"t", "unix_time"} | {"unix", "elapsed"}
TIME_LIKE_WORDS |= {"times", "timestamps", "dates", "datetimes", "epochs", "indices", "indexes", "ids", "rows"}
NAME_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def _time_like_name(name: str) -> bool:
    """Whether a column's name is, or holds a word that is, a time's or an index's (see TIME_LIKE_WORDS)."""
    return (name.strip().lower() in TIME_LIKE_NAMES
            or any(word.lower() in TIME_LIKE_WORDS for word in NAME_WORDS.findall(name)))


def _refuse_time_like_channel(f: _File, channels: list[str], has_time: bool) -> None:
    """Without ``value_columns``, a column named like a time or a row index whose values only increase (epoch
    seconds without ``time_column``, a saved index) would silently become a ramp the model trains on: one line."""
    for k, name in enumerate(channels):
        if _time_like_name(name) and len(f.values) > 1 and (np.diff(f.values[:, k]) > 0).all():
            as_time = "" if has_time else f"give \"time_column\": \"{name}\" to read it as the time, "
            raise DataError(f"{f.path}: column {name!r} only increases, like times or a row index: {as_time}list it in "
                            "ignore_columns to leave it out, or list the channels in value_columns to read it as data")


NEAR_CONSTANT_SHARE = 0.99  # a channel with one value in at least this share of its training rows is warned of


def _drop_advice(chosen: bool) -> str:
    """How to leave a column out: ``value_columns`` (``chosen``) names the channels, else ignore_columns trims them."""
    return "remove it from value_columns" if chosen else "leave it out with ignore_columns"


def _warn_near_constant(train: np.ndarray, channels: list[str], chosen: bool = False) -> str:
    """A warning for channels that are nearly constant over the training block: their standard deviation is
    tiny, so any test value off that one value lies far out and dominates the scores of every detector."""
    out = []
    for k, name in enumerate(channels):
        _, counts = np.unique(train[:, k], return_counts=True)
        share = counts.max() / len(train)
        if share >= NEAR_CONSTANT_SHARE:
            out.append(f"{name!r} ({100 * share:.1f}%)")
    if not out:
        return ""
    return (f"; WARNING: column(s) {', '.join(out)} take one value in nearly every training row: a test value off "
            "it lies many standard deviations out and will dominate the scores (a status or quantised channel? "
            f"{_drop_advice(chosen)})")


def _constant(train: np.ndarray, channels: list[str], where: str, chosen: bool = False) -> None:
    if len(train) < 2:  # one row is constant in every column: leaving columns out would not help
        raise DataError(f"{where}: a training block of {len(train)} row is too short to standardise or to train on; "
                        "give a longer one (at least one sequence, l_win * l_seq points)")
    flat = np.flatnonzero(flat_channels(train))
    if flat.size:
        notes = [rounding_note(train, k) for k in flat]
        cols = _names(f"{channels[k]!r}" + (f" ({note})" if note else "") for k, note in zip(flat, notes, strict=True))
        raise DataError(f"{where}: column(s) {cols} constant in the training block ({len(train)} rows): "
                        f"a constant channel cannot be standardised; {_drop_advice(chosen)}")


# ----------------------------------------------------------------------------- the entry point


def load_csv_dataset(spec: dict, base_dirs: list[Path]) -> CSVDataset:
    """Read and check the CSV dataset that `spec` (a config's ``dataset`` object) describes.

    ``base_dirs``: folders for relative paths, tried in order (the config file's folder, then the
    repository root). Raises `DataError` (one line) on any problem with the spec or the data.
    """
    if not isinstance(spec, dict):
        raise DataError(f"dataset: expected a series name or an object describing CSV files, got {spec!r}")
    _check_fields(spec, FIELDS, "dataset")
    base_dirs = [Path(b) for b in base_dirs]
    mode, value = _train_mode(spec)
    labels = _check_labels(spec.get("labels"))
    train_paths = [_resolve(p, base_dirs, "train_files") for p in _str_list(spec, "train_files") or []]
    test_paths = [_resolve(p, base_dirs, "test_files") for p in _str_list(spec, "test_files") or []]
    main = None if spec.get("path") is None else _resolve(spec["path"], base_dirs, "path")
    # a file may play one part: a test file that is also trained on would score the model on its own
    # training data
    split_role = "path (which holds the training block)"
    roles = [("path" if mode == "train_files" else split_role, main)] * (main is not None)
    roles += [("train_files", p) for p in train_paths] + [("test_files", p) for p in test_paths]
    seen: dict[object, str] = {}
    for role, p in roles:
        st = p.stat()  # the same file under two names (a link, ./a.csv): the same device and inode
        real = (st.st_dev, st.st_ino) if st.st_ino else p.resolve()
        if real in seen:
            if seen[real] == role:
                raise DataError(f"dataset: {p} is listed twice in {role}; list it once")
            trained = {"train_files", split_role} & {seen[real], role}
            why = (": the model would be scored on its own training data; test on other files" if trained
                   else "; list it once")
            raise DataError(f"dataset: {p} is in both {seen[real]} and {role}{why}")
        seen[real] = role
    if spec.get("path") is None:
        if not (train_paths and test_paths):
            raise DataError("dataset: give 'path' (the CSV file), or both 'train_files' and 'test_files'")
    if mode == "train_files" and main is None and not test_paths:
        raise DataError("dataset: no test data: with train_files, give 'path' and/or 'test_files'")
    for key in ("name", "sep", "time_column"):
        if spec.get(key) is not None and (not isinstance(spec[key], str) or not spec[key]):
            raise DataError(f"dataset: {key} must be a non-empty string, got {spec[key]!r}")
    sep = spec.get("sep")
    if sep is not None and sep.lower() == "tab":
        sep = "\t"
    if sep is not None and len(sep) > 1:  # pandas reads it as a regular expression (\s+ for runs of spaces)
        literal = json.dumps(re.escape(sep))
        try:
            empty = re.fullmatch(sep, "") is not None
        except re.error as e:
            raise DataError(f"dataset: sep {sep!r} is not a valid regular expression ({e}), and a sep of more than "
                            f"one character is one: escape its characters to split at them as written, e.g. "
                            f"{literal}") from e
        if empty:
            raise DataError(f"dataset: sep {sep!r}, a regular expression (as a sep of more than one character is), "
                            f"matches an empty string, and would split between any two characters: escape its "
                            f"characters to split at them as written, e.g. {literal}")
    decimal = spec.get("decimal", ".")
    if decimal not in DECIMALS:
        raise DataError(f"dataset: decimal must be \".\" or \",\", got {decimal!r}")
    thousands = spec.get("thousands")
    if thousands is not None and (not isinstance(thousands, str) or len(thousands) != 1
                                  or thousands.isdigit() or thousands == decimal):
        raise DataError(f"dataset: thousands must be one character other than a digit and the decimal "
                        f"separator {decimal!r} (e.g. \",\" for 1,234.5), got {thousands!r}")
    time_col = spec.get("time_column")
    time_order = spec.get("time_order", "strict")
    if time_order not in TIME_ORDERS:
        raise DataError(f"dataset: time_order must be \"strict\" or \"file\", got {time_order!r}")
    if time_order != "strict" and time_col is None:
        raise DataError("dataset: time_order goes with time_column (without it the row order is the time)")
    dayfirst, time_format = spec.get("dayfirst"), spec.get("time_format")
    if dayfirst is not None and not isinstance(dayfirst, bool):
        raise DataError(f"dataset: dayfirst must be true (day/month/year) or false (month/day/year), "
                        f"got {dayfirst!r}")
    if time_format is not None and (not isinstance(time_format, str) or "%" not in time_format):
        raise DataError(f"dataset: time_format must be a date format such as \"%d/%m/%Y %H:%M\", "
                        f"got {time_format!r}")
    if dayfirst is not None and time_format is not None:
        raise DataError("dataset: give dayfirst or time_format, not both (the format says the order)")
    for key, given in (("dayfirst", dayfirst), ("time_format", time_format)):
        if given is not None and time_col is None:
            raise DataError(f"dataset: {key} goes with time_column (without it the row order is the time)")
    label_col = labels.get("column") if labels else None
    # names of columns as the header's read (a line break or a no-break space in one a space)
    time_col, label_col = (None if c is None else _column_name(c) for c in (time_col, label_col))
    value_cols = _config_names(_str_list(spec, "value_columns"), "value_columns")
    ignore = _config_names(_str_list(spec, "ignore_columns"), "ignore_columns") or []
    if label_col is not None and label_col == time_col:
        raise DataError(f"dataset: labels.column {label_col!r} is the time_column; labels.column names the column of "
                        "0/1 anomaly labels (1 = anomalous row), another column than the times")
    for special, what in ((time_col, "time_column"), (label_col, "labels.column")):
        if special is not None and value_cols and special in value_cols:
            raise DataError(f"dataset: {special!r} is the {what}; it cannot also be in value_columns")
    name = spec.get("name") or csv_stem(main or test_paths[0])

    # read every file
    files = []
    if main is not None:
        files.append(_File(main, "test" if mode == "train_files" else "split", None))
    files += [_File(p, "train", None) for p in train_paths]
    files += [_File(p, "test", None) for p in test_paths]
    for f in files:
        f.df, note = _read_csv(f.path, sep, decimal, thousands, time_col if time_format is not None else None)
        f.notes += [note] * bool(note)
        if len(f.df) == 0:
            what = {"train": "an empty training file", "test": "an empty test piece",
                    "split": "nothing to train or test on"}[f.role]
            raise DataError(f"{f.path}: no data rows ({what})")
        if time_col is not None:
            _require_column(f, time_col, "time column")
        if label_col is not None and (f.role != "train" or label_col in f.df.columns):
            _require_column(f, label_col, "label column")
    both = [c for c in ignore if value_cols and c in value_cols]
    if both:
        raise DataError(f"dataset: {', '.join(map(repr, both))} is in both value_columns and ignore_columns; "
                        "ignore_columns only trims the default columns: remove it from value_columns")
    for c in ignore:
        if not any(c in f.df.columns for f in files):
            raise DataError(f"dataset: ignore_columns: no file has a column {c!r}"
                            f"{_suggest(c, files[0].df.columns)}")

    # the channels: the same in every file
    skipped: list[str] = []
    if value_cols is not None:
        channels = value_cols
        for f in files:
            for c in channels:
                _require_column(f, c, "value column")
    else:
        exclude = {c for c in (time_col, label_col) if c} | set(ignore)
        ref = files[0]
        channels, skipped = _default_columns(ref.df, exclude, ref.path, decimal, thousands)
        if not channels:
            raise DataError(f"{ref.path}: no numeric value column (columns: {_names(ref.df.columns)})"
                            + (_one_column_hint(ref) or _no_value_column_hint(ref.df, time_col, label_col, ignore,
                                                                              skipped)))
        for f in files[1:]:
            mine, _ = _default_columns(f.df, exclude, f.path, decimal, thousands)
            # a channel in the header whose values are no numbers (a sensor dead through the file: empty, or text)
            # is not lacking: its values are refused below, with their rows
            lack = [c for c in channels if c not in mine and c not in f.df.columns]
            extra = [c for c in mine if c not in channels]
            if dead := [c for c in extra if c in ref.df.columns]:  # likewise in the first file: refused there
                _values(ref, dead, decimal, thousands)
            if lack or extra:
                parts = ([f"lacks {_names(map(repr, lack))}"] if lack else []) + (
                    [f"has extra {_names(map(repr, extra))}"] if extra else [])
                named = next((c for c in lack + extra if c.strip().lower() in LABEL_LIKE_NAMES), None)
                labels_hint = (f"if it holds the anomaly labels, give \"labels\": {{\"column\": \"{named}\"}}; else "
                               if named and labels is None else "")
                raise DataError(f"{f.path}: value columns differ from {ref.path.name}'s: {'; '.join(parts)} "
                                f"({labels_hint}give value_columns, or list extra columns in ignore_columns)")

    # values, time, labels of each file
    for f in files:
        f.values = _values(f, channels, decimal, thousands)
        if time_col is not None:
            _time(f, time_col, time_order == "strict", dayfirst, time_format)
        else:
            f.timeline = np.arange(len(f.df), dtype=np.int64)
        if label_col is not None and label_col in f.df.columns:
            f.labels = _label_column(f, label_col)
    if labels is not None and label_col is None:
        _json_labels(labels, files, base_dirs, time_col is not None, dayfirst, time_format)
    if value_cols is None:
        _refuse_label_like_channel(files[0], channels, labels is not None)
        _refuse_time_like_channel(files[0], channels, time_col is not None)
    has_labels = labels is not None
    tests = [f for f in files if f.role == "test"]

    has_rows = bool(labels) and "timestamps" in labels

    def rows_in(f, s, e):
        """The label timestamps' rows of f within [s, e), from s (None unless the labels give them)."""
        if not has_rows:
            return None
        rows = f.anomaly_rows if f.anomaly_rows is not None else np.empty(0, np.int64)
        return rows[(rows >= s) & (rows < e)] - s

    def piece(name, f, s, e):
        return {"name": name, "values": f.values[s:e],
                "point_labels": None if not has_labels else (
                    f.labels[s:e] if f.labels is not None else np.zeros(e - s, bool)),
                "timestamps": None if f.timestamps is None else f.timestamps[s:e],
                "path": str(f.path), "start": s, "anomaly_rows": rows_in(f, s, e), "utc": f.utc}

    channels_note = f"channels: {', '.join(channels) if len(channels) <= 10 else f'{len(channels)} columns'}"
    if skipped:
        channels_note += f" (left out: {', '.join(skipped)})"
    channels_note += "".join(f"; {f.disorder}" for f in files if f.disorder)
    channels_note += "".join(f"; {n}" for f in files for n in f.notes)
    if labels is None:
        channels_note += _unread_label_like_columns(files, {time_col, *channels, *ignore})
    if mode != "train_files":
        f = files[0]
        n = len(f.df)
        s, e, why = _in_file_block(mode, value, f, has_labels, bool(test_paths))
        if e <= s and mode == "train_fraction":  # too small a fraction of the file's rows
            raise DataError(f"{f.path}: train_fraction = {value} of the file's {n} data rows rounds down to 0 rows, "
                            f"an empty training block: give a train_fraction of l_win * l_seq / {n} or more, so that "
                            "the block holds at least one sequence of l_win * l_seq rows")
        if e <= s:
            raise DataError(f"{f.path}: empty training block [{s}, {e}) ({why})")
        spans = [(a, b) for a, b in ((0, s), (e, n)) if b > a]
        pieces = [piece("test" if len(spans) == 1 else f"test_{k}", f, a, b) for k, (a, b) in enumerate(spans, 1)]
        taken = {p["name"] for p in pieces} | set(RESERVED_PIECE_NAMES)
        pieces += [piece(nm, t, 0, len(t.df)) for nm, t in zip(_piece_names(test_paths, taken), tests, strict=True)]
        if not pieces:
            raise DataError(f"{f.path}: no test data: the training block [{s}, {e}) takes every row "
                            f"(give test_files, or a smaller block)")
        # the outputs show the test pieces' times: UTC when each of their files had offsets (not the training files)
        utc = all(p["utc"] for p in pieces)
        train = f.values[s:e]
        _constant(train, channels, f"{f.path}: rows [{s}, {e})", value_cols is not None)
        train_labels = f.labels[s:e] if f.labels is not None else (np.zeros(e - s, bool) if has_labels else None)
        tested = ", ".join(
            f"{p['name']} rows [{p['start']}, {p['start'] + len(p['values'])})" if p["path"] == str(f.path)
            else f"{p['name']} ({len(p['values'])} rows)" for p in pieces)
        note = (f"training block rows [{s}, {e}) of {f.path.name} ({e - s} of {n} rows), {why}; "
                f"test: {tested}; {channels_note}{_warn_labelled(train_labels, s)}"
                f"{_warn_near_constant(train, channels, value_cols is not None)}")
        single = not test_paths
        full_labels = f.labels if f.labels is not None else (np.zeros(n, bool) if has_labels else None)
        return CSVDataset(
            name, list(channels), train, [train], [0], pieces, note, has_labels, train_labels,
            full_values=f.values if single else None,
            full_timestamps=f.timestamps if single else None,
            full_point_labels=full_labels if single else None,
            train_start=s if single else None, train_end=e if single else None,
            full_anomaly_rows=rows_in(f, 0, n) if single else None, train_anomaly_rows=rows_in(f, s, e),
            utc=utc)

    trains = [f for f in files if f.role == "train"]
    parts = [f.values for f in trains]
    starts = np.cumsum([0] + [len(p) for p in parts])[:-1].tolist()
    train = np.concatenate(parts)
    _constant(train, channels, ", ".join(str(f.path) for f in trains), value_cols is not None)
    train_labels = None
    if has_labels:
        train_labels = np.concatenate([f.labels if f.labels is not None else np.zeros(len(f.df), bool)
                                       for f in trains])
    names = _piece_names([f.path for f in tests], set(RESERVED_PIECE_NAMES))
    pieces = [piece(nm, t, 0, len(t.df)) for nm, t in zip(names, tests, strict=True)]
    trained = ", ".join(f"{f.path.name} ({len(f.df)} rows)" for f in trains)
    apart = (f" - {len(trains)} files laid end to end, starting at rows {', '.join(map(str, starts))}: the "
             "windows that cross a join take points of two files" if len(trains) > 1 else "")
    tested = ", ".join(f"{p['name']} ({len(p['values'])} rows)" for p in pieces)
    note = (f"training data: {trained}{apart} (train_files); test: {tested}; {channels_note}"
            f"{_warn_labelled(train_labels)}{_warn_near_constant(train, channels, value_cols is not None)}")
    train_rows = None
    if has_rows:
        train_rows = np.concatenate([rows_in(f, 0, len(f.df)) + k0 for f, k0 in zip(trains, starts, strict=True)])
    return CSVDataset(name, list(channels), train, parts, starts, pieces, note, has_labels, train_labels,
                      train_anomaly_rows=train_rows, utc=all(p["utc"] for p in pieces))
