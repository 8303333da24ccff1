"""Get the NAB files (local copy or download) and cut each series into the paper's splits.

Every built-in NAB series is a dataset object in datasets/series.json, of the same form as a user's
(`csv_data`), read by `load_csv_series` as a user's CSV is: the `value` column in file order, no
resampling (``"time_order": "file"`` where times repeat or step back); anomalies are the rows whose timestamp equals
a NAB label (the first such row, 0-based), point labels the rows inside NAB's anomaly windows;
standardise with the training block's mean and population std; the test data is what lies before
and after the training block. Only the synthetic series is generated (`synthetic.make_synthetic`).
"""

import hashlib
import json
import math
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .download import fetch, local_root, sha256
from .errors import DataError, closest, repository_file, repository_root
from .synthetic import make_synthetic

NAB_DATA_DIR_ENV = "NAB_DATA_DIR"
REPO_ROOT = repository_root()  # the checkout (VAE_LSTM_REPO's for a copy installed outside one)
SPEC_PATH = REPO_ROOT / "datasets" / "series.json"
CACHE_DIR = REPO_ROOT / "datasets" / "cache"
NAB_RAW_URL = "https://raw.githubusercontent.com/numenta/NAB/{commit}/{relpath}"
LABELS = "labels/combined_labels.json"
WINDOWS = "labels/combined_windows.json"
# the farthest a standardised value may lie from the training mean: squared and summed over a sequence in float32
# (largest 3.4e38), such values stay finite; real data this far out is a unit or sentinel error
MAX_STANDARDISED = 1e12


@dataclass(eq=False)
class TestPiece:
    __test__ = False  # not a pytest class

    name: str  # "test", or "test_1"/"test_2" when the training block is in the middle
    start: int  # 0-based index of its first point in the full series
    values: np.ndarray  # (n, n_channel) float64, normalised
    anomaly_idx: np.ndarray  # int64, 0-based indices into this piece
    point_labels: np.ndarray | None = None  # (n,) bool: inside a labelled anomaly window; None if unknown


@dataclass(eq=False)
class Series:
    name: str
    t_unit: str
    raw: np.ndarray  # (N, n_channel) float64
    timestamps: np.ndarray | None  # (N,) datetime64[s], None for synthetic
    train_start: int
    train_end: int  # training block is raw[train_start:train_end]
    mean: np.ndarray  # (n_channel,)
    std: np.ndarray  # (n_channel,), population std (ddof=0)
    normalised: np.ndarray  # (N, n_channel)
    anomaly_idx: np.ndarray  # int64, 0-based indices into the full series
    test_pieces: list[TestPiece]
    point_labels: np.ndarray | None = None  # (N,) bool: inside a labelled anomaly window; None if unknown
    channels: list[str] | None = None  # channel names (default: "value", or "ch0", "ch1", ...)
    row_times: np.ndarray | None = None  # (N,) each row's time column as read, for output (NaT/None where none)
    utc: bool = False  # every test row's time is UTC (converted from its file's UTC offsets)
    row_utc: np.ndarray | None = None  # (N,) bool: the row's time is UTC (several test files may differ)
    file_rows: np.ndarray | None = None  # (N,) each test row's 0-based data row in its CSV file (-1: training rows)

    def __post_init__(self):
        if self.channels is None:
            self.channels = ["value"] if self.n_channel == 1 else [f"ch{k}" for k in range(self.n_channel)]

    @property
    def labelled(self) -> bool:
        """True when the data carries labels (possibly none anomalous); False for unlabelled data."""
        return self.point_labels is not None or len(self.anomaly_idx) > 0

    @property
    def train(self) -> np.ndarray:
        return self.normalised[self.train_start : self.train_end]

    @property
    def n_channel(self) -> int:
        return self.raw.shape[1]


def load_spec() -> dict:
    """The parsed datasets/series.json (read on every call; it is tiny)."""
    return json.loads(repository_file(Path(SPEC_PATH)).read_text())


def series_names() -> list[str]:
    return list(load_spec()["series"])


def check_pinned(path: Path, sha: str, pinned_as: str) -> None:
    """One line when a local copy's sha256 is not the one pinned for it (``pinned_as``: which pin, and what to
    do about it)."""
    actual = sha256(path)
    if actual == sha:
        return
    data = path.read_bytes()
    if b"\r\n" in data and hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest() == sha:
        raise DataError(f"{path} has Windows line ends (CRLF), as a git clone with core.autocrlf writes them; with LF "
                        f"ends it has the pinned sha256 ({pinned_as}): convert it (dos2unix), or clone with "
                        "'git -c core.autocrlf=false clone'")
    raise DataError(f"{path} has the wrong sha256 ({actual[:12]}..., expected {sha[:12]}... of {pinned_as})")


def nab_file(relpath: str, data_dir: str | Path | None = None) -> Path:
    """Path to a NAB file: from `data_dir` or $NAB_DATA_DIR if set, else downloaded and cached."""
    nab = load_spec()["nab"]
    sha = nab["files"].get(relpath)
    if sha is None:
        raise DataError(f"{relpath} is not listed under nab.files in {SPEC_PATH}, so it cannot be downloaded; set "
                        f"{NAB_DATA_DIR_ENV} to a local NAB copy that holds it")
    root = data_dir or os.environ.get(NAB_DATA_DIR_ENV)
    if root:
        setting = "data_dir" if data_dir else NAB_DATA_DIR_ENV  # the one that points at this copy
        path = local_root(root, setting) / relpath
        if not path.is_file():
            raise DataError(f"{path} not found; point {setting} at a NAB copy with data/ and labels/")
        check_pinned(path, sha, f"NAB commit {nab['commit'][:7]}: restore the original file, or "
                                f"{'pass no data_dir' if data_dir else 'unset ' + NAB_DATA_DIR_ENV} to download it")
        return path
    return fetch(NAB_RAW_URL.format(commit=nab["commit"], relpath=relpath),
                 CACHE_DIR / "nab" / nab["commit"][:7] / relpath, sha, f"{relpath} of NAB",
                 f"set {NAB_DATA_DIR_ENV} to a local NAB copy (folder with data/ and labels/)")


def check_dataset_name(name: str) -> None:
    """One line when ``name`` is neither a built-in series nor a segment dataset, with the nearest name."""
    spec = load_spec()
    specs, segments = spec["series"], spec.get("segments", {})
    if name not in specs and name not in segments:
        near = closest(name, [*specs, *segments])
        hint = f"did you mean '{near}'? " if near else ""
        beats = "".join(f", {s} (independent segments: run it with 'python3 codes/reproduce.py {s.lower()}')"
                        for s in segments)
        raise DataError(f"unknown dataset {name!r} (the config's \"dataset\"); {hint}valid names: {', '.join(specs)}"
                        f"{beats}, or a dataset object for your own CSV")


def load_series(name: str, data_dir: str | Path | None = None) -> Series:
    """Load one series from datasets/series.json, normalised and split as in the paper.

    ``data_dir``: a NAB copy to read instead of $NAB_DATA_DIR (or the download)."""
    check_dataset_name(name)
    if name in load_spec().get("segments", {}):
        raise DataError(f"{name} is a dataset of independent segments (beats), not one series: run it with "
                        f"'python3 codes/reproduce.py {name.lower()}' (configs/experiments/{name.lower()}.json)")
    spec = load_spec()["series"][name]
    if "dataset" in spec:  # a dataset object, as in a user's config
        return load_csv_series({**spec["dataset"], "name": name}, [REPO_ROOT], t_unit=spec["t_unit"],
                               data_dir=data_dir, announce=False)
    if spec.get("source") != "synthetic":
        raise DataError(f"series {name!r} in {SPEC_PATH} needs a \"dataset\" object or \"source\": \"synthetic\"")
    raw, anomaly_idx, timestamps, point_labels = _load_synthetic(spec)
    return build_series(
        name, spec["t_unit"], raw, anomaly_idx, spec["train_start"], spec["train_end"], timestamps, point_labels,
        channels=["value"] if raw.shape[1] == 1 else None,
    )


def _load_synthetic(spec: dict):
    keys = ("length", "period", "noise", "n_anomalies", "train_end", "n_channel", "seed")
    kinds = {"kinds": spec["kinds"]} if "kinds" in spec else {}  # as written: make_synthetic checks it
    raw, anomaly_idx, point_labels = make_synthetic(**{k: spec[k] for k in keys}, **kinds)
    return raw, anomaly_idx, None, point_labels


ROUNDING_STEPS = 4  # a channel whose training values span at most this many float64 steps varies by rounding only


def flat_channels(block: np.ndarray) -> np.ndarray:
    """(n_channel,) bool: the channel is constant over the (n, n_channel) training ``block``, or varies by float64
    rounding only (5 and 5.000000000000001), whose noise standardising would make a signal of unit variance.
    Not std == 0: 0.3 repeated has a std of 6e-17. A spread beyond float64 (-1e308 and 1e308) is inf, not flat."""
    with np.errstate(over="ignore"):
        return np.ptp(block, axis=0) <= ROUNDING_STEPS * np.spacing(np.abs(block).max(axis=0))


def rounding_note(block: np.ndarray, k: int) -> str:
    """How channel ``k`` of a ``flat_channels`` block varies when it is not exactly constant: "" when it is."""
    values = block[:, k]
    spread = np.ptp(values)
    return f"but for float64 rounding: a spread of {spread:.3g} at values near {np.median(values):.6g}" if spread else ""


MAX_ONE_VALUE_INFLATION = 1000.0  # a training block's std over that of its values but the farthest few
MAX_FEW_VALUES = 3  # a channel whose values but the farthest are this few levels is a state, not a sentinel
SENTINEL_DISTANCE = 10.0  # a value copied at many rows is a sentinel this many times the others' level away
MAX_FAR_VALUES = 10  # the most far values that check_spread takes away together (and at most 1% of a block)


def check_spread(name, block: np.ndarray, mean: np.ndarray, std: np.ndarray, train_start: int, channels) -> None:
    """One line when a channel's training block cannot be standardised usefully: values so large that their
    spread overflows, or so small that it underflows to 0, or one value (a sentinel such as 1e30, a wrong unit)
    that alone makes the standard deviation over ``MAX_ONE_VALUE_INFLATION`` times that of the other values, so
    that they all standardise to about 0; likewise a few such values together (a sentinel written more than once:
    the farthest ``MAX_FAR_VALUES`` at most, and at most 1% of the block), whose other copies kept the spread of
    the rest as large as the one-value check takes it, and every copy of the farthest value together (-9999 for a
    missing reading, at more rows than those)."""
    names = channels or ([f"channel {k}" for k in range(block.shape[1])] if block.shape[1] > 1 else ["the value"])
    for k in range(block.shape[1]):
        label = repr(names[k]) if channels else names[k]
        if not np.isfinite(std[k]):
            raise DataError(f"{name}: {label} holds values too large to standardise over the training block (their "
                            "spread overflows float64); rescale that column")
        if std[k] == 0:  # not constant (flat_channels), but values near 1e-170 square to 0
            raise DataError(f"{name}: {label} holds values too small to standardise over the training block (their "
                            "spread underflows float64 to a standard deviation of 0); rescale that column")
        values = block[:, k]
        far = farthest(values, max(1, min(MAX_FAR_VALUES, len(values) // 100)))
        row = int(far[0])
        rests = stds_without(values, far)
        rest = rests[0]
        if len(values) > 2 and rest * MAX_ONE_VALUE_INFLATION < std[k]:
            held = f"{name}: the training block, row {row} (0-based) of {label} holds {values[row]:.6g}"
            if rest == 0:  # a sentinel, or a status flag that is set once: no error of the data
                raise DataError(f"{held}, and its other values are all {values[row - 1 if row else 1]:.6g}: a sentinel "
                                "value or a wrong unit (fix or remove it), or a status channel that changes once there "
                                "(leave it out: value_columns / ignore_columns)")
            raise DataError(f"{held}, and it makes the standard deviation {std[k] / rest:.3g} times that of the other "
                            "values, so they all standardise to about 0: a data error such as a sentinel value or a "
                            "wrong unit; fix or remove it")
        for m in range(2, len(far) + 1):  # rest 0: a status channel set a few times, warned of as nearly constant
            rest = rests[m - 1]
            if 0 < rest and rest * MAX_ONE_VALUE_INFLATION < std[k]:
                rows = sorted(int(r) for r in far[:m])
                listed, held = (" and ".join([", ".join(x[:-1]), x[-1]])
                                for x in ([str(r) for r in rows], [f"{values[r]:.6g}" for r in rows]))
                raise DataError(f"{name}: the training block, rows {listed} (0-based) of {label} hold {held}, and "
                                f"these {m} values make the standard deviation {std[k] / rest:.3g} times that of the "
                                "other values, so they all standardise to about 0: a data error such as a sentinel "
                                "value or a wrong unit; fix or remove them")
        # the farthest value written at more rows than those taken away above (-9999 for a missing reading): all its
        # copies together, where they lie farther from the other values than ten times those values' own level and
        # range; a few-valued channel (a status flag, a valve's position closed, open or nearly open), whose other
        # values are a few levels, and a state such as a pump's flow off (0) beside a steady 50, are no error
        copies = values == values[row]
        if copies.sum() > len(far) and not copies.all():
            others = values[~copies]
            rest = float(others.std())
            level = max(abs(float(others.mean())), float(np.ptp(others)))
            if 0 < rest and rest * MAX_ONE_VALUE_INFLATION < std[k] \
                    and abs(values[row] - others.mean()) > SENTINEL_DISTANCE * level \
                    and len(np.unique(others)) > MAX_FEW_VALUES:
                at = np.flatnonzero(copies)
                shown = ", ".join(str(int(r)) for r in at[:5]) + (", ..." if len(at) > 5 else "")
                raise DataError(f"{name}: the training block holds {values[row]:.6g} at {len(at)} rows of {label} "
                                f"(rows {shown}, 0-based), and these copies make the standard deviation "
                                f"{std[k] / rest:.3g} times that of the other values, so they all standardise to about "
                                "0: a sentinel value written for missing data, or a wrong unit; remove or fill those "
                                "rows")


def stds_without(values: np.ndarray, far: np.ndarray) -> np.ndarray:
    """The standard deviation of ``values`` without those at the first m indices of ``far``, for m = 1, 2, ...,
    len(far): the values without all of them copied once, then each added back by Welford's update, which stays
    exact beside a far value (a sum of squares would lose the rest's spread under a sentinel's square)."""
    rest = np.delete(values, far)
    count, mean = len(rest), float(rest.mean()) if len(rest) else 0.0
    squares = float(np.square(rest - mean).sum())
    stds = np.empty(len(far))
    for m in range(len(far), 0, -1):
        stds[m - 1] = math.sqrt(squares / count) if count else 0.0
        value = float(values[far[m - 1]])
        count += 1
        delta = value - mean
        mean += delta / count
        squares += delta * (value - mean)
    return stds


def farthest(values: np.ndarray, count: int) -> np.ndarray:
    """The indices of the ``count`` values of ``values`` farthest from their median, farthest first (the first of
    equally far ones first)."""
    distance = np.abs(values - np.median(values))
    count = min(count, len(values))
    top = np.argpartition(-distance, count - 1)[:count] if count < len(values) else np.arange(len(values))
    return top[np.lexsort((top, -distance[top]))]


def build_series(name, t_unit, raw, anomaly_idx, train_start, train_end, timestamps=None,
                 point_labels=None, pieces=None, channels=None) -> Series:
    """Standardise with the training block and cut the test pieces (shared by every source).

    ``pieces``: [(name, start, end)] of the test pieces; by default what lies before and after the
    training block.
    """
    raw = np.asarray(raw, dtype=np.float64)
    raw = raw[:, None] if raw.ndim == 1 else raw
    anomaly_idx = np.asarray(anomaly_idx, dtype=np.int64)
    n = len(raw)
    if not 0 <= train_start < train_end <= n:
        raise DataError(
            f"{name}: training block [{train_start}, {train_end}) does not fit a series of {n} points"
        )
    if not np.isfinite(raw).all():
        raise DataError(f"{name}: {int((~np.isfinite(raw)).sum())} NaN/inf values")
    block = raw[train_start:train_end]
    with np.errstate(over="ignore", invalid="ignore"):  # a spread that overflows float64: check_spread says so
        mean, std = block.mean(axis=0), block.std(axis=0)
    constant = flat_channels(block)
    if constant.any():
        names = channels or ([f"channel {k}" for k in range(raw.shape[1])] if raw.shape[1] > 1 else ["the value"])
        flat = ", ".join(repr(names[k]) if channels else names[k] for k in np.flatnonzero(constant))
        note = rounding_note(block, int(np.argmax(constant)))
        raise DataError(f"{name}: {flat} is constant over the training block [{train_start}, {train_end}) "
                        f"(std 0{' ' + note if note else ''}), so it cannot be standardised; drop that column "
                        "(value_columns / ignore_columns)")
    check_spread(name, block, mean, std, train_start, channels)
    with np.errstate(over="ignore"):  # a value standardised beyond float64 is inf: named below as too far out
        normalised = (raw - mean) / std
    if pieces is None:
        spans = [(s, e) for s, e in ((0, train_start), (train_end, n)) if e > s]
        pieces = [("test" if len(spans) == 1 else f"test_{k}", s, e) for k, (s, e) in enumerate(spans, 1)]
    if not pieces:
        raise DataError(f"{name}: no test data outside the training block [{train_start}, {train_end})")
    far = np.abs(normalised) > MAX_STANDARDISED
    if far.any():
        row, k = (int(i) for i in np.argwhere(far)[0])
        names = channels or [f"channel {c}" for c in range(raw.shape[1])]
        column = f" of {names[k]!r}" if raw.shape[1] > 1 or channels else ""
        where = next((f"test piece '{p}', row {row - s} (0-based)" for p, s, e in pieces if s <= row < e),
                     f"the training block, row {row - train_start} (0-based)" if train_start <= row < train_end
                     else f"point {row} (0-based)")
        raise DataError(f"{name}: {where}{column} holds {raw[row, k]:.6g}, {abs(normalised[row, k]):.3g} training "
                        f"standard deviations from the training mean ({int(far.sum())} value(s) beyond "
                        f"{MAX_STANDARDISED:.0e}): a data error such as a wrong unit or a sentinel value, and too "
                        "large for float32 scores; fix or remove it")
    test_pieces = []
    for piece_name, s, e in pieces:
        inside = anomaly_idx[(anomaly_idx >= s) & (anomaly_idx < e)]
        labels = None if point_labels is None else np.asarray(point_labels, bool)[s:e]
        test_pieces.append(TestPiece(piece_name, s, normalised[s:e], inside - s, labels))
    return Series(
        name, t_unit, raw, timestamps, train_start, train_end, mean, std, normalised, anomaly_idx, test_pieces,
        None if point_labels is None else np.asarray(point_labels, bool), None if channels is None else list(channels),
    )


def load_config_series(config, verbose: bool = True) -> Series:
    """The series of a config: a built-in name, or a CSV dataset spec (paths relative to the config file);
    ``verbose``: print which training block a CSV dataset uses."""
    if isinstance(config.dataset, str):
        return load_series(config.dataset)
    return load_csv_series(config.dataset, dataset_folders(config), announce=verbose)


def dataset_folders(config) -> list[Path]:
    """The folders a config's relative dataset paths are looked for in, in order: its file's (and a run folder's
    recorded one, ``config.config_folders``), the repository root, the working folder."""
    from .config import config_folders

    base_dirs = config_folders(config) + [REPO_ROOT, Path.cwd()]
    return list(dict.fromkeys(Path(d).resolve() for d in base_dirs))  # each folder once, in order


def load_csv_series(spec: dict, base_dirs: list[Path], t_unit: str = "row", data_dir: str | Path | None = None,
                    announce: bool = True) -> Series:
    """A CSV dataset object (a user's, or a built-in series') as a Series: one file split around its
    training block, or the training files first and then each test piece, laid end to end so that
    every index, figure and metric works alike.

    The sequence labels (``anomaly_idx``) are the label timestamps' rows when the labels give both
    timestamps and windows (NAB), with the first row of a test piece's labelled run that goes on from
    the training block (or into it, or from the file before) and holds none of them, else the first row
    of each run of labelled points. ``data_dir``: a
    NAB copy for ${NAB_DATA_DIR} paths (see `resolve_sources`); ``announce``: print the note on the
    training block.
    """
    from .csv_data import load_csv_dataset

    data = load_csv_dataset(resolve_sources(spec, data_dir), base_dirs)
    if announce:
        print(f"{data.name}: {data.train_block_note}")
    if data.full_values is not None:  # one file: training block inside it, test data around it
        raw, train_start, train_end = data.full_values, data.train_start, data.train_end
        labels = data.full_point_labels
        pieces = None
        timestamps = data.full_timestamps
        rows = data.full_anomaly_rows
        row_times = timestamps
        row_utc = np.full(len(raw), data.utc)
        file_rows = np.arange(len(raw))
        file_starts = (train_end,)  # a labelled run going on from the training block starts the piece after it too
    else:
        parts = [data.train] + [p["values"] for p in data.test_pieces]
        raw, train_start, train_end = np.concatenate(parts), 0, len(data.train)
        starts = np.cumsum([0] + [len(p) for p in parts])
        file_starts = starts[1:-1]  # where each test file begins (the training files come first)
        pieces = [(p["name"], int(starts[k + 1]), int(starts[k + 2])) for k, p in enumerate(data.test_pieces)]
        train_labels = data.train_point_labels if data.train_point_labels is not None else np.zeros(len(data.train), bool)
        labels = None if not data.has_labels else np.concatenate(
            [np.asarray(train_labels, bool)] + [np.asarray(p["point_labels"], bool) for p in data.test_pieces])
        timestamps = None  # the files' times need not follow each other: figures use the row index
        row_times = pieces_times(data.test_pieces, len(data.train))
        file_rows = np.concatenate([np.full(len(data.train), -1)]  # only the test rows are looked up in their files
                                   + [p["start"] + np.arange(len(p["values"])) for p in data.test_pieces])
        row_utc = np.concatenate([np.zeros(len(data.train), bool)]
                                 + [np.full(len(p["values"]), p.get("utc", False)) for p in data.test_pieces])
        rows = None if data.train_anomaly_rows is None else np.concatenate(
            [data.train_anomaly_rows] + [p["anomaly_rows"] + s for p, s in zip(data.test_pieces, starts[1:-1], strict=True)])
    if timestamps is not None and not np.issubdtype(np.asarray(timestamps).dtype, np.datetime64):
        timestamps = None  # a numeric time column: figures use the row index
    if labels is None:
        anomaly_idx = np.empty(0, np.int64)
    elif rows is None:
        anomaly_idx = segment_starts(labels, file_starts)
    else:
        tested = np.ones(len(labels), bool)
        tested[train_start:train_end] = False
        anomaly_idx = rows_and_cut_runs(labels, rows, (train_start, *file_starts), tested)
    series = build_series(data.name, t_unit, raw, anomaly_idx, train_start, train_end, timestamps,
                          labels, pieces, channels=data.channels)
    series.row_times, series.utc, series.row_utc, series.file_rows = row_times, data.utc, row_utc, file_rows
    return series


def pieces_times(test_pieces: list[dict], n_train: int) -> np.ndarray | None:
    """Each row's time when the test files have a time column: NaT (None for numbers) over the training
    files, then each test piece's own times; None when a piece has none."""
    times = [p["timestamps"] for p in test_pieces]
    if any(t is None for t in times):
        return None
    dated = all(np.issubdtype(np.asarray(t).dtype, np.datetime64) for t in times)
    if not dated and not all(np.issubdtype(np.asarray(t).dtype, np.number) for t in times):
        return None
    dtype = np.asarray(times[0]).dtype if dated else object  # numbers as they were read
    gap = np.full(n_train, np.datetime64("NaT") if dated else None, dtype)
    return np.concatenate([gap] + [np.asarray(t, None if dated else object) for t in times])


def segment_starts(labels: np.ndarray, file_starts=()) -> np.ndarray:
    """First index of each run of labelled points: the label timestamps of a point-labelled dataset. A run
    also starts at each of ``file_starts`` (where one file of files laid end to end begins) that is labelled:
    an anomaly at the start of a file is its own, even when the file before ends inside one."""
    y = np.asarray(labels, bool)
    starts = np.diff(np.concatenate(([0], y.astype(np.int8)))) == 1
    bounds = np.asarray(file_starts, np.int64)
    bounds = bounds[(bounds > 0) & (bounds < len(y))]
    starts[bounds] |= y[bounds]
    return np.flatnonzero(starts).astype(np.int64)


def rows_and_cut_runs(labels: np.ndarray, rows: np.ndarray, bounds, tested: np.ndarray) -> np.ndarray:
    """The label timestamps' ``rows``, and the first row of each labelled run in the ``tested`` rows that a bound cuts
    (``bounds``: where the training block or a file ends and another part begins) and that holds none of them: a
    window whose timestamp lies in the training block or file goes on into a test piece gives that piece an anomaly
    index at its first labelled row, as a label column does (`segment_starts`), so its sequence labels agree with
    its point labels. A run inside a piece keeps the rows it has (none for a repeat of times, time_order "file")."""
    y = np.asarray(labels, bool)
    n = len(y)
    cuts = np.asarray(bounds, np.int64)
    cuts = np.unique(cuts[(cuts > 0) & (cuts < n)])
    starts = segment_starts(y, cuts)
    normal = np.append(np.flatnonzero(~y), n)
    ends = np.minimum(normal[np.searchsorted(normal, starts)],  # [start, end) of each run, cut at the bounds
                      np.append(cuts, n)[np.searchsorted(cuts, starts, "right")])
    cut = (np.isin(starts, cuts) & y[starts - 1]) | (np.isin(ends, cuts) & y[np.minimum(ends, n - 1)])
    rows = np.asarray(rows, np.int64)
    held = np.searchsorted(starts, rows[y[rows]], "right") - 1  # the run of each labelled row
    added = starts[cut & ~np.isin(np.arange(len(starts)), held)]
    return np.union1d(rows, added[tested[added]]).astype(np.int64)


def resolve_sources(spec: dict, data_dir: str | Path | None = None) -> dict:
    """Paths that start with ${VAR} of a pinned source (datasets/series.json "sources"): from $VAR when
    set, else downloaded at the pinned commit, sha256-checked and cached.

    ${NAB_DATA_DIR}: a file listed under "nab" "files" is always sha256-checked (`nab_file`: from
    ``data_dir``, else $NAB_DATA_DIR, else downloaded); another file is taken from ``data_dir`` or
    $NAB_DATA_DIR as it is. Another source's local copy is checked likewise when the file is pinned."""
    spec = json.loads(json.dumps(spec))  # a deep copy
    full = load_spec()
    sources, pinned = full.get("sources", {}), full["nab"]["files"]

    def resolve(value):
        if isinstance(value, str) and value.strip().startswith("${"):  # spaces around it: as the reader strips them
            var, _, rel = value.strip()[2:].partition("}")
            rel = posixpath.normpath(rel.lstrip("/")) if rel.strip("/") else ""  # "./a//b.csv" is "a/b.csv", pinned
            if var == NAB_DATA_DIR_ENV:
                if rel in pinned or not (data_dir or os.environ.get(var)):
                    return str(nab_file(rel, data_dir))
                return str(local_root(data_dir, "data_dir") / rel) if data_dir else value  # as nab_file reads it
            if os.environ.get(var):
                local = local_root(os.environ[var], var) / rel
                sha = sources.get(var, {}).get("files", {}).get(rel)
                if sha and local.is_file():
                    check_pinned(local, sha, f"{var}'s pinned source at {sources[var]['commit'][:7]}: restore the "
                                             f"original file, or unset {var} to download it")
                return str(local) if local.is_file() else value  # read what was checked; else the reader's error
            if var in sources:
                return str(source_file(var, rel, sources[var]))
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    return resolve(spec)


def source_file(var: str, relpath: str, source: dict) -> Path:
    """One file of a pinned source, downloaded and sha-checked (the local copy route is ${VAR})."""
    sha = source["files"].get(relpath)
    if sha is None:
        raise DataError(f"{relpath} is not a file of {var}'s pinned source; set {var} to a local folder that holds it")
    copy = f"a local copy of {source['repository']} at {source['commit'][:7]}: the folder that holds {relpath}"
    return fetch(source["url"].format(commit=source["commit"], relpath=relpath),
                 CACHE_DIR / var.lower() / source["commit"][:7] / relpath, sha, relpath, f"set {var} to {copy}")
