import hashlib
import json
import os
import re
import socket

import numpy as np
import pytest

from vae_lstm import data_loader
from vae_lstm.data_loader import load_series, nab_file, series_names
from vae_lstm.errors import DataError

NAB_NAMES = ["ambient_temp", "cpu_utilization", "ec2_request", "machine_temp", "nyc_taxi"]


# ---- the real data against the paper's preprocessed files ----


@pytest.mark.nab
@pytest.mark.parametrize("name", NAB_NAMES)
def test_matches_paper_reference(name, nab_dir, paper_reference_dir, monkeypatch):
    monkeypatch.setenv(data_loader.NAB_DATA_DIR_ENV, str(nab_dir))
    ref = np.load(paper_reference_dir / f"{name}.npz", allow_pickle=True)
    s = load_series(name)

    np.testing.assert_array_equal(ref["readings"], s.raw[:, 0])
    assert s.raw.dtype == np.float64 and s.timestamps.dtype == np.dtype("datetime64[s]")
    assert str(ref["t_unit"]) == s.t_unit
    assert list(ref["idx_split"]) == [s.train_start, s.train_end]
    np.testing.assert_allclose(s.mean, ref["train_m"], rtol=1e-12)
    np.testing.assert_allclose(s.std, ref["train_std"], rtol=1e-12)
    np.testing.assert_allclose(s.train[:, 0], ref["training"])
    np.testing.assert_array_equal(ref["idx_anomaly"] - 1, s.anomaly_idx)

    two = s.train_start > 0
    ref_tests = list(ref["test"]) if two else [ref["test"]]
    ref_idx = list(ref["idx_anomaly_test"]) if two else [ref["idx_anomaly_test"]]
    assert [p.name for p in s.test_pieces] == (["test_1", "test_2"] if two else ["test"])
    for piece, values, idx in zip(s.test_pieces, ref_tests, ref_idx, strict=True):
        assert piece.values.dtype == np.float64 and piece.anomaly_idx.dtype == np.int64
        np.testing.assert_allclose(piece.values[:, 0], np.asarray(values, dtype=np.float64))
        np.testing.assert_array_equal(np.asarray(idx) - 1, piece.anomaly_idx)


def test_point_labels_from_anomaly_windows_include_both_ends(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch)
    s = load_series("tiny")
    assert np.flatnonzero(s.point_labels).tolist() == [1, 2, 8, 9]
    assert [np.flatnonzero(p.point_labels).tolist() for p in s.test_pieces] == [[1, 2], [1, 2]]  # pieces [0,3), [7,10)


@pytest.mark.nab
@pytest.mark.parametrize("name", NAB_NAMES)
def test_point_labels_on_real_data(name, nab_dir, monkeypatch):
    """Each NAB window is one run of labelled points, holds its label timestamp, and none is in training."""
    from vae_lstm.evaluation import segments

    monkeypatch.setenv(data_loader.NAB_DATA_DIR_ENV, str(nab_dir))
    s = load_series(name)
    key = data_loader.load_spec()["series"][name]["dataset"]["labels"]["key"]
    windows = json.loads((nab_dir / data_loader.WINDOWS).read_text())[key]
    runs = segments(s.point_labels)
    assert len(runs) == len(windows) >= 1
    assert s.point_labels[s.anomaly_idx].all()  # every label timestamp lies in a window
    assert not s.point_labels[s.train_start:s.train_end].any()
    assert sum(int(p.point_labels.sum()) for p in s.test_pieces) == int(s.point_labels.sum())


def test_synthetic_point_labels_mark_every_changed_point():
    from vae_lstm.evaluation import segments
    from vae_lstm.synthetic import make_synthetic

    s = load_series("synthetic")

    spec = data_loader.load_spec()["series"]["synthetic"]
    keys = ("length", "period", "noise", "train_end", "n_channel", "seed")
    no_anomaly, _, none = make_synthetic(**{k: spec[k] for k in keys}, n_anomalies=0)
    changed = (s.raw != no_anomaly).any(axis=1)
    assert not none.any()
    # a flat line may keep a point equal to its start value: labelled points include every changed one
    assert (s.point_labels | ~changed).all() and s.point_labels[changed].all()
    assert s.anomaly_idx.tolist() == [int(start) for start, _ in segments(s.point_labels)]


def test_series_names():
    assert set(series_names()) == {*NAB_NAMES, "synthetic", "synthetic_kinds", "synthetic_kinds_noisy"}


def test_spec_hashes_cover_every_csv():
    spec = data_loader.load_spec()
    for name in NAB_NAMES:
        dataset = spec["series"][name]["dataset"]
        paths = [dataset["path"], dataset["labels"]["timestamps"], dataset["labels"]["windows"]]
        for path in paths:
            assert path.startswith("${NAB_DATA_DIR}/")
            assert path.removeprefix("${NAB_DATA_DIR}/") in spec["nab"]["files"], path
    assert data_loader.LABELS in spec["nab"]["files"] and data_loader.WINDOWS in spec["nab"]["files"]


def test_built_in_nab_series_are_dataset_objects_of_the_users_form():
    """Each NAB series is a dataset object that the config schema accepts (as in a user's config)."""
    import jsonschema

    from vae_lstm.config import load_schema

    schema = load_schema()
    validator = jsonschema.Draft202012Validator({**schema["$defs"]["csv_dataset"], "$defs": schema["$defs"]})
    for name in NAB_NAMES:
        entry = data_loader.load_spec()["series"][name]
        assert set(entry) == {"dataset", "t_unit", "description"}
        validator.validate(entry["dataset"])
    assert data_loader.load_spec()["series"]["synthetic"]["source"] == "synthetic"


# Key figures of each built-in series as the NAB loader that read series.json's old "csv" entries
# gave them (recorded before it was replaced by the dataset objects): loading must not change them.
# name: (rows, train block, t_unit, anomaly_idx, labelled points, mean, std, test pieces
#        [(name, start, length, anomaly_idx in the piece, labelled points)], sha256[:16] of raw,
#        timestamps (int64 seconds) and point labels)
OLD_LOADER = {
    "ambient_temp": (7267, (0, 3300), "hour", [3721, 6180], 726, 72.04114695024849, 3.323831562717656,
                     [("test", 3300, 3967, [421, 2880], 726)],
                     ("e9c26443b1bae66a", "06bee6aa3e34729f", "6c65909db907e1f0")),
    "cpu_utilization": (18050, (0, 15500), "5 min", [17002, 17814], 1499, 37.479481070967736, 14.409621044208569,
                        [("test", 15500, 2550, [1502, 2314], 1499)],
                        ("d7b041eec8ea5d7d", "ad8679ccdcf75745", "a497733261385da8")),
    "ec2_request": (4032, (0, 2000), "5 min", [2081, 3395, 4023], 346, 45.107929999999996, 1.8774978516898493,
                    [("test", 2000, 2032, [81, 1395, 2023], 346)],
                    ("d4cd17748b19aabb", "dbab9a37118f4495", "65491e93c7e6a013")),
    "machine_temp": (22695, (5000, 15500), "5 min", [2409, 3986, 16340, 19515], 2268, 87.9338669247619,
                     7.570672927879337,
                     [("test_1", 0, 5000, [2409, 3986], 1134), ("test_2", 15500, 7195, [840, 4015], 1134)],
                     ("bc60006746de654b", "c8fdb00288cb2d2d", "60fb17fe5ab94c3e")),
    "nyc_taxi": (10320, (0, 5500), "30 min", [5942, 7183, 8526, 8834, 10080], 1035, 15233.591636363637,
                 6780.169900027516, [("test", 5500, 4820, [442, 1683, 3026, 3334, 4580], 1035)],
                 ("a9923784e8afd676", "a9dd8ffe8c695420", "89f6762f788b067b")),
}


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


@pytest.mark.nab
@pytest.mark.parametrize("name", NAB_NAMES)
def test_dataset_objects_give_the_old_loaders_series(name, nab_dir, monkeypatch):
    monkeypatch.setenv(data_loader.NAB_DATA_DIR_ENV, str(nab_dir))
    rows, block, t_unit, anomaly_idx, n_labelled, mean, std, pieces, shas = OLD_LOADER[name]
    s = load_series(name)
    assert (s.name, len(s.raw), (s.train_start, s.train_end), s.t_unit, s.channels) == (
        name, rows, block, t_unit, ["value"])
    assert s.anomaly_idx.dtype == np.int64 and s.anomaly_idx.tolist() == anomaly_idx
    assert s.point_labels.dtype == bool and int(s.point_labels.sum()) == n_labelled
    assert (float(s.mean[0]), float(s.std[0])) == (mean, std)
    assert [(p.name, p.start, len(p.values), p.anomaly_idx.tolist(), int(p.point_labels.sum()))
            for p in s.test_pieces] == pieces
    assert s.timestamps.dtype == np.dtype("datetime64[s]")
    assert (_sha(s.raw), _sha(s.timestamps.astype(np.int64)), _sha(s.point_labels)) == shas
    np.testing.assert_array_equal(s.normalised, (s.raw - s.mean) / s.std)


@pytest.mark.nab
def test_a_built_in_dataset_object_in_a_config_gives_the_same_series(nab_dir, monkeypatch):
    """The dataset object of series.json, used as a user's, loads the same data (under its file's name)."""
    monkeypatch.setenv(data_loader.NAB_DATA_DIR_ENV, str(nab_dir))
    built_in = load_series("machine_temp")
    own = data_loader.load_csv_series(data_loader.load_spec()["series"]["machine_temp"]["dataset"],
                                      [data_loader.REPO_ROOT])
    assert own.name == "machine_temperature_system_failure" and own.t_unit == "row"
    for field in ("raw", "timestamps", "anomaly_idx", "point_labels", "normalised"):
        np.testing.assert_array_equal(getattr(own, field), getattr(built_in, field))


# ---- a tiny fake NAB copy, to test rules and errors offline ----

STAMPS = [f"2020-01-01 {h:02d}:00:00" for h in range(10)]
VALUES = [1.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0, 2.0, 1.0, 9.0]
CSV = "data/realKnownCause/tiny.csv"


def fake_nab(
    tmp_path, monkeypatch, values=VALUES, labels=(STAMPS[1], STAMPS[9]), split=(3, 7), csv_text=None,
    windows=((STAMPS[1] + ".000000", STAMPS[2] + ".000000"), (STAMPS[8] + ".000000", STAMPS[9] + ".000000")),
):
    """Write a one-series NAB copy + series.json under tmp_path and point the loader at it."""
    root = tmp_path / "nab"
    (root / "data/realKnownCause").mkdir(parents=True)
    (root / "labels").mkdir()
    if csv_text is None:
        csv_text = "timestamp,value\n" + "".join(f"{t},{v}\n" for t, v in zip(STAMPS, values, strict=True))
    (root / CSV).write_text(csv_text)
    (root / data_loader.LABELS).write_text(json.dumps({"realKnownCause/tiny.csv": list(labels)}))
    (root / data_loader.WINDOWS).write_text(json.dumps({"realKnownCause/tiny.csv": [list(w) for w in windows]}))
    files = {p: hashlib.sha256((root / p).read_bytes()).hexdigest() for p in (CSV, data_loader.LABELS, data_loader.WINDOWS)}
    nab = "${NAB_DATA_DIR}/"
    dataset = {
        "path": nab + CSV, "time_column": "timestamp", "value_columns": ["value"],
        "labels": {"timestamps": nab + data_loader.LABELS, "windows": nab + data_loader.WINDOWS,
                   "key": "realKnownCause/tiny.csv"},
        "train_range": list(split),
    }
    spec = {
        "nab": {"repository": "x", "commit": "0" * 40, "files": files},
        "series": {"tiny": {"dataset": dataset, "t_unit": "hour", "description": "tiny"}},
    }
    spec_path = tmp_path / "series.json"
    spec_path.write_text(json.dumps(spec))
    monkeypatch.setattr(data_loader, "SPEC_PATH", spec_path)
    monkeypatch.setenv(data_loader.NAB_DATA_DIR_ENV, str(root))
    return root


def one_line_error(match, name="tiny", **kw):
    with pytest.raises(DataError, match=match) as info:
        load_series(name, **kw)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_tiny_middle_split(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch)
    s = load_series("tiny")
    block = np.array(VALUES[3:7])
    np.testing.assert_allclose(s.mean, [block.mean()])
    np.testing.assert_allclose(s.std, [block.std()])
    np.testing.assert_allclose(s.normalised[:, 0], (np.array(VALUES) - block.mean()) / block.std())
    np.testing.assert_array_equal(s.anomaly_idx, [1, 9])
    p1, p2 = s.test_pieces
    assert (p1.name, p1.start, len(p1.values), list(p1.anomaly_idx)) == ("test_1", 0, 3, [1])
    assert (p2.name, p2.start, len(p2.values), list(p2.anomaly_idx)) == ("test_2", 7, 3, [2])
    assert s.timestamps[0] == np.datetime64("2020-01-01T00:00:00")


def test_a_piece_holds_the_anomalies_inside_it_only():
    """Test pieces [0, 3) and [7, 10) around the training block [3, 7): the anomalies at 3 (the block's first point)
    and 7 (test_2's first) belong to no piece and to test_2 only, at its index 0. An anomaly at a piece's end
    counted as inside it gave test_1 an anomaly at index 3, past its last point."""
    s = data_loader.build_series("x", "row", np.sin(np.arange(10.0)), [1, 3, 7], 3, 7)
    assert [(p.name, p.start, p.anomaly_idx.tolist()) for p in s.test_pieces] == [("test_1", 0, [1]),
                                                                                  ("test_2", 7, [0])]


def test_tiny_prefix_split(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch, split=(0, 5))
    [p] = load_series("tiny").test_pieces
    assert (p.name, p.start, len(p.values), list(p.anomaly_idx)) == ("test", 5, 5, [4])


def test_data_dir_argument_wins_over_env(tmp_path, monkeypatch):
    root = fake_nab(tmp_path, monkeypatch)
    monkeypatch.setenv(data_loader.NAB_DATA_DIR_ENV, str(tmp_path / "nowhere"))
    assert load_series("tiny", data_dir=root).raw.shape == (10, 1)
    monkeypatch.delenv(data_loader.NAB_DATA_DIR_ENV)
    assert load_series("tiny", data_dir=root).anomaly_idx.tolist() == [1, 9]


def test_a_missing_nab_file_names_the_setting_that_points_at_the_copy(tmp_path, monkeypatch):
    """The message said "point NAB_DATA_DIR (or data_dir)" to every user, though data_dir is only an argument of
    load_series, which no config or command line sets: it names the one in use."""
    fake_nab(tmp_path, monkeypatch)
    relpath = CSV
    monkeypatch.setenv(data_loader.NAB_DATA_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as from_env:
        data_loader.nab_file(relpath)
    assert str(from_env.value) == (f"{tmp_path / 'nowhere' / relpath} not found; point NAB_DATA_DIR at a NAB copy "
                                   "with data/ and labels/")
    with pytest.raises(DataError) as from_argument:
        data_loader.nab_file(relpath, tmp_path / "elsewhere")
    assert str(from_argument.value) == (f"{tmp_path / 'elsewhere' / relpath} not found; point data_dir at a NAB copy "
                                        "with data/ and labels/")


def test_resolve_sources_nab_paths(tmp_path, monkeypatch):
    """${NAB_DATA_DIR}: a pinned file is sha-checked from data_dir (else the env); another is taken as is."""
    root = fake_nab(tmp_path, monkeypatch)
    other = "${NAB_DATA_DIR}/data/artificialNoAnomaly/x.csv"
    spec = {"path": "${NAB_DATA_DIR}/" + CSV, "test_files": [other]}
    assert data_loader.resolve_sources(spec) == {"path": str(root / CSV), "test_files": [other]}
    monkeypatch.setenv(data_loader.NAB_DATA_DIR_ENV, str(tmp_path / "nowhere"))
    resolved = data_loader.resolve_sources(spec, data_dir=root)
    assert resolved == {"path": str(root / CSV), "test_files": [str(root / "data/artificialNoAnomaly/x.csv")]}
    # with no copy, an unpinned file cannot be downloaded: the line says to set the variable
    monkeypatch.delenv(data_loader.NAB_DATA_DIR_ENV)
    with pytest.raises(DataError, match=r"artificialNoAnomaly/x.csv is not listed under nab.files .*set NAB_DATA_DIR"):
        data_loader.resolve_sources({"path": other})


def test_a_data_dir_from_home_holds_the_unpinned_files_as_the_pinned_ones(tmp_path, monkeypatch):
    """data_dir "~/nab": the pinned files were read from the home folder's nab/, another ${NAB_DATA_DIR} file from a
    folder named "~" under the working folder (not found)."""
    root = fake_nab(tmp_path, monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path / "nab" / "labels")
    spec = {"path": "${NAB_DATA_DIR}/" + CSV, "test_files": ["${NAB_DATA_DIR}/data/artificialNoAnomaly/x.csv"]}
    assert data_loader.resolve_sources(spec, data_dir="~/nab") == {
        "path": str(root / CSV), "test_files": [str(root / "data/artificialNoAnomaly/x.csv")]}


def test_a_changed_local_copy_of_a_pinned_source_is_one_line(tmp_path, monkeypatch):
    """${KLSE_DATA_DIR}/KLSE.csv from a local copy: checked against the sha256 that series.json pins, like NAB's."""
    good = b"Date,Close\n2023-01-02,1.0\n"
    spec = json.loads(data_loader.SPEC_PATH.read_text())
    spec["sources"]["KLSE_DATA_DIR"]["files"]["KLSE.csv"] = hashlib.sha256(good).hexdigest()
    spec_path = tmp_path / "series.json"
    spec_path.write_text(json.dumps(spec))
    monkeypatch.setattr(data_loader, "SPEC_PATH", spec_path)
    monkeypatch.setenv("KLSE_DATA_DIR", str(tmp_path))
    (tmp_path / "KLSE.csv").write_bytes(good)
    value = {"path": "${KLSE_DATA_DIR}/KLSE.csv", "other": "${KLSE_DATA_DIR}/mine.csv"}
    # the pinned file matches and is read where it was checked; an unpinned one is as it is
    assert data_loader.resolve_sources(value) == {**value, "path": str(tmp_path / "KLSE.csv")}
    (tmp_path / "KLSE.csv").write_bytes(good.replace(b"1.0", b"2.0"))
    # the folder as written, relative to the working folder or from ~: the check once skipped both
    monkeypatch.setenv("HOME", str(tmp_path.parent))
    monkeypatch.chdir(tmp_path.parent)
    for folder in (str(tmp_path), tmp_path.name, f"~/{tmp_path.name}"):
        monkeypatch.setenv("KLSE_DATA_DIR", folder)
        with pytest.raises(DataError, match="KLSE.csv has the wrong sha256.*KLSE_DATA_DIR's pinned source"):
            data_loader.resolve_sources(value)
    # the file's path spelt another way ("./", "//") is the same pinned file, checked the same
    for path in ("${KLSE_DATA_DIR}/./KLSE.csv", "${KLSE_DATA_DIR}//KLSE.csv"):
        with pytest.raises(DataError, match="KLSE.csv has the wrong sha256"):
            data_loader.resolve_sources({"path": path})


def test_a_pinned_source_path_with_spaces_around_it_is_still_checked_and_downloaded(tmp_path, monkeypatch):
    """The reader strips a path's spaces, but the sha256 check did not: " ${KLSE_DATA_DIR}/KLSE.csv" or a trailing
    space read a changed local copy unchecked, and with the variable unset said "KLSE_DATA_DIR is not set" (or "not a
    file of the pinned source") rather than downloading the file."""
    from vae_lstm import download

    (tmp_path / "KLSE.csv").write_bytes(b"Date,Close\n2023-01-02,1.0\n")  # not the pinned file
    monkeypatch.setenv("KLSE_DATA_DIR", str(tmp_path))
    for path in (" ${KLSE_DATA_DIR}/KLSE.csv", "${KLSE_DATA_DIR}/KLSE.csv ", "\t${KLSE_DATA_DIR}/KLSE.csv\n"):
        with pytest.raises(DataError, match="KLSE.csv has the wrong sha256.*KLSE_DATA_DIR's pinned source"):
            data_loader.resolve_sources({"path": path})

    def offline(url, timeout):
        raise download.urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    monkeypatch.setattr(data_loader, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.delenv("KLSE_DATA_DIR")
    for path in (" ${KLSE_DATA_DIR}/KLSE.csv", "${KLSE_DATA_DIR}/KLSE.csv "):
        with pytest.raises(DataError, match=r"^could not download KLSE.csv from https://raw.githubusercontent.com/"):
            data_loader.resolve_sources({"path": path})


def test_nab_labels_may_repeat_and_step_back_with_time_order_file(tmp_path, monkeypatch):
    """As in machine_temp/ec2_request: a label timestamp labels the first row that has it; windows go by time."""
    stamps = STAMPS[:6] + STAMPS[3:7]  # rows 6..9 repeat 03:00..06:00 after a step back
    csv_text = "timestamp,value\n" + "".join(f"{t},{v}\n" for t, v in zip(stamps, VALUES, strict=True))
    fake_nab(tmp_path, monkeypatch, csv_text=csv_text, labels=[STAMPS[4]], split=(0, 3),
             windows=[(STAMPS[4] + ".000000", STAMPS[5] + ".000000")])
    one_line_error("is earlier than row 5.*time_order")
    spec = json.loads(data_loader.SPEC_PATH.read_text())
    spec["series"]["tiny"]["dataset"]["time_order"] = "file"
    data_loader.SPEC_PATH.write_text(json.dumps(spec))
    s = load_series("tiny")
    assert s.anomaly_idx.tolist() == [4]
    assert np.flatnonzero(s.point_labels).tolist() == [4, 5, 7, 8]
    assert str(s.timestamps[7]) == "2020-01-01T04:00:00"


def test_nan_value(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch, values=[1.0, float("nan"), *VALUES[2:5], "", *VALUES[6:]])
    msg = one_line_error("'value' has 2 non-numeric, missing or infinite value")
    assert "tiny.csv" in msg and "row(s) 1, 5" in msg


def test_inf_value(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch, values=[*VALUES[:9], "inf"])
    one_line_error("'value' has 1 non-numeric, missing or infinite value")


def test_constant_training_block(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch, values=[7.0] * 10)
    one_line_error("constant")


@pytest.mark.parametrize("value", [7.0, 0.3])  # 0.3 ten times has a std of 5.6e-17, not 0
def test_build_series_names_a_constant_training_block(value):
    raw = np.r_[np.full(10, value), np.arange(5.0)]
    with pytest.raises(DataError, match=r"the value is constant over the training block \[0, 10\) \(std 0\)"):
        data_loader.build_series("s", "row", raw, [], 0, 10)


def test_build_series_names_a_block_constant_but_for_float64_rounding():
    """Rounding noise (5 and the float64 numbers either side of it) standardised to a signal of unit variance."""
    raw = np.r_[np.tile([5.0, np.nextafter(5.0, 6.0), np.nextafter(5.0, 4.0)], 4), np.arange(5.0)]
    with pytest.raises(DataError, match=r"the value is constant over the training block \[0, 12\) \(std 0 but for "
                                        r"float64 rounding: a spread of 1\.78e-15 at values near 5\)"):
        data_loader.build_series("s", "row", raw, [], 0, 12)


TOO_LARGE = r"^s: the value holds values too large to standardise over the training block \(their spread overflows float64\); rescale that column$"


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("raw, match", [
    (np.sin(np.arange(40) / 3.0) * 1e200, TOO_LARGE),
    (np.where(np.arange(40) % 2, 1e308, -1e308), TOO_LARGE),
    (np.r_[np.sin(np.arange(30) / 3.0) * 0.01, 1e308, np.zeros(9)],
     r"^s: test piece 'test', row 0 \(0-based\) holds 1e\+308, inf training standard deviations from the training mean"),
])
def test_build_series_names_values_too_large_to_standardise_without_numpy_warnings(raw, match):
    """The one line came after numpy's "RuntimeWarning: overflow encountered in square" (five warnings of overflow
    and invalid values in reduce and subtract for values of +-1e308; "overflow encountered in divide" for a test
    value that standardises beyond float64), which the line explains."""
    with pytest.raises(DataError, match=match):
        data_loader.build_series("s", "row", raw, [], 0, 30)


def test_build_series_names_values_too_small_to_standardise():
    """Values near 1e-170 have squared deviations that underflow to 0: a std of 0 made every standardised value inf,
    and the line called 0 a wrong unit or sentinel "inf training standard deviations" from the mean."""
    raw = np.sin(np.arange(40) / 3.0) * 1e-170
    with pytest.raises(DataError, match=r"^s: the value holds values too small to standardise over the training block "
                                        r"\(their spread underflows float64 to a standard deviation of 0\); rescale "
                                        r"that column$"):
        data_loader.build_series("s", "row", raw, [], 0, 30)
    assert data_loader.build_series("s", "row", raw * 1e20, [], 0, 30).std[0] > 0  # 1e-150 standardises


def test_a_status_channel_that_changes_once_in_the_training_block_is_not_only_called_a_data_error():
    """A 0/1 status column with one 1 in its training block was refused as "a data error such as a sentinel value or a
    wrong unit; fix or remove it", though the 1 is no error: the line now names leaving the channel out too."""
    raw = np.c_[np.sin(np.arange(40) / 3.0), np.r_[np.zeros(10), 1.0, np.zeros(29)]]
    with pytest.raises(DataError, match=r"^s: the training block, row 10 \(0-based\) of 'status' holds 1, and its other "
                                        r"values are all 0: a sentinel value or a wrong unit \(fix or remove it\), or a "
                                        r"status channel that changes once there \(leave it out: value_columns / "
                                        r"ignore_columns\)$"):
        data_loader.build_series("s", "row", raw, [], 0, 30, channels=["v", "status"])


def test_a_value_too_far_out_to_score_is_one_line(tmp_path, monkeypatch):
    """1e30 in the test data would square to inf in float32 scores: named at load, with its point."""
    fake_nab(tmp_path, monkeypatch, values=[*VALUES[:8], 1e30, 9.0])
    msg = one_line_error(re.escape("test piece 'test_2', row 1 (0-based) of 'value' holds 1e+30"))
    assert "training standard deviations" in msg
    fake_nab(tmp_path / "ok", monkeypatch, values=[*VALUES[:8], 1e9, 9.0])  # far, but scorable: loads
    assert np.isfinite(load_series("tiny").test_pieces[-1].values).all()


def test_a_sentinel_in_the_training_block_is_one_line(tmp_path, monkeypatch):
    """1e30 inside the training block would standardise every other value there to about 0 (and the test data
    with them); values whose spread overflows cannot be standardised at all. A spike that leaves the other
    values their spread loads."""
    fake_nab(tmp_path, monkeypatch, values=[*VALUES[:4], 1e30, *VALUES[5:]])
    msg = one_line_error(re.escape("the training block, row 1 (0-based) of 'value' holds 1e+30, and it makes the "
                                   "standard deviation 9.19e+29 times that of the other values"))  # 4.33e29 / std(4, 4, 3) = 0.471
    assert "sentinel" in msg
    fake_nab(tmp_path / "huge", monkeypatch, values=[v * 1e200 for v in VALUES])
    one_line_error("too large to standardise over the training block")
    fake_nab(tmp_path / "ok", monkeypatch, values=[*VALUES[:4], 400.0, *VALUES[5:]])  # std 364 times that of the rest: loads
    assert load_series("tiny").std[0] > 10


@pytest.mark.parametrize("rows, value", [((100, 300), 1e9), ((100, 150, 300), -9999.0)])
def test_a_sentinel_repeated_in_the_training_block_is_one_line(rows, value):
    """A sentinel written twice (1e9 at two rows) passed the one-value check, since the other copy kept the spread
    of the rest as large: every other value standardised to -0.063 within 2e-8, which float32 holds in 5 steps, and
    abs_z ranked a labelled +4 spike below random (VUS-PR 0.01). Three -9999 in 500 rows of sin make the std 1100
    times that of the other values. A few far values that leave the rest their spread load."""
    raw = np.sin(np.arange(600) / 3.0)
    raw[list(rows)] = value
    listed = " and ".join([", ".join(map(str, rows[:-1])), str(rows[-1])])
    held = re.escape(" and ".join([", ".join(f"{value:.6g}" for _ in rows[:-1]), f"{value:.6g}"]))
    with pytest.raises(DataError, match=rf"^s: the training block, rows {listed} \(0-based\) of 'v' hold {held}, and "
                                        rf"these {len(rows)} values make the standard deviation [0-9.e+]+ times that "
                                        r"of the other values, so they all standardise to about 0: a data error such "
                                        r"as a sentinel value or a wrong unit; fix or remove them$"):
        data_loader.build_series("s", "row", raw, [], 0, 500, channels=["v"])
    raw[list(rows)] = 400.0  # std 34 (two) or 42 (three) times that of the rest
    assert data_loader.build_series("s", "row", raw, [], 0, 500, channels=["v"]).std[0] > 10


def test_a_sentinel_written_at_many_rows_of_the_training_block_is_one_line():
    """-9999 for a missing reading at 12 of 500 rows (more than the 1% of far values taken away together) loaded:
    every other value standardised to within 0.2 of 0, the model trained on a flat line with spikes. All copies of
    the farthest value are taken away together: one line names it, how many rows and the first of them. A two-valued
    channel (a status flag), whose rest has no spread, loads."""
    raw = np.sin(np.arange(600) / 3.0)
    rows = np.arange(12) * 40 + 7
    raw[rows] = -9999.0
    with pytest.raises(DataError, match=r"^s: the training block holds -9999 at 12 rows of 'v' \(rows 7, 47, 87, 127, "
                                        r"167, ..., 0-based\), and these copies make the standard deviation [0-9.e+]+ "
                                        r"times that of the other values, so they all standardise to about 0: a "
                                        r"sentinel value written for missing data, or a wrong unit; remove or fill "
                                        r"those rows$"):
        data_loader.build_series("s", "row", raw, [], 0, 500, channels=["v"])
    flag = np.zeros(600)
    flag[rows] = 1.0
    assert data_loader.build_series("s", "row", flag, [], 0, 500, channels=["v"]).std[0] > 0
    # a valve's position, closed (0) at 40% of the rows, open (100) or nearly (99.9) at the rest: a few-valued
    # channel, whose farthest value repeats legitimately (std 49, 1,600 times that of the open rows' 0.03), loads
    valve = np.full(600, 100.0)
    valve[:240] = 0.0
    valve[np.arange(5) * 60 + 250] = 99.9
    assert data_loader.build_series("s", "row", valve, [], 0, 500, channels=["v"]).std[0] > 40
    # a pump's flow, off (0) at 40% of the rows and held at 50 +- 0.02 at the rest: its off value is no farther from
    # the on rows than their own level, so it is a state, not a sentinel (std 24.5, 1,700 times the on rows')
    pump = 50.0 + 0.02 * np.sin(np.arange(600) / 3.0)
    pump[:240] = 0.0
    assert data_loader.build_series("s", "row", pump, [], 0, 500, channels=["v"]).std[0] > 20


def test_the_spread_without_the_farthest_values_is_numpys_and_exact_beside_a_sentinel():
    """check_spread's standard deviations of a block without its m farthest values, from one copy of the block (a
    copy and a std per m took a 1,000,000-row, 8-channel block 0.86 s against 0.39 s): the same as NumPy's of each
    remainder, also where a sum of squares would lose the rest's spread under a sentinel's square."""
    values = np.sin(np.arange(500) / 3.0) * 1e-3 + 5.0
    values[[7, 70, 300]] = [1e9, -1e9, 2e8]
    far = data_loader.farthest(values, 5)
    assert list(far[:3]) == [70, 7, 300]  # -1e9 is 10 farther from the median (5) than 1e9
    want = [np.delete(values, far[:m]).std() for m in range(1, 6)]
    np.testing.assert_allclose(data_loader.stds_without(values, far), want, rtol=1e-9)
    assert want[2] < 1e-3 < want[1]  # the three sentinels away: the sine's spread alone
    flat = np.full(50, 3.0)
    flat[[4, 9]] = 8.0
    assert list(data_loader.stds_without(flat, data_loader.farthest(flat, 3))[1:]) == [0.0, 0.0]  # exactly 0: a status channel


def test_missing_column(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch, csv_text="timestamp,val\n" + "".join(f"{t},1\n" for t in STAMPS))
    one_line_error("missing value column 'value'")


def test_label_matches_no_row(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch, labels=["2020-01-01 01:00:00", "1999-01-01 00:00:00"])
    one_line_error("1999-01-01 00:00:00 match no row")


def test_split_outside_series(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch, split=(0, 50))
    one_line_error("does not fit")


def test_sha_mismatch(tmp_path, monkeypatch):
    root = fake_nab(tmp_path, monkeypatch)
    (root / CSV).write_text((root / CSV).read_text().replace("9.0", "9.5"))
    one_line_error("wrong sha256")


def test_a_local_copy_with_windows_line_endings_is_named(tmp_path, monkeypatch):
    """A NAB clone made by git with core.autocrlf (Git for Windows' default) has CRLF line ends: every file failed
    the sha256 check with "restore the original file", though it was the original but for its line ends."""
    root = fake_nab(tmp_path, monkeypatch)
    path = root / CSV
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert one_line_error("CRLF") == (
        f"{path} has Windows line ends (CRLF), as a git clone with core.autocrlf writes them; with LF ends it has the "
        "pinned sha256 (NAB commit 0000000: restore the original file, or unset NAB_DATA_DIR to download it): convert "
        "it (dos2unix), or clone with 'git -c core.autocrlf=false clone'")


def test_missing_file_in_empty_dir(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(data_loader.NAB_DATA_DIR_ENV, str(empty))
    msg = one_line_error("not found")
    assert str(empty / CSV) in msg and data_loader.NAB_DATA_DIR_ENV in msg


def test_unknown_series_lists_names():
    msg = one_line_error("unknown dataset", name="nope")
    assert all(n in msg for n in NAB_NAMES)
    assert "did you mean 'synthetic'?" in one_line_error("unknown dataset", name="synthetc")


@pytest.mark.parametrize("name", ["ecg5000", "ECG500"])
def test_a_misspelt_segment_dataset_is_suggested(name):
    """"ecg5000" (as reproduce.py writes the experiment) listed only the series, as if ECG5000 were not a dataset."""
    assert one_line_error("unknown", name=name) == (
        f"unknown dataset {name!r} (the config's \"dataset\"); did you mean 'ECG5000'? valid names: ambient_temp, "
        "cpu_utilization, ec2_request, machine_temp, nyc_taxi, synthetic, synthetic_kinds, synthetic_kinds_noisy, "
        "ECG5000 (independent segments: run it with 'python3 codes/reproduce.py ecg5000'), or a dataset object for "
        "your own CSV")


def test_download_failure_is_one_line(monkeypatch, tmp_path, file_server):
    url, _ = file_server({})  # every path is a 404
    monkeypatch.setattr(data_loader, "NAB_RAW_URL", url + "/{commit}/{relpath}")
    monkeypatch.setattr(data_loader, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.delenv(data_loader.NAB_DATA_DIR_ENV, raising=False)
    msg = one_line_error("could not download data/realKnownCause/nyc_taxi.csv of NAB", name="nyc_taxi")
    assert "(Not Found)" in msg and data_loader.NAB_DATA_DIR_ENV in msg


def test_an_offline_download_of_a_source_says_which_folder_to_set(tmp_path, monkeypatch):
    """Offline, SKAB's message said only "set SKAB_DATA_DIR to a local copy": not of what, nor which folder of it
    (SKAB's files lie under its data/ folder)."""
    from vae_lstm import download

    def offline(url, timeout):
        raise download.urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    monkeypatch.setattr(data_loader, "CACHE_DIR", tmp_path)
    monkeypatch.delenv("SKAB_DATA_DIR", raising=False)
    with pytest.raises(DataError) as info:
        data_loader.resolve_sources({"path": "${SKAB_DATA_DIR}/valve1/0.csv"})
    commit = data_loader.load_spec()["sources"]["SKAB_DATA_DIR"]["commit"]
    assert str(info.value) == (
        f"could not download valve1/0.csv from https://raw.githubusercontent.com/waico/SKAB/{commit}/data/valve1/0.csv "
        "(Name or service not known); set SKAB_DATA_DIR to a local copy of https://github.com/waico/SKAB at "
        f"{commit[:7]}: the folder that holds valve1/0.csv")


def test_nab_downloads_at_the_pinned_commit_into_the_cache(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(data_loader, "fetch", lambda *args: calls.append(args) or args[1])
    monkeypatch.delenv(data_loader.NAB_DATA_DIR_ENV, raising=False)
    relpath = "data/realKnownCause/nyc_taxi.csv"
    spec = data_loader.load_spec()["nab"]
    assert nab_file(relpath) == data_loader.CACHE_DIR / "nab" / spec["commit"][:7] / relpath
    [(url, dest, sha, _, remedy)] = calls
    assert url == f"https://raw.githubusercontent.com/numenta/NAB/{spec['commit']}/{relpath}"
    assert dest == data_loader.CACHE_DIR / "nab" / spec["commit"][:7] / relpath and sha == spec["files"][relpath]
    assert data_loader.NAB_DATA_DIR_ENV in remedy


@pytest.mark.nab
def test_a_relative_or_home_nab_data_dir_is_checked_and_read_at_one_place(nab_dir, tmp_path, monkeypatch):
    """The sha256 check and the reader both take the folder relative to the working folder, with ~ expanded
    (the reader looked for a relative one under the repository, and failed after the check had passed)."""
    monkeypatch.chdir(nab_dir.parent)
    monkeypatch.setenv(data_loader.NAB_DATA_DIR_ENV, nab_dir.name)
    assert len(load_series("nyc_taxi").raw) == 10320
    monkeypatch.setenv("HOME", str(nab_dir.parent))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(data_loader.NAB_DATA_DIR_ENV, f"~/{nab_dir.name}")
    assert len(load_series("nyc_taxi").raw) == 10320


@pytest.fixture
def file_server():
    """serve({path: bytes or callable(handler)}) -> (base url, the request paths seen); other paths are 404."""
    import http.server
    import threading

    servers = []

    def serve(files: dict):
        seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.path)
                body = files.get(self.path)
                if callable(body):
                    body = body(self)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", seen

    yield serve
    for server in servers:
        server.shutdown()


def test_fetch_checks_the_sha256_caches_and_leaves_nothing_bad(tmp_path, file_server):
    from vae_lstm.download import fetch

    good, bad = b"a,b\n1,2\n" * 1000, b"a,b\n1,3\n" * 1000
    sha = hashlib.sha256(good).hexdigest()
    url, seen = file_server({"/good.csv": good, "/bad.csv": bad})
    dest = tmp_path / "cache" / "sub" / "f.csv"
    assert fetch(f"{url}/good.csv", dest, sha, "f.csv", "set X") == dest and dest.read_bytes() == good
    assert fetch(f"{url}/good.csv", dest, sha, "f.csv", "set X") == dest and seen == ["/good.csv"]  # cached
    other = tmp_path / "cache" / "g.csv"
    with pytest.raises(DataError, match=r"g.csv downloaded from .* has sha256 .*not the pinned.*; set X$"):
        fetch(f"{url}/bad.csv", other, sha, "g.csv", "set X")
    assert sorted(p.name for p in other.parent.iterdir()) == ["g.csv.lock", "sub"]  # no bad or partial file
    dest.write_bytes(good[:-1])  # a damaged cached copy is fetched again
    assert fetch(f"{url}/good.csv", dest, sha, "f.csv", "set X").read_bytes() == good and len(seen) == 3
    umask = os.umask(0o022)
    try:  # readable by others, as any new file (a temporary file is the owner's only)
        shared = fetch(f"{url}/good.csv", tmp_path / "cache" / "shared.csv", sha, "f.csv", "set X")
    finally:
        os.umask(umask)
    assert shared.stat().st_mode & 0o777 == 0o644


def test_a_download_off_a_terminal_says_what_it_downloads(tmp_path, file_server, capsys):
    """The download bar is a terminal's only: into a log (CI, nohup, | tee) a download, up to minutes on a slow
    network, printed nothing, and a stalled one left the log at the line before it. One line says what comes from
    where, with its size; a cached copy says nothing."""
    from vae_lstm.download import fetch

    data = b"a,b\n1,2\n" * 1000
    url, _ = file_server({"/f.csv": data})
    dest = tmp_path / "f.csv"
    for _ in range(2):
        fetch(f"{url}/f.csv", dest, hashlib.sha256(data).hexdigest(), "f.csv of X", "set X")
    assert capsys.readouterr() == ("", f"downloading f.csv of X from {url}/f.csv (8,000 bytes)\n")


def test_fetch_turns_a_broken_http_reply_into_one_line(tmp_path):
    """A reply that is not HTTP raised http.client's BadStatusLine, which is no OSError: a traceback."""
    import socket
    import threading

    from vae_lstm.download import fetch

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def garbage():
        conn, _ = listener.accept()
        conn.recv(1024)
        conn.sendall(b"garbage\r\n\r\n")
        conn.close()

    threading.Thread(target=garbage, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/f.csv"
    with pytest.raises(DataError, match=r"could not download f.csv from .*; set X$"):
        fetch(url, tmp_path / "f.csv", "0" * 64, "f.csv", "set X")
    listener.close()


def test_fetch_reads_a_good_cached_copy_without_writing_and_names_a_cache_it_cannot_write(tmp_path):
    """A cache of good files is read as it is (it may be read-only: no lock, no download); a cache folder that
    cannot be made is one line (Keras's download fell back to ~/.keras or /tmp/.keras without a word)."""
    from vae_lstm.download import fetch

    data = b"x,y\n"
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / "f.csv").write_bytes(data)
    assert fetch("http://127.0.0.1:9/f.csv", tmp_path / "f.csv", sha, "f.csv", "set X") == tmp_path / "f.csv"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv"]
    with pytest.raises(DataError) as info:
        fetch("http://127.0.0.1:9/g.csv", tmp_path / "f.csv" / "g.csv", sha, "g.csv", "set X")
    assert str(info.value) == (f"could not keep g.csv in the download cache {tmp_path / 'f.csv'} ([Errno 17] File "
                               f"exists: '{tmp_path / 'f.csv'}'): make that folder writable, with free space, or set X")


@pytest.mark.parametrize("code", ["ENOSPC", "EIO", "EFBIG", "EDQUOT", "EROFS"])
def test_a_full_disk_mid_download_is_named_as_such(tmp_path, monkeypatch, code):
    """A disk that fills mid-download said "could not download ... (No space left on device)", as if the network had
    failed, and pointed only at the local-copy variable; so did a failing disk (EIO) or a file too large for it
    (EFBIG): any error writing the part file is the cache folder's."""
    import errno
    import io
    import os

    from vae_lstm import download

    class Reply(io.BytesIO):
        headers = {}

    from conftest import WrappedFile

    class Full(WrappedFile):
        def write(self, chunk):
            raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)))

    real = download.tempfile.NamedTemporaryFile
    monkeypatch.setattr(download.tempfile, "NamedTemporaryFile", lambda **kw: Full(real(**kw)))
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: Reply(b"a,b\n"))
    with pytest.raises(DataError) as info:
        download.fetch("http://x/f.csv", tmp_path / "f.csv", "0" * 64, "f.csv", "set X")
    number = getattr(errno, code)
    assert str(info.value) == (f"could not keep f.csv in the download cache {tmp_path} ([Errno {number}] "
                               f"{os.strerror(number)}): make that folder writable, with free space, or set X")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv.lock"]  # no part file left


def test_a_tls_error_mid_download_is_the_networks_not_the_caches(tmp_path, monkeypatch):
    """A TLS record that fails its check mid-download (a flaky proxy or link: ssl.SSLError, numbered SSL_ERROR_SSL = 1,
    as EPERM is) said "could not keep f.csv in the download cache ...: make that folder writable, with free space",
    sending the user to a disk that was fine."""
    import io
    import ssl

    from vae_lstm import download

    class Reply(io.BytesIO):
        headers = {}

        def read1(self, size=-1):  # as ssl raises it: its number, text and reason
            error = ssl.SSLError(ssl.SSL_ERROR_SSL, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed or "
                                                    "bad record mac (_ssl.c:2580)")
            error.library, error.reason = "SSL", "DECRYPTION_FAILED_OR_BAD_RECORD_MAC"
            raise error

    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: Reply())
    with pytest.raises(DataError) as info:
        download.fetch("https://x/f.csv", tmp_path / "f.csv", "0" * 64, "f.csv", "set X")
    assert str(info.value) == "could not download f.csv from https://x/f.csv (DECRYPTION_FAILED_OR_BAD_RECORD_MAC); set X"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv.lock"]  # no part file left

def test_fetch_gives_up_on_a_server_that_stalls(tmp_path, file_server, monkeypatch):
    import time

    from vae_lstm import download

    monkeypatch.setattr(download, "TIMEOUT_S", 0.5)
    url, _ = file_server({"/slow.csv": lambda handler: time.sleep(3)})
    started = time.perf_counter()
    with pytest.raises(DataError, match="could not download slow.csv .*timed out.*; set X"):
        download.fetch(f"{url}/slow.csv", tmp_path / "slow.csv", "0" * 64, "slow.csv", "set X")
    assert time.perf_counter() - started < 2.5


def test_fetch_gives_up_on_a_server_that_trickles_bytes(tmp_path, file_server, monkeypatch):
    """A server that sends a byte now and then, never TIMEOUT_S apart, kept a download going for as long as it
    liked (a read of a chunk waited for the whole chunk): the download has a deadline, and says so in one line."""
    import time

    from vae_lstm import download

    def trickle(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "60")
        handler.end_headers()
        try:
            for _ in range(60):  # 3 s in all
                handler.wfile.write(b"x")
                time.sleep(0.05)
        except OSError:  # the client gave up
            pass
        handler.send_error = lambda *args, **kwargs: None  # nothing more to send
        return None

    monkeypatch.setattr(download, "TIMEOUT_S", 0.5)
    monkeypatch.setattr(download, "DEADLINE_S", 1)
    url, _ = file_server({"/trickle.csv": trickle})
    started = time.perf_counter()
    with pytest.raises(DataError) as info:
        download.fetch(f"{url}/trickle.csv", tmp_path / "trickle.csv", "0" * 64, "trickle.csv", "set X")
    assert time.perf_counter() - started < 2.5
    assert str(info.value) == (f"could not download trickle.csv from {url}/trickle.csv (not whole after 1 s: the "
                               "server sends it too slowly); set X")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trickle.csv.lock"]  # no part file left


def test_an_interrupted_download_says_it_was_downloading_and_leaves_no_part(tmp_path, file_server, monkeypatch):
    """Ctrl-C mid-download said "resume from the last finished epoch", though nothing had trained."""
    from vae_lstm import download
    from vae_lstm.errors import Interrupted

    def interrupted(url, timeout):
        raise KeyboardInterrupt

    monkeypatch.setattr(download.urllib.request, "urlopen", interrupted)
    with pytest.raises(Interrupted, match="while downloading f.csv; run the same command again to download it"):
        download.fetch("http://127.0.0.1:9/f.csv", tmp_path / "f.csv", "0" * 64, "f.csv", "set X")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv.lock"]


def test_a_damaged_cached_copy_that_cannot_be_fetched_again_is_named(tmp_path, monkeypatch):
    """Offline, a cached file cut short (a full disk, an edit) said only "could not download", though the same
    command had run offline before: the message says the cached copy is what changed."""
    from vae_lstm import download

    def offline(url, timeout):
        raise download.urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    dest = tmp_path / "f.csv"
    message = "could not download f.csv from http://x/f.csv (Name or service not known); set X"
    with pytest.raises(DataError) as empty:
        download.fetch("http://x/f.csv", dest, "0" * 64, "f.csv", "set X")
    assert str(empty.value) == message
    dest.write_bytes(b"a,b\n1,")
    with pytest.raises(DataError) as damaged:
        download.fetch("http://x/f.csv", dest, "0" * 64, "f.csv", "set X")
    assert str(damaged.value) == f"the cached copy {dest} does not have the pinned sha256, and {message}"
    assert dest.read_bytes() == b"a,b\n1,"  # left for the next download to replace


def test_a_download_removes_the_part_file_of_a_killed_one(tmp_path, file_server):
    """A process killed (SIGKILL, power cut) mid-download leaves its part file; the next download of that file,
    under the same lock, removes it, so part files do not pile up in the cache. Another file's part (g.csv, f.csv.gz) stays."""
    from vae_lstm.download import fetch

    good = b"a,b\n1,2\n" * 100
    url, _ = file_server({"/f.csv": good})
    dest = tmp_path / "f.csv"
    for stale in ("f.csv.k1ll3d.part", "g.csv.0th3r.part", "f.csv.gz.0th3r.part"):
        (tmp_path / stale).write_bytes(good[:10])
    assert fetch(f"{url}/f.csv", dest, hashlib.sha256(good).hexdigest(), "f.csv", "set X").read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv", "f.csv.gz.0th3r.part", "f.csv.lock",
                                                          "g.csv.0th3r.part"]


def test_two_processes_fetching_at_once_download_once_and_read_the_whole_file(tmp_path, file_server):
    """The first holds the lock while a slow server sends; the second waits, then finds the finished file.
    Before, the second truncated the first's half-written file, and one of them read a cut CSV."""
    import subprocess
    import sys
    import time

    body = b"t,v\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(20000))
    sha = hashlib.sha256(body).hexdigest()

    def slowly(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for k in range(0, len(body), len(body) // 8):
            handler.wfile.write(body[k:k + len(body) // 8])
            handler.wfile.flush()
            time.sleep(0.15)
        return None

    url, seen = file_server({"/f.csv": lambda handler: slowly(handler) or b""})
    code = ("import sys; from pathlib import Path; from vae_lstm.download import fetch; "
            f"p = fetch('{url}/f.csv', Path(sys.argv[1]), '{sha}', 'f.csv', 'set X'); print(len(p.read_bytes()))")
    dest = tmp_path / "cache" / "f.csv"
    first = subprocess.Popen([sys.executable, "-c", code, str(dest)], stdout=subprocess.PIPE, text=True)
    time.sleep(0.4)
    second = subprocess.Popen([sys.executable, "-c", code, str(dest)], stdout=subprocess.PIPE, text=True)
    outputs = [p.communicate(timeout=60)[0].strip() for p in (first, second)]
    assert outputs == [str(len(body))] * 2 and seen == ["/f.csv"]


@pytest.mark.nab
def test_sequence_labels_on_real_data_are_not_shifted(nab_dir):
    """ambient_temp's first label is test index 421 (the paper's 1-based 422). With span 168 the
    anomalous sequence starts are exactly 254..421; the original notebook's off-by-one also flagged 422."""
    from vae_lstm.evaluation import sequence_labels

    series = load_series("ambient_temp", data_dir=nab_dir)
    piece = series.test_pieces[0]
    assert piece.anomaly_idx[0] == 421
    assert str(series.timestamps[piece.start + 421]) == "2013-12-22T20:00:00"
    span = 168
    labels = sequence_labels(piece.anomaly_idx[:1], len(piece.values) - span + 1, span)
    np.testing.assert_array_equal(np.flatnonzero(labels), np.arange(421 - span + 1, 422))


def test_a_synthetic_series_whose_kinds_are_one_string_is_refused_naming_that_string(tmp_path, monkeypatch):
    """"kinds": "spike" in series.json reached make_synthetic as ('s', 'p', 'i', 'k', 'e'), and the line quoted
    those letters as the kinds given, not the string."""
    from vae_lstm.errors import ConfigError

    spec = json.loads(data_loader.SPEC_PATH.read_text())
    spec["series"]["synthetic"]["kinds"] = "spike"
    spec_path = tmp_path / "series.json"
    spec_path.write_text(json.dumps(spec))
    monkeypatch.setattr(data_loader, "SPEC_PATH", spec_path)
    with pytest.raises(ConfigError, match=r"synthetic: kinds must be some of spike, .*; got 'spike'$"):
        load_series("synthetic")


def test_a_cache_on_a_file_system_without_file_locks_is_one_line(tmp_path, monkeypatch):
    """filelock 3 raises NotImplementedError where the file system has no flock (some network mounts): one line
    naming the cache folder, not a traceback."""
    import filelock

    from vae_lstm.download import fetch

    def no_flock(self, *args, **kwargs):
        raise NotImplementedError("FileSystem does not appear to support flock; use SoftFileLock instead")

    monkeypatch.setattr(filelock.FileLock, "acquire", no_flock)
    with pytest.raises(DataError) as info:
        fetch("http://127.0.0.1:9/f.csv", tmp_path / "f.csv", "0" * 64, "f.csv", "set X")
    assert str(info.value) == (f"could not lock the download cache {tmp_path}: its file system does not support "
                               "file locks (FileSystem does not appear to support flock; use SoftFileLock instead); "
                               "put the checkout on a local disk, or set X")


def test_a_download_that_waits_for_another_processs_lock_says_so(tmp_path, monkeypatch, capsys):
    """A second command on an empty cache waited, without a word, for as long as the first one's download (or a
    first one stopped with Ctrl-Z) held the file's lock: it looked hung. It says what it waits for, then reads the
    file the first one finished."""
    import io
    import threading
    import time

    import filelock

    from vae_lstm import download

    data = b"a,b\n1,2\n"
    dest = tmp_path / "f.csv"

    class Reply(io.BytesIO):
        headers = {}

    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: Reply(data))
    held = filelock.FileLock(f"{dest}.lock")
    held.acquire()
    (tmp_path / "f.csv.lock.pid").write_text("4242\n")  # the holder's PID, as a download writes it while it holds
    waiting = threading.Thread(target=download.fetch,
                               args=("http://x/f.csv", dest, hashlib.sha256(data).hexdigest(), "f.csv", "set X"))
    waiting.start()
    for _ in range(100):
        if "waiting" in (err := capsys.readouterr().err):
            break
        time.sleep(0.02)
    else:
        held.release()
        waiting.join()
        pytest.fail("no line while waiting for the lock")
    # named like the other locks' lines (a run folder's, a summary folder's): which process to wait for, or stop
    assert err == (f"waiting for another process (PID 4242) to finish downloading f.csv (it holds {dest}.lock; "
                   "Ctrl-C to stop)\n")
    dest.write_bytes(data)  # the other process's download
    (tmp_path / "f.csv.lock.pid").unlink()
    held.release()
    waiting.join(timeout=10)
    assert not waiting.is_alive() and dest.read_bytes() == data

    dest.unlink()  # a download writes its PID beside the lock while it holds it, and removes it after
    pids = []
    monkeypatch.setattr(download.urllib.request, "urlopen",
                        lambda url, timeout: pids.append((tmp_path / "f.csv.lock.pid").read_text()) or Reply(data))
    download.fetch("http://x/f.csv", dest, hashlib.sha256(data).hexdigest(), "f.csv", "set X")
    assert pids == [f"{os.getpid()} {socket.gethostname()}\n"] and not (tmp_path / "f.csv.lock.pid").exists()
