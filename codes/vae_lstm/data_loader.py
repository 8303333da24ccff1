"""Get the NAB files (local copy or download) and cut each series into the paper's splits.

Rules (see datasets/series.json for the per-series facts): the CSV `value` column in file
order, no resampling; anomalies are the rows whose timestamp equals a NAB label (0-based);
standardise with the training block's mean and population std; the test data is what lies
before and after the training block.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .synthetic import make_synthetic

NAB_DATA_DIR_ENV = "NAB_DATA_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO_ROOT / "datasets" / "series.json"
CACHE_DIR = REPO_ROOT / "datasets" / "cache"
NAB_RAW_URL = "https://raw.githubusercontent.com/numenta/NAB/{commit}/{relpath}"
LABELS = "labels/combined_labels.json"
WINDOWS = "labels/combined_windows.json"


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

    @property
    def train(self) -> np.ndarray:
        return self.normalised[self.train_start : self.train_end]

    @property
    def n_channel(self) -> int:
        return self.raw.shape[1]


def load_spec() -> dict:
    """The parsed datasets/series.json (read on every call; it is tiny)."""
    return json.loads(Path(SPEC_PATH).read_text())


def series_names() -> list[str]:
    return list(load_spec()["series"])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def nab_file(relpath: str, data_dir: str | Path | None = None) -> Path:
    """Path to a NAB file: from `data_dir` or $NAB_DATA_DIR if set, else downloaded and cached."""
    nab = load_spec()["nab"]
    sha = nab["files"].get(relpath)
    if sha is None:
        raise DataError(f"{relpath} is not listed under nab.files in {SPEC_PATH}")
    root = data_dir or os.environ.get(NAB_DATA_DIR_ENV)
    if root:
        path = Path(root) / relpath
        if not path.is_file():
            raise DataError(
                f"{path} not found; point {NAB_DATA_DIR_ENV} (or data_dir) at a NAB copy with data/ and labels/"
            )
        if _sha256(path) != sha:
            raise DataError(f"{path} has the wrong sha256 (expected {sha}, NAB commit {nab['commit'][:7]})")
        return path
    return _download(relpath, sha, nab["commit"])


def _download(relpath: str, sha: str, commit: str) -> Path:
    import keras  # slow import, only needed here

    rel = Path(relpath)
    try:
        path = keras.utils.get_file(
            fname=rel.name,
            origin=NAB_RAW_URL.format(commit=commit, relpath=relpath),
            file_hash=sha,
            hash_algorithm="sha256",
            cache_dir=str(CACHE_DIR),
            cache_subdir=str(Path("nab") / commit[:7] / rel.parent),
        )
    except Exception as e:  # network, HTTP or hash errors alike
        why = " ".join(str(e).split()) or type(e).__name__
        raise DataError(
            f"could not download {relpath} from NAB ({why}); "
            f"set {NAB_DATA_DIR_ENV} to a local NAB copy (folder with data/ and labels/)"
        ) from e
    return Path(path)


def load_series(name: str, data_dir: str | Path | None = None) -> Series:
    """Load one series from datasets/series.json, normalised and split as in the paper."""
    specs = load_spec()["series"]
    if name not in specs:
        raise DataError(f"unknown series {name!r}; valid names: {', '.join(specs)}")
    spec = specs[name]
    loaders = {"nab": _load_nab, "synthetic": _load_synthetic}
    if spec.get("source") not in loaders:
        raise DataError(f"series {name!r} has unknown source {spec.get('source')!r} in {SPEC_PATH}")
    raw, anomaly_idx, timestamps, point_labels = loaders[spec["source"]](spec, data_dir)
    return build_series(
        name, spec["t_unit"], raw, anomaly_idx, spec["train_start"], spec["train_end"], timestamps, point_labels
    )


def _load_synthetic(spec: dict, data_dir=None):
    keys = ("length", "period", "noise", "n_anomalies", "train_end", "n_channel", "seed")
    raw, anomaly_idx, point_labels = make_synthetic(**{k: spec[k] for k in keys})
    return raw, anomaly_idx, None, point_labels


def _load_nab(spec: dict, data_dir=None):
    relpath = spec["csv"]
    path = nab_file(relpath, data_dir)
    stamps, raw = read_nab_csv(path)
    labels = json.loads(nab_file(LABELS, data_dir).read_text())
    key = Path(relpath).relative_to("data").as_posix()  # "realKnownCause/<file>.csv"
    if key not in labels:
        raise DataError(f"{LABELS} has no labels for {key}")
    anomaly_idx = label_rows(stamps, labels[key], path)
    try:
        timestamps = pd.to_datetime(stamps, format="%Y-%m-%d %H:%M:%S").to_numpy().astype("datetime64[s]")
    except ValueError as e:
        raise DataError(f"{path}: bad timestamp ({' '.join(str(e).split())})") from e
    windows = json.loads(nab_file(WINDOWS, data_dir).read_text())
    if key not in windows:
        raise DataError(f"{WINDOWS} has no anomaly windows for {key}")
    return raw, anomaly_idx, timestamps, window_rows(timestamps, windows[key], path)


def window_rows(timestamps: np.ndarray, windows: list, path: Path) -> np.ndarray:
    """(N,) bool: rows whose timestamp lies in a NAB anomaly window [start, end], both ends included."""
    try:
        bounds = pd.to_datetime([b for w in windows for b in w]).to_numpy().astype("datetime64[s]")
    except ValueError as e:
        raise DataError(f"{path}: bad anomaly window timestamp in {WINDOWS} ({' '.join(str(e).split())})") from e
    bounds = bounds.reshape(-1, 2)
    inside = (timestamps[:, None] >= bounds[None, :, 0]) & (timestamps[:, None] <= bounds[None, :, 1])
    return inside.any(axis=1)


def read_nab_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Timestamp strings (N,) and values (N, 1) float64 of a NAB CSV, in file order."""
    try:
        df = pd.read_csv(path, dtype={"timestamp": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot parse CSV ({' '.join(str(e).split())})") from e
    missing = {"timestamp", "value"} - set(df.columns)
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(sorted(missing))}; found {', '.join(df.columns)}"
        )
    if df["timestamp"].isna().any():
        raise DataError(f"{path}: {int(df['timestamp'].isna().sum())} empty timestamps")
    values = pd.to_numeric(df["value"], errors="coerce").to_numpy(dtype=np.float64)
    bad = int((~np.isfinite(values)).sum())
    if bad:
        raise DataError(f"{path}: {bad} NaN/inf or non-numeric values in column 'value'")
    return df["timestamp"].to_numpy(dtype=str), values[:, None]


def label_rows(stamps: np.ndarray, labels: list[str], path: Path) -> np.ndarray:
    """0-based row of each label timestamp (first row if a timestamp repeats)."""
    first = {}
    for i, s in enumerate(stamps):
        first.setdefault(s, i)
    unknown = [lab for lab in labels if lab not in first]
    if unknown:
        raise DataError(f"{path}: label timestamp(s) {', '.join(unknown)} match no row")
    return np.sort(np.array([first[lab] for lab in labels], dtype=np.int64))


def build_series(name, t_unit, raw, anomaly_idx, train_start, train_end, timestamps=None,
                 point_labels=None, pieces=None) -> Series:
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
    mean, std = block.mean(axis=0), block.std(axis=0)
    if (std == 0).any():
        raise DataError(f"{name}: training block [{train_start}, {train_end}) is constant (std 0)")
    normalised = (raw - mean) / std
    if pieces is None:
        spans = [(s, e) for s, e in ((0, train_start), (train_end, n)) if e > s]
        pieces = [("test" if len(spans) == 1 else f"test_{k}", s, e) for k, (s, e) in enumerate(spans, 1)]
    if not pieces:
        raise DataError(f"{name}: no test data outside the training block [{train_start}, {train_end})")
    test_pieces = []
    for piece_name, s, e in pieces:
        inside = anomaly_idx[(anomaly_idx >= s) & (anomaly_idx < e)]
        labels = None if point_labels is None else np.asarray(point_labels, bool)[s:e]
        test_pieces.append(TestPiece(piece_name, s, normalised[s:e], inside - s, labels))
    return Series(
        name, t_unit, raw, timestamps, train_start, train_end, mean, std, normalised, anomaly_idx, test_pieces,
        None if point_labels is None else np.asarray(point_labels, bool),
    )


def dataset_name(dataset) -> str:
    """A dataset's name: a built-in series name, or a CSV spec's ``name`` (default: its file's stem)."""
    if isinstance(dataset, str):
        return dataset
    if dataset.get("name"):
        return str(dataset["name"])
    path = dataset.get("path") or (dataset.get("test_files") or ["dataset"])[0]
    return Path(str(path)).stem


def load_config_series(config) -> Series:
    """The series of a config: a built-in name, or a CSV dataset spec (paths relative to the config file)."""
    if isinstance(config.dataset, str):
        return load_series(config.dataset)
    base_dirs = [config.source.parent] if config.source else []
    return load_csv_series(config.dataset, base_dirs + [REPO_ROOT])


def load_csv_series(spec: dict, base_dirs: list[Path]) -> Series:
    """A user's CSV dataset as a Series: the training block (or training files) first, then each test
    piece, laid end to end so that every index, figure and metric works as for the built-in series."""
    from .csv_data import load_csv_dataset

    data = load_csv_dataset(resolve_sources(spec), base_dirs)
    print(f"{data.name}: {data.train_block_note}")
    if data.full_values is not None:  # one file: training block inside it, test data around it
        raw, train_start, train_end = data.full_values, data.train_start, data.train_end
        labels = data.full_point_labels
        pieces = None
        timestamps = data.full_timestamps
    else:
        parts = [data.train] + [p["values"] for p in data.test_pieces]
        raw, train_start, train_end = np.concatenate(parts), 0, len(data.train)
        starts = np.cumsum([0] + [len(p) for p in parts])
        pieces = [(p["name"], int(starts[k + 1]), int(starts[k + 2])) for k, p in enumerate(data.test_pieces)]
        train_labels = data.train_point_labels if data.train_point_labels is not None else np.zeros(len(data.train), bool)
        labels = None if not data.has_labels else np.concatenate(
            [np.asarray(train_labels, bool)] + [np.asarray(p["point_labels"], bool) for p in data.test_pieces])
        timestamps = None
    if timestamps is not None and not np.issubdtype(np.asarray(timestamps).dtype, np.datetime64):
        timestamps = None  # a numeric time column: figures use the row index
    anomaly_idx = np.empty(0, np.int64) if labels is None else segment_starts(labels)
    return build_series(data.name, "row", raw, anomaly_idx, train_start, train_end, timestamps,
                        labels, pieces)


def segment_starts(labels: np.ndarray) -> np.ndarray:
    """First index of each run of labelled points: the label timestamps of a point-labelled dataset."""
    y = np.asarray(labels, bool).astype(np.int8)
    return np.flatnonzero(np.diff(np.concatenate(([0], y))) == 1).astype(np.int64)


def resolve_sources(spec: dict) -> dict:
    """Paths that start with ${VAR} of a pinned source (datasets/series.json "sources"): from $VAR when
    set, else downloaded at the pinned commit, sha256-checked and cached; NAB_DATA_DIR uses the NAB files."""
    spec = json.loads(json.dumps(spec))  # a deep copy
    sources = load_spec().get("sources", {})

    def resolve(value):
        if isinstance(value, str) and value.startswith("${"):
            var, _, rel = value[2:].partition("}")
            rel = rel.lstrip("/")
            if os.environ.get(var):
                return value
            if var == NAB_DATA_DIR_ENV:
                return str(nab_file(rel))
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
    import keras  # slow import, only needed here

    sha = source["files"].get(relpath)
    if sha is None:
        raise DataError(f"{relpath} is not a file of {var}'s pinned source; set {var} to a local copy")
    try:
        return Path(keras.utils.get_file(
            fname=Path(relpath).name, origin=source["url"].format(commit=source["commit"], relpath=relpath),
            file_hash=sha, hash_algorithm="sha256", cache_dir=str(CACHE_DIR),
            cache_subdir=str(Path(var.lower()) / source["commit"][:7] / Path(relpath).parent)))
    except Exception as e:  # network, HTTP or hash errors alike
        why = " ".join(str(e).split()) or type(e).__name__
        raise DataError(f"could not download {relpath} ({why}); set {var} to a local copy") from e
