import hashlib
import json

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
    key = "realKnownCause/" + data_loader.load_spec()["series"][name]["csv"].split("/")[-1]
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
    assert set(series_names()) == {*NAB_NAMES, "synthetic"}


def test_spec_hashes_cover_every_csv():
    spec = data_loader.load_spec()
    for s in spec["series"].values():
        if s["source"] == "nab":
            assert s["csv"] in spec["nab"]["files"]
    assert data_loader.LABELS in spec["nab"]["files"] and data_loader.WINDOWS in spec["nab"]["files"]


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
    spec = {
        "nab": {"repository": "x", "commit": "0" * 40, "files": files},
        "series": {
            "tiny": {
                "source": "nab",
                "csv": CSV,
                "t_unit": "hour",
                "train_start": split[0],
                "train_end": split[1],
            }
        },
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


def test_tiny_prefix_split(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch, split=(0, 5))
    [p] = load_series("tiny").test_pieces
    assert (p.name, p.start, len(p.values), list(p.anomaly_idx)) == ("test", 5, 5, [4])


def test_data_dir_argument_wins_over_env(tmp_path, monkeypatch):
    root = fake_nab(tmp_path, monkeypatch)
    monkeypatch.setenv(data_loader.NAB_DATA_DIR_ENV, str(tmp_path / "nowhere"))
    assert load_series("tiny", data_dir=root).raw.shape == (10, 1)


def test_nan_value(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch, values=[1.0, float("nan"), *VALUES[2:5], "", *VALUES[6:]])
    msg = one_line_error("2 NaN")
    assert "tiny.csv" in msg


def test_inf_value(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch, values=[*VALUES[:9], "inf"])
    one_line_error("1 NaN/inf")


def test_constant_training_block(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch, values=[7.0] * 10)
    one_line_error("constant")


def test_missing_column(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch, csv_text="timestamp,val\n" + "".join(f"{t},1\n" for t in STAMPS))
    one_line_error("missing column.*value")


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


def test_missing_file_in_empty_dir(tmp_path, monkeypatch):
    fake_nab(tmp_path, monkeypatch)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(data_loader.NAB_DATA_DIR_ENV, str(empty))
    msg = one_line_error("not found")
    assert str(empty / CSV) in msg and data_loader.NAB_DATA_DIR_ENV in msg


def test_unknown_series_lists_names():
    msg = one_line_error("unknown series", name="nope")
    assert all(n in msg for n in NAB_NAMES)


def test_download_failure_is_one_line(monkeypatch):
    keras = pytest.importorskip("keras")

    def boom(**kw):
        raise Exception("URL fetch failure on https://x: None -- [Errno -3]\nTemporary failure")

    monkeypatch.setattr(keras.utils, "get_file", boom)
    monkeypatch.delenv(data_loader.NAB_DATA_DIR_ENV, raising=False)
    msg = one_line_error("could not download data/realKnownCause/nyc_taxi.csv", name="nyc_taxi")
    assert data_loader.NAB_DATA_DIR_ENV in msg


def test_download_arguments(tmp_path, monkeypatch):
    keras = pytest.importorskip("keras")
    calls = []
    target = tmp_path / "f.csv"
    target.write_text("x")

    def fake_get_file(**kw):
        calls.append(kw)
        return str(target)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    monkeypatch.delenv(data_loader.NAB_DATA_DIR_ENV, raising=False)
    relpath = "data/realKnownCause/nyc_taxi.csv"
    assert nab_file(relpath) == target
    [kw] = calls
    spec = data_loader.load_spec()["nab"]
    assert kw["origin"] == f"https://raw.githubusercontent.com/numenta/NAB/{spec['commit']}/{relpath}"
    assert kw["fname"] == "nyc_taxi.csv" and kw["file_hash"] == spec["files"][relpath]
    assert kw["hash_algorithm"] == "sha256" and kw["cache_dir"] == str(data_loader.CACHE_DIR)
    assert not kw["cache_subdir"].startswith("/")


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
