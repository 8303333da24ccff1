"""CSV datasets: reading, column choice, labels, training blocks and one-line errors on bad data."""

import csv
import gzip
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from vae_lstm import csv_data
from vae_lstm.config import from_dict
from vae_lstm.csv_data import load_csv_dataset
from vae_lstm.errors import DataError

REPO = Path(__file__).resolve().parents[1]


def write_csv(folder: Path, name: str, header: list[str], rows: list[list], sep: str = ",") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sep.join(header) + "\n" + "".join(sep.join(str(v) for v in r) + "\n" for r in rows))
    return path


def stamps(n: int, start_hour: int = 0) -> list[str]:
    return [f"2020-01-{1 + (start_hour + h) // 24:02d} {(start_hour + h) % 24:02d}:00:00" for h in range(n)]


def series(folder: Path, name: str = "s.csv", n: int = 20, labels=None, sep: str = ",") -> Path:
    """time, a, b (and anomaly): a = row number, b = its square; `labels` are the labelled rows."""
    header = ["time", "a", "b"] + (["anomaly"] if labels is not None else [])
    rows = [[t, i, i * i] + ([int(i in labels)] if labels is not None else [])
            for i, t in enumerate(stamps(n))]
    return write_csv(folder, name, header, rows, sep)


def load(spec: dict, folder: Path):
    return load_csv_dataset(spec, [folder])


def one_line_error(spec: dict, folder: Path, *needles: str) -> str:
    with pytest.raises(DataError) as info:
        load(spec, folder)
    msg = str(info.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"
    return msg


# ----------------------------------------------------------------------------- reading


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_separator_is_detected(tmp_path, sep):
    series(tmp_path, n=10, sep=sep)
    d = load({"path": "s.csv", "time_column": "time", "train_points": 5}, tmp_path)
    assert d.channels == ["a", "b"]
    np.testing.assert_array_equal(d.full_values[:, 1], np.arange(10) ** 2)
    assert d.full_timestamps[3] == np.datetime64("2020-01-01T03:00:00")


def test_semicolon_file_with_decimal_points_and_explicit_sep(tmp_path):
    write_csv(tmp_path, "s.csv", ["t", "x", "y"], [[i, i + 0.5, 2 * i + 0.25] for i in range(6)], sep=";")
    auto = load({"path": "s.csv", "time_column": "t"}, tmp_path)
    given = load({"path": "s.csv", "time_column": "t", "sep": ";"}, tmp_path)
    assert auto.channels == given.channels == ["x", "y"]
    np.testing.assert_array_equal(auto.full_values, given.full_values)
    np.testing.assert_array_equal(auto.full_values[:, 0], np.arange(6) + 0.5)
    assert auto.full_timestamps.tolist() == list(range(6))  # a numeric time column stays numeric


def test_default_value_columns_leave_out_time_label_text_index_and_ignored(tmp_path):
    rows = [[i, stamps(8)[i], i, 10 - i, "ok", i % 3, int(i == 6), ""] for i in range(8)]
    write_csv(tmp_path, "s.csv", ["", "time", "a", "b", "status", "cp", "anomaly", "spare"], rows)
    d = load({"path": "s.csv", "time_column": "time", "labels": {"column": "anomaly"},
              "ignore_columns": ["cp"]}, tmp_path)
    assert d.channels == ["a", "b"]
    note = d.train_block_note
    assert "'status' (not numeric)" in note and "column 1 (no header)" in note and "'spare' (empty)" in note
    assert "Unnamed" not in note  # pandas' name for it, which the file never wrote
    d = load({"path": "s.csv", "value_columns": ["b"]}, tmp_path)
    assert d.channels == ["b"] and d.full_values[:, 0].tolist() == [10 - i for i in range(8)]


def test_label_column_gives_point_labels(tmp_path):
    series(tmp_path, n=10, labels={7, 8})
    d = load({"path": "s.csv", "labels": {"column": "anomaly"}, "train_points": 5}, tmp_path)
    assert d.channels == ["a", "b"] and d.has_labels
    assert np.flatnonzero(d.full_point_labels).tolist() == [7, 8]
    [p] = d.test_pieces
    assert p["name"] == "test" and np.flatnonzero(p["point_labels"]).tolist() == [2, 3]


def test_a_damaged_labels_file_names_the_place_as_every_damaged_json_file_does(tmp_path):
    series(tmp_path, n=10)
    (tmp_path / "labels.json").write_text('{"s.csv": [1,')
    msg = one_line_error({"path": "s.csv", "train_points": 5, "labels": {"timestamps": "labels.json"}}, tmp_path)
    assert msg == f"{tmp_path / 'labels.json'}: not valid JSON: Expecting value at line 1, column 14"


@pytest.mark.parametrize("kind", ["timestamps", "windows"])
def test_a_labels_file_that_gives_one_entry_twice_is_refused(tmp_path, kind):
    """JSON keeps the last of two entries of one name: an emptied copy below the file's labels would drop them all."""
    series(tmp_path, n=10)
    t = stamps(10)
    entry = json.dumps([t[7]] if kind == "timestamps" else [[t[7], t[8]]])
    (tmp_path / "labels.json").write_text(f'{{"s.csv": {entry}, "s.csv": []}}')
    one_line_error({"path": "s.csv", "time_column": "time", "train_points": 5, "labels": {kind: "labels.json"}},
                   tmp_path, "labels.json: entry 's.csv' is given twice")


def test_a_0_1_label_like_column_is_not_read_as_a_channel_unless_asked(tmp_path):
    series(tmp_path, n=10, labels={7, 8})
    one_line_error({"path": "s.csv", "train_points": 5}, tmp_path,
                   "column 'anomaly' holds only 0 and 1", '"labels": {"column": "anomaly"}', "value_columns")
    # with labels from a timestamps file, a leftover 0/1 'anomaly' column is not taken as a channel either
    (tmp_path / "labels.json").write_text(json.dumps([7]))
    one_line_error({"path": "s.csv", "train_points": 5, "labels": {"timestamps": "labels.json"}}, tmp_path,
                   "column 'anomaly' holds only 0 and 1", "ignore_columns to leave it out", "value_columns")
    d = load({"path": "s.csv", "train_points": 5, "labels": {"timestamps": "labels.json"},
              "ignore_columns": ["anomaly"]}, tmp_path)
    assert d.channels == ["a", "b"] and np.flatnonzero(d.full_point_labels).tolist() == [7]
    # named so but not 0/1, or 0/1 but named otherwise, or asked for: read as data
    d = load({"path": "s.csv", "train_points": 8, "value_columns": ["a", "anomaly"]}, tmp_path)
    assert d.channels == ["a", "anomaly"]
    write_csv(tmp_path, "f.csv", ["a", "flag"], [[i, int(i == 7)] for i in range(10)])
    assert load({"path": "f.csv", "train_points": 8}, tmp_path).channels == ["a", "flag"]
    write_csv(tmp_path, "g.csv", ["a", "label"], [[i, i % 3] for i in range(10)])
    assert load({"path": "g.csv", "train_points": 5}, tmp_path).channels == ["a", "label"]


def test_a_0_1_label_like_column_left_unread_by_value_columns_is_named_in_the_note(tmp_path):
    """value_columns without labels leaves a file's 0/1 'anomaly' column unread: the run has no labels (no metric,
    the leading half trained on, its anomalies too), which the note says, with how to read it as labels."""
    series(tmp_path, n=10, labels={2, 3})
    d = load({"path": "s.csv", "value_columns": ["a", "b"]}, tmp_path)
    assert not d.has_labels and (d.train_start, d.train_end) == (0, 5)
    assert ("s.csv: column 'anomaly' holds only 0 and 1, like anomaly labels, and is not read, so the run has no "
            'labels: give "labels": {"column": "anomaly"} to score against it, or list it in ignore_columns') in d.train_block_note
    # left out on purpose, read as labels, or labels given another way: no such note
    for extra in ({"ignore_columns": ["anomaly"]}, {"labels": {"column": "anomaly"}}):
        assert "like anomaly labels" not in load({"path": "s.csv", "value_columns": ["a", "b"], **extra},
                                                 tmp_path).train_block_note


def test_an_increasing_column_named_like_a_time_or_an_index_is_not_read_as_a_channel_unless_asked(tmp_path):
    """Epoch seconds without time_column, or a saved row index, would become a ramp the model trains on."""
    write_csv(tmp_path, "e.csv", ["timestamp", "a"], [[1709251200 + 60 * i, i % 3] for i in range(10)])
    one_line_error({"path": "e.csv"}, tmp_path, "e.csv: column 'timestamp' only increases, like times or a row "
                   'index: give "time_column": "timestamp" to read it as the time, list it in ignore_columns to leave '
                   "it out, or list the channels in value_columns to read it as data")
    assert load({"path": "e.csv", "time_column": "timestamp"}, tmp_path).channels == ["a"]
    assert load({"path": "e.csv", "value_columns": ["timestamp", "a"]}, tmp_path).channels == ["timestamp", "a"]
    series(tmp_path, "s.csv", n=10)
    write_csv(tmp_path, "i.csv", ["Index", "time", "a"], [[i, t, i % 3] for i, t in enumerate(stamps(10))])
    msg = one_line_error({"path": "i.csv", "time_column": "time"}, tmp_path, "column 'Index' only increases")
    assert "time_column" not in msg  # the file has its time column
    assert load({"path": "i.csv", "time_column": "time", "ignore_columns": ["Index"]}, tmp_path).channels == ["a"]
    # increasing but named otherwise (a meter's reading), or named so but not increasing: read as data
    write_csv(tmp_path, "m.csv", ["meter_kwh", "id"], [[100 + i, i % 2] for i in range(10)])
    assert load({"path": "m.csv"}, tmp_path).channels == ["meter_kwh", "id"]


@pytest.mark.parametrize("name", ["timestamp_ms", "epoch_ms", "unix_ts", "Time (s)", "time_s", "DateTime", "UnixTime",
                                  "elapsed_time", "t", "sample_index", "row_id", "timestamps", "Times", "Dates",
                                  "sample_ids", "Indices"])
def test_an_increasing_column_whose_name_holds_a_time_or_index_word_is_not_read_as_a_channel(tmp_path, name):
    """Only a column named exactly like a time or an index (timestamp, index) was refused: epoch milliseconds in
    'timestamp_ms', 'unix_ts' or 'Time (s)' became a ramp channel, standardised on the training block, so that every
    later row lay far out and was flagged, without a word."""
    write_csv(tmp_path, "e.csv", [name, "a"], [[1709251200000 + 60000 * i, i % 3] for i in range(10)], sep=";")
    one_line_error({"path": "e.csv"}, tmp_path, f"e.csv: column {name!r} only increases, like times or a row index",
                   f'give "time_column": "{name}"')
    assert load({"path": "e.csv", "value_columns": [name, "a"]}, tmp_path).channels == [name, "a"]


def test_nab_windows_json_labels_both_ends(tmp_path):
    series(tmp_path, "data/s.csv", n=12)
    t = stamps(12)
    windows = {"realKnownCause/s.csv": [[t[3], t[5]], [t[9] + ".000000", t[9]]], "other/x.csv": [[t[0], t[11]]]}
    (tmp_path / "windows.json").write_text(json.dumps(windows))
    d = load({"path": "data/s.csv", "time_column": "time", "labels": {"windows": "windows.json"},
              "train_range": [0, 3]}, tmp_path)
    assert np.flatnonzero(d.full_point_labels).tolist() == [3, 4, 5, 9]
    d = load({"path": "data/s.csv", "time_column": "time", "train_range": [0, 3],
              "labels": {"windows": "windows.json", "key": "other/x.csv"}}, tmp_path)
    assert d.full_point_labels[3:].all()


def test_nab_timestamps_json_label_rows_and_unmatched_stamp(tmp_path):
    series(tmp_path, n=12)
    t = stamps(12)
    (tmp_path / "labels.json").write_text(json.dumps({"k": [t[4], t[10]]}))
    spec = {"path": "s.csv", "time_column": "time", "labels": {"timestamps": "labels.json", "key": "k"}}
    assert np.flatnonzero(load(spec, tmp_path).full_point_labels).tolist() == [4, 10]
    (tmp_path / "labels.json").write_text(json.dumps({"k": [t[4], t[10]]}), encoding="utf-8-sig")  # a BOM, as
    assert np.flatnonzero(load(spec, tmp_path).full_point_labels).tolist() == [4, 10]  # some editors save
    (tmp_path / "labels.json").write_text(json.dumps({"k": [t[4], t[10]]}), encoding="utf-16")  # Notepad's "Unicode"
    assert np.flatnonzero(load(spec, tmp_path).full_point_labels).tolist() == [4, 10]
    (tmp_path / "labels.json").write_text(json.dumps({"k": [t[4], "1999-01-01 00:00:00"]}))
    one_line_error(spec, tmp_path, "labels.json", "1999-01-01 00:00:00 match no row")
    # a key the file lacks, and an entry that is one time rather than a list of them
    one_line_error({**spec, "labels": {"timestamps": "labels.json", "key": "K"}}, tmp_path, "labels.json: no entry 'K'")
    (tmp_path / "labels.json").write_text(json.dumps({"k": t[4]}))
    one_line_error(spec, tmp_path, "labels.json: entry 'k' must be a list of timestamps, got str")


def test_label_entries_of_files_with_one_name_are_told_apart_by_their_folders(tmp_path):
    """Two test files a/run.csv and b/run.csv, each with its own entry: each file takes the entry its path ends in."""
    series(tmp_path, "train.csv", n=12)
    for folder in ("a", "b"):
        series(tmp_path, f"{folder}/run.csv", n=12)
    t = stamps(12)
    (tmp_path / "windows.json").write_text(json.dumps({"a/run.csv": [[t[2], t[3]]], "b/run.csv": [[t[7], t[7]]]}))
    spec = {"train_files": ["train.csv"], "test_files": ["a/run.csv", "b/run.csv"], "time_column": "time",
            "labels": {"windows": "windows.json"}}
    d = load(spec, tmp_path)
    assert {p["name"]: np.flatnonzero(p["point_labels"]).tolist() for p in d.test_pieces} == {
        "a_run": [2, 3], "b_run": [7]}
    # entries whose folders name neither file: one line that says how to name them
    (tmp_path / "windows.json").write_text(json.dumps({"x/run.csv": [[t[2], t[3]]], "y/run.csv": [[t[7], t[7]]]}))
    one_line_error(spec, tmp_path, "several entries match run.csv (x/run.csv, y/run.csv)",
                   "by the file's folder and name, e.g. 'a/run.csv'")


def test_a_label_entry_that_names_one_files_folder_is_not_taken_by_another_file_of_that_name(tmp_path):
    """train/run.csv, a/run.csv and b/run.csv with one entry "a/run.csv": all three took a's labels, silently."""
    for folder in ("train", "a", "b"):
        series(tmp_path, f"{folder}/run.csv", n=12)
    t = stamps(12)
    (tmp_path / "windows.json").write_text(json.dumps({"a/run.csv": [[t[7], t[8]]]}))
    spec = {"train_files": ["train/run.csv"], "test_files": ["a/run.csv", "b/run.csv"], "time_column": "time",
            "labels": {"windows": "windows.json"}}
    one_line_error(spec, tmp_path, "windows.json: no entry for b/run.csv (entries: a/run.csv); add one named "
                   "'b/run.csv' ([] for a file without anomalies)")
    (tmp_path / "windows.json").write_text(json.dumps({"a/run.csv": [[t[7], t[8]]], "b/run.csv": []}))
    d = load(spec, tmp_path)
    assert {p["name"]: np.flatnonzero(p["point_labels"]).tolist() for p in d.test_pieces} == {
        "a_run": [7, 8], "b_run": []}
    assert "WARNING" not in d.train_block_note  # the training file took no entry: anomaly-free
    # an entry whose folders name no data file (NAB's realKnownCause/run.csv) is not every run.csv's either
    (tmp_path / "windows.json").write_text(json.dumps({"realKnownCause/run.csv": [[t[7], t[8]]]}))
    one_line_error(spec, tmp_path, "entry 'realKnownCause/run.csv' names no folder of train/run.csv")


@pytest.mark.parametrize("entry", ["run.csv", "x/run.csv"])
def test_an_entry_that_names_no_folder_is_refused_for_files_of_one_name(tmp_path, entry):
    """A labels file whose one entry is run.csv, for a/run.csv and b/run.csv (row numbers): both files took the
    same rows as labels, silently, whichever file they were written for."""
    for folder in ("a", "b"):
        write_csv(tmp_path, f"{folder}/run.csv", ["v"], [[(i * 7) % 5] for i in range(12)])
    write_csv(tmp_path, "train.csv", ["v"], [[(i * 3) % 5] for i in range(12)])
    (tmp_path / "windows.json").write_text(json.dumps({entry: [[3, 4]]}))
    spec = {"train_files": ["train.csv"], "test_files": ["a/run.csv", "b/run.csv"],
            "labels": {"windows": "windows.json"}}
    one_line_error(spec, tmp_path, f"windows.json: entry '{entry}' names no folder of a/run.csv, and a/run.csv and "
                   "b/run.csv are files of one name: name each file's entry by its folder and name ('a/run.csv', "
                   "'b/run.csv'; [] for a file without anomalies), or give labels.key to use one entry for every file")
    # labels.key says it: one entry for every file
    d = load({**spec, "labels": {"windows": "windows.json", "key": entry}}, tmp_path)
    assert [np.flatnonzero(p["point_labels"]).tolist() for p in d.test_pieces] == [[3, 4], [3, 4]]
    # an entry that names one file as it is on disk, run.csv.gz, is that file's alone
    plain = tmp_path / "b" / "run.csv"
    plain.with_suffix(".csv.gz").write_bytes(gzip.compress(plain.read_bytes()))
    (tmp_path / "windows.json").write_text(json.dumps({"a/run.csv": [[1, 1]], "run.csv.gz": [[3, 4]]}))
    d = load({**spec, "test_files": ["a/run.csv", "b/run.csv.gz"]}, tmp_path)
    assert [np.flatnonzero(p["point_labels"]).tolist() for p in d.test_pieces] == [[1], [3, 4]]
    (tmp_path / "windows.json").write_text(json.dumps({entry: [[3, 4]]}))
    # a file of that name alone still takes it
    d = load({**spec, "test_files": ["a/run.csv"]}, tmp_path)
    assert np.flatnonzero(d.test_pieces[0]["point_labels"]).tolist() == [3, 4]


def test_an_entry_that_names_a_folder_files_of_one_name_share_is_refused(tmp_path):
    """x/2020/run.csv and y/2020/run.csv: the entry '2020/run.csv' labelled both files silently, and the lines
    that refused 'run.csv' (or lacked y's entry) advised naming the entries '2020/run.csv', which both files take."""
    for folder in ("x/2020", "y/2020"):
        write_csv(tmp_path, f"{folder}/run.csv", ["v"], [[(i * 7) % 5] for i in range(12)])
    write_csv(tmp_path, "train.csv", ["v"], [[(i * 3) % 5] for i in range(12)])
    spec = {"train_files": ["train.csv"], "test_files": ["x/2020/run.csv", "y/2020/run.csv"],
            "labels": {"windows": "windows.json"}}
    (tmp_path / "windows.json").write_text(json.dumps({"2020/run.csv": [[3, 4]]}))
    one_line_error(spec, tmp_path, "windows.json: entry '2020/run.csv' names x/2020/run.csv and y/2020/run.csv "
                   "alike: name each file's entry by its folder and name ('x/2020/run.csv', 'y/2020/run.csv'; [] for "
                   "a file without anomalies), or give labels.key to use one entry for every file")
    (tmp_path / "windows.json").write_text(json.dumps({"run.csv": [[3, 4]]}))
    one_line_error(spec, tmp_path, "entry 'run.csv' names no folder of x/2020/run.csv, and x/2020/run.csv and "
                   "y/2020/run.csv are files of one name: name each file's entry by its folder and name "
                   "('x/2020/run.csv', 'y/2020/run.csv';")
    (tmp_path / "windows.json").write_text(json.dumps({"x/2020/run.csv": [[3, 4]]}))
    one_line_error(spec, tmp_path, "no entry for y/2020/run.csv (entries: x/2020/run.csv); add one named "
                   "'y/2020/run.csv' ([] for a file without anomalies)")
    (tmp_path / "windows.json").write_text(json.dumps({"x/2020/run.csv": [[3, 4]], "y/2020/run.csv": [[1, 1]]}))
    d = load(spec, tmp_path)
    assert [np.flatnonzero(p["point_labels"]).tolist() for p in d.test_pieces] == [[3, 4], [1]]


@pytest.mark.parametrize("entry", ["s.csv", "s.csv.gz", "data/s.csv.gz", "a/s.csv.gz"])
def test_a_gzip_compressed_file_takes_the_label_entry_named_as_it_or_as_its_csv(tmp_path, entry):
    """An entry may name a gzip-compressed file as it is on disk (s.csv.gz) or as the CSV it holds (s.csv); the
    message said "no entry for s.csv.gz (entries: data/s.csv.gz)"."""
    import gzip

    plain = series(tmp_path, "a/s.csv", n=12)
    (tmp_path / "a" / "s.csv.gz").write_bytes(gzip.compress(plain.read_bytes()))
    series(tmp_path, "b/s.csv.gz", n=12)
    t = stamps(12)
    other = "b/s.csv" if entry.startswith("a/") else "x.csv"  # a file of the same name elsewhere: told apart by folder
    (tmp_path / "w.json").write_text(json.dumps({entry: [[t[7], t[8]]], other: [[t[2], t[2]]]}))
    d = load({"path": "a/s.csv.gz", "time_column": "time", "train_points": 6, "labels": {"windows": "w.json"}},
             tmp_path)
    assert np.flatnonzero(d.full_point_labels).tolist() == [7, 8]


def test_timestamps_and_windows_together_give_point_labels_and_anomaly_rows(tmp_path):
    """As NAB: the windows are the point labels, the timestamps the anomalies' own rows."""
    series(tmp_path, "data/s.csv", n=12)
    t = stamps(12)
    (tmp_path / "labels.json").write_text(json.dumps({"realKnownCause/s.csv": [t[4] + ".000000", t[10]]}))
    (tmp_path / "windows.json").write_text(json.dumps({"realKnownCause/s.csv": [[t[3], t[5]], [t[9], t[11]]]}))
    spec = {"path": "data/s.csv", "time_column": "time", "train_range": [6, 9],
            "labels": {"timestamps": "labels.json", "windows": "windows.json"}}
    d = load(spec, tmp_path)
    assert np.flatnonzero(d.full_point_labels).tolist() == [3, 4, 5, 9, 10, 11]
    assert d.full_anomaly_rows.tolist() == [4, 10] and d.train_anomaly_rows.tolist() == []
    assert [p["anomaly_rows"].tolist() for p in d.test_pieces] == [[4], [1]]  # pieces [0, 6), [9, 12)
    # windows alone give no rows (their runs' first rows are the sequence labels); timestamps alone give their own
    assert load({**spec, "labels": {"windows": "windows.json"}}, tmp_path).full_anomaly_rows is None
    assert load({**spec, "labels": {"timestamps": "labels.json"}}, tmp_path).full_anomaly_rows.tolist() == [4, 10]
    one_line_error({**spec, "labels": {"column": "a", "windows": "windows.json"}}, tmp_path,
                   "exactly one of", "found column, windows")
    one_line_error({**spec, "labels": {"column": "a", "key": "s.csv"}}, tmp_path,
                   "labels.key must be a string and goes with 'timestamps' or 'windows'")


def test_anomaly_rows_at_a_training_blocks_ends_go_to_the_block_or_the_piece_they_are_in(tmp_path):
    """Rows 6 and 9 around the block [6, 9): row 6 is the block's first (and its warning names file row 6), row 9
    the second test piece's first, none in the piece before; a time written twice is one row."""
    series(tmp_path, "s.csv", n=12)
    t = stamps(12)
    (tmp_path / "labels.json").write_text(json.dumps([t[6], t[9], t[9] + ".000000"]))
    (tmp_path / "windows.json").write_text(json.dumps([[t[6], t[6]], [t[9], t[9]]]))
    d = load({"path": "s.csv", "time_column": "time", "train_range": [6, 9],
              "labels": {"timestamps": "labels.json", "windows": "windows.json"}}, tmp_path)
    assert d.full_anomaly_rows.tolist() == [6, 9] and d.train_anomaly_rows.tolist() == [0]
    assert [p["anomaly_rows"].tolist() for p in d.test_pieces] == [[], [0]]  # pieces [0, 6), [9, 12)
    assert [np.flatnonzero(p["point_labels"]).tolist() for p in d.test_pieces] == [[], [0]]
    assert "1 labelled anomalous row(s) inside the training data (rows [6, 7))" in d.train_block_note


def test_one_list_of_labels_for_several_files_labels_each_file_at_its_own_times(tmp_path):
    """Training files a (hours 0-5) and b (hours 6-9), test file x (hours 10-19), one list for all: each window
    and time is some file's, and the training files' labels and rows follow in their order, b's after a's 6 rows."""
    t = stamps(20)
    for name, hours in (("a.csv", range(0, 6)), ("b.csv", range(6, 10)), ("x.csv", range(10, 20))):
        write_csv(tmp_path, name, ["time", "v"], [[t[h], h % 4] for h in hours])
    (tmp_path / "labels.json").write_text(json.dumps([t[1], t[8], t[12]]))
    (tmp_path / "windows.json").write_text(json.dumps([[t[1], t[1]], [t[7], t[8]], [t[12], t[13]]]))
    d = load({"train_files": ["a.csv", "b.csv"], "test_files": ["x.csv"], "time_column": "time",
              "labels": {"timestamps": "labels.json", "windows": "windows.json"}}, tmp_path)
    assert np.flatnonzero(d.train_point_labels).tolist() == [1, 7, 8]
    assert d.train_anomaly_rows.tolist() == [1, 8]
    [x] = d.test_pieces
    assert np.flatnonzero(x["point_labels"]).tolist() == [2, 3] and x["anomaly_rows"].tolist() == [2]


def test_anomaly_rows_through_load_csv_series(tmp_path):
    from vae_lstm.data_loader import load_csv_series

    series(tmp_path, "data/s.csv", n=12)
    series(tmp_path, "free.csv", n=5)
    t = stamps(12)
    (tmp_path / "labels.json").write_text(json.dumps({"s.csv": [t[4], t[10]]}))
    (tmp_path / "windows.json").write_text(json.dumps({"s.csv": [[t[3], t[5]], [t[9], t[11]]]}))
    labels = {"timestamps": "labels.json", "windows": "windows.json"}
    s = load_csv_series({"path": "data/s.csv", "time_column": "time", "train_range": [6, 9], "labels": labels},
                        [tmp_path], t_unit="hour", announce=False)
    assert s.t_unit == "hour" and s.anomaly_idx.tolist() == [4, 10]  # not the windows' first rows 3, 9
    assert [p.anomaly_idx.tolist() for p in s.test_pieces] == [[4], [1]]
    # training files first, then the test file: the rows move with it
    s = load_csv_series({"train_files": ["free.csv"], "test_files": ["data/s.csv"], "time_column": "time",
                         "labels": labels}, [tmp_path], announce=False)
    assert s.t_unit == "row" and s.anomaly_idx.tolist() == [9, 15] and s.test_pieces[0].anomaly_idx.tolist() == [4, 10]
    assert np.flatnonzero(s.point_labels).tolist() == [8, 9, 10, 14, 15, 16]


def test_label_timestamps_alone_are_each_a_sequence_label_even_on_neighbouring_rows(tmp_path):
    """A sequence is anomalous when it holds a label timestamp: of timestamps on rows 4, 5 and 9 (no windows), the
    sequences starting at row 5 hold one (row 5), as a label column's run 4-5 gives its first row only."""
    from vae_lstm.data_loader import load_csv_series
    from vae_lstm.evaluation import sequence_labels

    series(tmp_path, n=12)
    t = stamps(12)
    (tmp_path / "labels.json").write_text(json.dumps([t[9], t[4], t[5]]))
    s = load_csv_series({"path": "s.csv", "time_column": "time", "train_points": 2,
                         "labels": {"timestamps": "labels.json"}}, [tmp_path], announce=False)
    assert np.flatnonzero(s.point_labels).tolist() == [4, 5, 9]
    assert s.anomaly_idx.tolist() == [4, 5, 9] and s.test_pieces[0].anomaly_idx.tolist() == [2, 3, 7]
    assert sequence_labels(s.test_pieces[0].anomaly_idx, 8, 3).tolist() == [True, True, True, True, False, True,
                                                                             True, True]
    # training files first, then the test file; a timestamp in the training file stays out of the test piece
    series(tmp_path, "free.csv", n=5)
    (tmp_path / "labels.json").write_text(json.dumps({"s.csv": [t[4], t[5]], "free.csv": [t[1]]}))
    s = load_csv_series({"train_files": ["free.csv"], "test_files": ["s.csv"], "time_column": "time",
                         "labels": {"timestamps": "labels.json"}}, [tmp_path], announce=False)
    assert s.anomaly_idx.tolist() == [1, 9, 10] and s.test_pieces[0].anomaly_idx.tolist() == [4, 5]


def test_time_order_file_keeps_steps_back_and_repeats(tmp_path):
    """As NAB's machine_temp (a step back) and ec2_request (a repeated stamp)."""
    t = stamps(8)
    order = [t[0], t[1], t[2], t[3], t[1], t[2], t[5], t[5], t[6], t[7]]  # row 4 steps back, 7 repeats 6
    write_csv(tmp_path, "s.csv", ["time", "a"], [[s, i * i] for i, s in enumerate(order)])
    (tmp_path / "labels.json").write_text(json.dumps([t[2], t[5]]))
    (tmp_path / "windows.json").write_text(json.dumps([[t[2], t[2] + ".000000"], [t[5], t[6]]]))
    spec = {"path": "s.csv", "time_column": "time", "train_points": 2,
            "labels": {"timestamps": "labels.json", "windows": "windows.json"}}
    one_line_error(spec, tmp_path, "data row 4", "is earlier than row 3", '"time_order": "file"')
    d = load({**spec, "time_order": "file"}, tmp_path)
    assert d.full_values[:, 0].tolist() == [i * i for i in range(10)]  # file order, nothing dropped
    assert d.full_anomaly_rows.tolist() == [2, 6]  # the first row with each label timestamp
    assert np.flatnonzero(d.full_point_labels).tolist() == [2, 5, 6, 7, 8]  # windows by time
    assert "1 step(s) back in time and 3 repeated timestamp(s)" in d.train_block_note
    # timestamps alone: the first row with each stamp is labelled
    d = load({**spec, "time_order": "file", "labels": {"timestamps": "labels.json"}}, tmp_path)
    assert np.flatnonzero(d.full_point_labels).tolist() == [2, 6]
    assert load({**spec, "time_order": "strict", "path": "s.csv", "labels": None, "time_column": None,
                 "train_points": 2}, tmp_path).full_values.shape == (10, 1)
    one_line_error({"path": "s.csv", "time_order": "file"}, tmp_path, "time_order goes with time_column")
    one_line_error({"path": "s.csv", "time_column": "time", "time_order": "sorted"}, tmp_path,
                   "time_order must be")



@pytest.mark.parametrize("minutes, how", [(15, "is earlier than"), (60, "repeats")])
def test_local_times_set_back_an_hour_are_not_told_to_be_sorted(tmp_path, minutes, how):
    """Local times where daylight saving time ends (02:00 to 02:59 twice, as a Berlin meter writes them) were told
    "Sort and de-duplicate the file": sorting interleaves the two hours, and de-duplicating drops one."""
    clock = [f"2024-10-27 {m // 60:02d}:{m % 60:02d}" for m in range(0, 4 * 60, minutes)]
    times = clock[:3 * 60 // minutes] + clock[2 * 60 // minutes:]  # 00:00 to 02:59, then 02:00 to 03:59
    write_csv(tmp_path, "m.csv", ["time", "a"], [[t, i % 5] for i, t in enumerate(times)])
    msg = one_line_error({"path": "m.csv", "time_column": "time"}, tmp_path, f"{how} row")
    row = times.index("2024-10-27 02:00", times.index("2024-10-27 02:00") + 1)
    assert msg.endswith(
        f"Data row {row} ('2024-10-27 02:00') starts the hour before it again, as local times do where daylight "
        "saving time ends: write each time with its UTC offset (e.g. '2024-10-27 02:00+01:00' for the "
        "second 02:00 in Central European time) or in UTC, rather than sorting the rows, which would interleave the "
        "two hours; or leave out time_column to use the row order"), msg
    assert "Sort and de-duplicate" not in msg
    write_csv(tmp_path, "m.csv", ["time", "a"], [[t.replace("-10-", "-01-"), i % 5] for i, t in enumerate(times)])
    assert "Sort and de-duplicate the file" in one_line_error({"path": "m.csv", "time_column": "time"}, tmp_path)


# ----------------------------------------------------------------------------- training blocks


def test_train_range_cuts_test_pieces_around_the_block(tmp_path):
    series(tmp_path, n=10)
    d = load({"path": "s.csv", "time_column": "time", "train_range": [3, 7]}, tmp_path)
    assert (d.train_start, d.train_end) == (3, 7)
    assert d.train[:, 0].tolist() == [3, 4, 5, 6]
    p1, p2 = d.test_pieces
    assert (p1["name"], p1["start"], p1["values"][:, 0].tolist()) == ("test_1", 0, [0, 1, 2])
    assert (p2["name"], p2["start"], p2["values"][:, 0].tolist()) == ("test_2", 7, [7, 8, 9])
    assert p2["timestamps"][0] == np.datetime64("2020-01-01T07:00:00")
    assert p1["point_labels"] is None and d.full_point_labels is None and not d.has_labels
    assert "rows [3, 7)" in d.train_block_note


def test_train_points_and_train_fraction(tmp_path):
    series(tmp_path, n=100)
    d = load({"path": "s.csv", "train_points": 30}, tmp_path)
    whole = load({"path": "s.csv", "train_points": 30.0, "train_range": None}, tmp_path)  # as JSON tools write 30
    assert (whole.train_start, whole.train_end) == (d.train_start, d.train_end) == (0, 30)
    assert (load({"path": "s.csv", "train_range": [10.0, 40]}, tmp_path).train_end) == 40
    one_line_error({"path": "s.csv", "train_points": 30.5}, tmp_path, "train_points must be an integer, got 30.5")
    assert (d.train_start, d.train_end, len(d.test_pieces[0]["values"])) == (0, 30, 70)
    d = load({"path": "s.csv", "train_fraction": 0.29}, tmp_path)  # 0.29 * 100 = 28.999... -> 29
    assert (d.train_start, d.train_end) == (0, 29)
    assert [p["name"] for p in d.test_pieces] == ["test"]


def test_a_test_file_named_like_a_metrics_key_gets_another_piece_name(tmp_path):
    """metrics.json keeps the pooled row as "all" and a detector's "threshold" and "points" beside the pieces: a
    test file all.csv or points.csv must not overwrite them (it did, and its figures were printed as the pool)."""
    series(tmp_path, "free/train.csv", n=10)
    for name in ("all", "points", "x"):
        series(tmp_path, f"run/{name}.csv", n=5)
    d = load({"train_files": ["free/train.csv"], "test_files": ["run/all.csv", "run/points.csv", "run/x.csv"]},
             tmp_path)
    assert [p["name"] for p in d.test_pieces] == ["run_all", "run_points", "x"]
    series(tmp_path, "s.csv", n=20)
    d = load({"path": "s.csv", "train_points": 10, "test_files": ["run/all.csv"]}, tmp_path)
    assert [p["name"] for p in d.test_pieces] == ["test", "run_all"]


def test_train_files_with_test_files_are_laid_end_to_end(tmp_path):
    series(tmp_path, "free/a.csv", n=6)
    write_csv(tmp_path, "free/b.csv", ["time", "b", "a"], [[t, -i, i + 100] for i, t in enumerate(stamps(4))])
    series(tmp_path, "run1/x.csv", n=5, labels={2})
    series(tmp_path, "run2/x.csv", n=3, labels=set())
    d = load({"train_files": ["free/a.csv", "free/b.csv"], "test_files": ["run1/x.csv", "run2/x.csv"],
              "time_column": "time", "labels": {"column": "anomaly"}}, tmp_path)
    assert d.name == "x" and d.channels == ["a", "b"]
    assert [len(p) for p in d.train_parts] == [6, 4] and d.train_part_starts == [0, 6]
    assert d.train[6:, 0].tolist() == [100, 101, 102, 103]  # columns matched by name, not position
    assert "2 files laid end to end, starting at rows 0, 6: the windows that cross a join" in d.train_block_note
    assert d.full_values is None and d.train_start is None
    assert [p["name"] for p in d.test_pieces] == ["run1_x", "run2_x"]
    assert d.test_pieces[0]["point_labels"].tolist() == [False, False, True, False, False]
    assert not d.train_point_labels.any() and "starting at rows 0, 6" in d.train_block_note


def test_train_files_with_path_as_the_test_piece(tmp_path):
    series(tmp_path, "train.csv", n=8)
    series(tmp_path, "run.csv", n=5)
    d = load({"path": "run.csv", "train_files": ["train.csv"]}, tmp_path)
    assert d.name == "run" and d.train.shape == (8, 2)
    assert [(p["name"], len(p["values"])) for p in d.test_pieces] == [("run", 5)]


def test_auto_takes_the_longest_stretch_free_of_labels(tmp_path):
    # labelled rows 2 and 9, 10 of 20: clean stretches [0, 2), [3, 9), [11, 20) -> [11, 20)
    series(tmp_path, n=20, labels={2, 9, 10})
    d = load({"path": "s.csv", "labels": {"column": "anomaly"}}, tmp_path)
    assert (d.train_start, d.train_end) == (11, 20)
    [p] = d.test_pieces
    assert (p["name"], p["start"], len(p["values"])) == ("test", 0, 11)
    assert not d.train_point_labels.any() and "longest stretch" in d.train_block_note
    # a tie goes to the first stretch: labelled 5 and 11 of 17: [0, 5), [6, 11), [12, 17) -> [0, 5)
    series(tmp_path, n=17, labels={5, 11})
    d = load({"path": "s.csv", "labels": {"column": "anomaly"}}, tmp_path)
    assert (d.train_start, d.train_end) == (0, 5)
    # between two anomalies (labelled 2 and 12 of 16: [3, 12)): its first row goes to the piece before, so
    # that the pieces, joined for the pooled metrics, do not run the two anomalies into one
    series(tmp_path, n=16, labels={2, 12})
    d = load({"path": "s.csv", "labels": {"column": "anomaly"}}, tmp_path)
    assert (d.train_start, d.train_end) == (4, 12) and "less its first row" in d.train_block_note
    first, second = d.test_pieces
    assert len(first["values"]) == 4 and second["start"] == 12


def test_a_reversed_train_range_says_so(tmp_path):
    series(tmp_path, n=10)
    with pytest.raises(DataError, match=r"train_range \[5, 2\) starts after it ends"):
        load({"path": "s.csv", "train_range": [5, 2]}, tmp_path)


def test_auto_without_labels_takes_the_leading_half(tmp_path):
    series(tmp_path, n=11)
    d = load({"path": "s.csv"}, tmp_path)
    assert (d.train_start, d.train_end) == (0, 5) and "leading 50%" in d.train_block_note


def test_labelled_rows_inside_the_training_block_are_a_warning(tmp_path):
    series(tmp_path, n=10, labels={1, 2, 8})
    d = load({"path": "s.csv", "labels": {"column": "anomaly"}, "train_range": [0, 6]}, tmp_path)
    assert "WARNING: 2 labelled" in d.train_block_note and "[1, 3)" in d.train_block_note
    assert d.train_point_labels.tolist() == [False, True, True, False, False, False]


def test_a_labelled_run_from_the_training_block_into_a_test_piece_labels_that_piece(tmp_path):
    """A run of labels that began inside the training block of one file gave the test piece after it labelled points
    but no anomaly index, so its sequence labels (the paper's metric) called them normal."""
    from vae_lstm.data_loader import load_csv_series
    from vae_lstm.evaluation import sequence_labels

    series(tmp_path, n=20, labels={8, 9, 10, 11, 12})
    s = load_csv_series({"path": "s.csv", "time_column": "time", "labels": {"column": "anomaly"},
                         "train_range": [0, 10]}, [tmp_path], announce=False)
    piece = s.test_pieces[0]
    assert piece.point_labels.tolist()[:4] == [True, True, True, False]
    assert piece.anomaly_idx.tolist() == [0] and s.anomaly_idx.tolist() == [8, 10]
    assert sequence_labels(piece.anomaly_idx, 8, 3).tolist() == [True] + [False] * 7


def test_a_window_whose_timestamp_is_in_the_training_block_labels_the_test_piece_it_goes_on_into(tmp_path):
    """With label timestamps and windows (NAB), a window around a timestamp in the training block that goes on into a
    test piece gave that piece labelled points but no anomaly index, so its sequence labels called them normal; it
    now has the index a label column gives it: the first row of the run inside the piece (for the piece before the
    block too), and a run that holds a timestamp of its own keeps that one."""
    from vae_lstm.data_loader import load_csv_series
    from vae_lstm.evaluation import sequence_labels

    t = stamps(20)
    labelled = {3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17, 18}
    series(tmp_path, n=20, labels=labelled)
    (tmp_path / "labels.json").write_text(json.dumps([t[6], t[11], t[17]]))
    (tmp_path / "windows.json").write_text(json.dumps([[t[3], t[7]], [t[10], t[14]], [t[16], t[18]]]))
    spec = {"path": "s.csv", "time_column": "time", "value_columns": ["a", "b"],
            "train_range": [5, 12]}  # test_1 rows [0, 5), test_2 [12, 20)
    by = {}
    for kind, labels in (("column", {"column": "anomaly"}), ("windows", {"windows": "windows.json"}),
                         ("both", {"timestamps": "labels.json", "windows": "windows.json"})):
        s = load_csv_series({**spec, "labels": labels}, [tmp_path], announce=False)
        by[kind] = s
        assert [np.flatnonzero(p.point_labels).tolist() for p in s.test_pieces] == [[3, 4], [0, 1, 2, 4, 5, 6]]
    assert [p.anomaly_idx.tolist() for p in by["column"].test_pieces] == [[3], [0, 4]]
    assert [p.anomaly_idx.tolist() for p in by["windows"].test_pieces] == [[3], [0, 4]]
    assert [p.anomaly_idx.tolist() for p in by["both"].test_pieces] == [[3], [0, 5]]  # 5: row 17's own timestamp
    assert by["both"].anomaly_idx.tolist() == [3, 6, 11, 12, 17]
    assert sequence_labels(by["both"].test_pieces[1].anomaly_idx, 6, 3).tolist()[:2] == [True, False]

    # a training file whose window goes on into the test file after it: the test file's run is its own
    write_csv(tmp_path, "a.csv", ["time", "a", "b"], [[t[i], i, i * i] for i in range(10)])
    write_csv(tmp_path, "b.csv", ["time", "a", "b"], [[t[i], i, i * i] for i in range(10, 20)])
    (tmp_path / "labels.json").write_text(json.dumps([t[8]]))
    (tmp_path / "windows.json").write_text(json.dumps([[t[7], t[12]]]))
    s = load_csv_series({"train_files": ["a.csv"], "test_files": ["b.csv"], "time_column": "time",
                         "labels": {"timestamps": "labels.json", "windows": "windows.json"}}, [tmp_path],
                        announce=False)
    assert np.flatnonzero(s.test_pieces[0].point_labels).tolist() == [0, 1, 2]
    assert s.test_pieces[0].anomaly_idx.tolist() == [0] and s.anomaly_idx.tolist() == [8, 10]


def test_only_one_training_block_field(tmp_path):
    series(tmp_path, n=10)
    one_line_error({"path": "s.csv", "train_points": 3, "train_fraction": 0.5}, tmp_path,
                   "train_points and train_fraction")


# ----------------------------------------------------------------------------- bad data: one line each


def test_missing_file_and_missing_column(tmp_path):
    one_line_error({"path": "nope.csv"}, tmp_path, "nope.csv not found", str(tmp_path))
    series(tmp_path, n=10)
    one_line_error({"path": "s.csv", "value_columns": ["a", "c"]}, tmp_path, "s.csv", "missing value column 'c'")
    one_line_error({"path": "s.csv", "time_column": "tme"}, tmp_path, "missing time column 'tme'",
                   "did you mean 'time'")


def test_label_column_that_is_not_0_1(tmp_path):
    write_csv(tmp_path, "s.csv", ["a", "anomaly"], [[i, [0, 1, 2, 0, -1][i % 5]] for i in range(10)])
    one_line_error({"path": "s.csv", "labels": {"column": "anomaly"}}, tmp_path,
                   "s.csv", "'anomaly'", "found 0, 1, 2, -1", "data row(s) 2, 4, 7, 9")
    # a fraction (a score, a soft label) is not read as normal
    write_csv(tmp_path, "f.csv", ["a", "anomaly"], [[i, [0, 1, 0.5][i % 3]] for i in range(6)])
    one_line_error({"path": "f.csv", "labels": {"column": "anomaly"}}, tmp_path, "found 0, 1, 0.5", "data row(s) 2, 5,")


def test_a_label_column_that_is_the_time_column_says_so(tmp_path):
    """labels.column naming the time column was read as labels after the times, and the line said its times were
    not 0/1, never that the column is the time column."""
    series(tmp_path, n=10)
    msg = one_line_error({"path": "s.csv", "time_column": "time", "labels": {"column": "time"}}, tmp_path)
    assert msg == ("dataset: labels.column 'time' is the time_column; labels.column names the column of 0/1 anomaly "
                   "labels (1 = anomalous row), another column than the times")


def test_a_label_column_of_minus_one_and_one_is_told_how_to_turn_it_into_0_1(tmp_path):
    """Labels written -1 (outlier) and 1 (inlier), as scikit-learn's detectors write them, were named "not 0/1" at
    the -1 rows only, so that writing 0 there would have labelled every inlier anomalous."""
    write_csv(tmp_path, "s.csv", ["a", "anomaly"], [[i, -1 if i == 5 else 1] for i in range(10)])
    msg = one_line_error({"path": "s.csv", "labels": {"column": "anomaly"}}, tmp_path)
    assert msg.endswith("label column 'anomaly' must hold only 0 and 1; found 1, -1 (not 0/1 at data row(s) 5, "
                        "0-based): it holds -1 and 1 only, as scikit-learn writes outliers (-1) and inliers (1)? Then "
                        "write 1 for -1 and 0 for 1; else write 0 (normal) or 1 (anomalous) in every row")


def test_a_label_column_with_empty_cells_says_what_to_write(tmp_path):
    write_csv(tmp_path, "s.csv", ["a", "anomaly"], [[i, "" if i > 6 else int(i == 5)] for i in range(10)])
    msg = one_line_error({"path": "s.csv", "labels": {"column": "anomaly"}}, tmp_path)
    assert msg.endswith("label column 'anomaly' must hold only 0 and 1; found 0, 1, missing (not 0/1 at data row(s) "
                        "7, 8, 9, 0-based): write 0 (normal) or 1 (anomalous) in every row")


def test_non_numeric_and_missing_values(tmp_path):
    rows = [[i, i, i] for i in range(10)]
    rows[3][2], rows[7][2] = "abc", ""
    rows[5][1] = "nan"
    write_csv(tmp_path, "s.csv", ["t", "a", "b"], rows)
    one_line_error({"path": "s.csv", "time_column": "t"}, tmp_path,
                   "s.csv", "column 'a' has 1 ", "row(s) 5", "also in 'b'")
    one_line_error({"path": "s.csv", "time_column": "t", "value_columns": ["b"]}, tmp_path,
                   "column 'b' has 2 ", "row(s) 3, 7", "'abc'")


def test_missing_values_name_the_fix(tmp_path):
    rows = [[i, i if i != 4 else "", i * i] for i in range(10)]
    write_csv(tmp_path, "s.csv", ["t", "a", "b"], rows)
    msg = one_line_error({"path": "s.csv", "time_column": "t"}, tmp_path, "column 'a' has 1 ", "row(s) 4")
    assert msg.endswith("(0-based; values missing); fill or remove those rows, or leave the column out of the channels "
                        "(ignore_columns, or value_columns without it)")


@pytest.mark.parametrize("minus, words", [("\u2212", "Unicode minus sign(s) ('\u2212', U+2212)"),
                                          ("\u2013", "en dash(es) ('\u2013', U+2013)"),
                                          ("\uff0d", "full-width minus sign(s) ('\uff0d', U+FF0D)")])
def test_unicode_minus_signs_read_as_minus(tmp_path, minus, words):
    """A value written with the Unicode minus sign (−0.84, U+2212, as typeset text and some locales' exports write it)
    was not numeric: a column of them was left out, or named "non-numeric" with no hint. It reads as -0.84 now, with a
    note; the header's names are kept as written. So do an en dash (what a word processor makes of "-" before a
    number) and the full-width minus of East Asian input, which were still refused as non-numeric."""
    write_text(tmp_path, "m.csv", f"t,x{minus}1\n" + "".join(f"{i},{minus * (i % 2)}{i}.25\n" for i in range(10)))
    d = load({"path": "m.csv", "time_column": "t", "train_points": 5}, tmp_path)
    assert d.channels == [f"x{minus}1"]
    np.testing.assert_array_equal(d.full_values[:, 0], [(-1) ** i * (i + 0.25) for i in range(10)])
    assert f"m.csv: 5 {words} read as '-'" in d.train_block_note
    # before the decimal separator too (-,5 of a decimal comma)
    write_text(tmp_path, "c.csv", "t;x\n" + "".join(f"{i};{minus * (i % 2)},{i}\n" for i in range(10)))
    d = load({"path": "c.csv", "time_column": "t", "train_points": 5, "decimal": ","}, tmp_path)
    np.testing.assert_array_equal(d.full_values[:, 0], [(-1) ** i * i / 10 for i in range(10)])
    # a cell of the sign alone (a typeset table's "no value"), before the separator, is no minus: it was read as "-",
    # named '-' (not in the file) and counted in the note as a minus read
    write_text(tmp_path, "n.csv", "t,x,y\n" + "".join(f"{i},{minus if i == 3 else i},{i}\n" for i in range(10)))
    msg = one_line_error({"path": "n.csv", "time_column": "t", "train_points": 5}, tmp_path,
                         "column 'x' has 1 non-numeric, missing or infinite value(s) at data row(s) 3")
    assert f"values '{minus}')" in msg


def test_a_value_column_without_a_number_is_not_told_to_fill_its_rows(tmp_path):
    """value_columns naming a column of times, or of text, with no number in any row, was told to "fill or remove
    those rows" (every row); the line now says that the column holds times (time_column reads them) or no number."""
    write_csv(tmp_path, "s.csv", ["timestamp", "value", "status"], [[t, i % 3, "ok"] for i, t in enumerate(stamps(10))])
    msg = one_line_error({"path": "s.csv", "value_columns": ["timestamp", "value"]}, tmp_path)
    assert msg.endswith("(0-based; values '2020-01-01 00:00:00', '2020-01-01 01:00:00', '2020-01-01 02:00:00', "
                        "'2020-01-01 03:00:00', '2020-01-01 04:00:00'); it holds times, not numbers: give it as "
                        "time_column, or leave it out of the channels (ignore_columns, or value_columns without it)")
    msg = one_line_error({"path": "s.csv", "value_columns": ["value", "status"]}, tmp_path)
    assert msg.endswith("(0-based; values 'ok', 'ok', 'ok', 'ok', 'ok'); no row of it holds a number: leave it out of "
                        "the channels (ignore_columns, or value_columns without it)")


def test_whole_numbers_that_float64_cannot_tell_apart_are_one_line(tmp_path):
    """Whole numbers above 2**53 are read as float64, which keeps 53 bits: 2**60 + 1 reads as 2**60. A value column
    of them was refused as "constant in the training block", and a time column as "not strictly increasing: data row
    1 (1152921504606846977) repeats row 0 (1152921504606846976)", the two numbers differing. Both lines now say why;
    such numbers that stay apart (steps of 1024 at 2**60) are read as before."""
    big = 2**60
    write_csv(tmp_path, "v.csv", ["t", "a", "b"], [[i, big + i, i % 3] for i in range(20)])
    one_line_error({"path": "v.csv", "time_column": "t", "train_points": 10}, tmp_path,
                   f"v.csv: column 'a' holds whole numbers above 2**53 that float64 cannot tell apart: {big} and "
                   f"{big + 1} both read as 1.152921504606847e+18 (20 distinct numbers read as 1)")
    write_csv(tmp_path, "t.csv", ["t", "a"], [[big + i, i % 3] for i in range(20)])
    one_line_error({"path": "t.csv", "time_column": "t", "train_points": 10}, tmp_path,
                   f"t.csv: time column 't' holds whole numbers above 2**53 that float64 cannot tell apart: {big} and "
                   f"{big + 1} both read as 1.152921504606847e+18 (20 distinct numbers read as 1)")
    write_csv(tmp_path, "apart.csv", ["t", "a"], [[big + 1024 * i, big + 1024 * (i % 3)] for i in range(20)])
    d = load({"path": "apart.csv", "time_column": "t", "train_points": 10}, tmp_path)
    assert d.channels == ["a"]


def test_a_percentage_column_is_left_out_with_how_to_read_it(tmp_path):
    """A column of percentages (12%) is text: it stays out of the default channels, and the note, which named it
    only "not numeric", says to write it without the % sign; named in value_columns, the line says the same."""
    write_csv(tmp_path, "p.csv", ["a", "load"], [[i, f"{10 + i}.5%"] for i in range(10)])
    d = load({"path": "p.csv", "train_points": 5}, tmp_path)
    assert d.channels == ["a"]
    assert ("'load' (not numeric: percentages such as '10.5%': write them without the % sign (e.g. 10.5) to read "
            "the column as numbers)") in d.train_block_note
    one_line_error({"path": "p.csv", "train_points": 5, "value_columns": ["load"]}, tmp_path,
                   "column 'load' has 10 non-numeric", "they are percentages such as '10.5%': write them without the %")
    write_csv(tmp_path, "t.csv", ["a", "status"], [[i, "12%" if i % 4 == 0 else "ok"] for i in range(10)])
    assert "'status' (not numeric)" in load({"path": "t.csv", "train_points": 5}, tmp_path).train_block_note


def test_a_file_of_percentages_only_says_why_no_column_is_numeric(tmp_path):
    """With every value column left out (percentages, text), the line said to give value_columns, which only led to a
    second refusal; it now names each column left out and why, the % advice included."""
    write_csv(tmp_path, "p.csv", ["t", "load"], [[i, f"{10 + i}.5%"] for i in range(10)])
    msg = one_line_error({"path": "p.csv", "time_column": "t", "train_points": 5}, tmp_path)
    assert msg.endswith("p.csv: no numeric value column (columns: t, load); left out: 'load' (not numeric: percentages "
                        "such as '10.5%': write them without the % sign (e.g. 10.5) to read the column as numbers)")
    write_csv(tmp_path, "y.csv", ["t", "on"], [[i, "yes" if i % 2 else "no"] for i in range(10)])
    msg = one_line_error({"path": "y.csv", "time_column": "t", "train_points": 5}, tmp_path)
    assert msg.endswith("y.csv: no numeric value column (columns: t, on); left out: 'on' (not numeric)")
    # days without a year (12 Jan) or ordinals (2nd) are no numbers with a unit
    for cells in ([f"{k + 1} Jan" for k in range(10)], [f"{k + 1}{'st' if k == 0 else 'th'}" for k in range(3, 13)]):
        write_csv(tmp_path, "d.csv", ["t", "day"], [[i, c] for i, c in enumerate(cells)])
        msg = one_line_error({"path": "d.csv", "time_column": "t", "train_points": 5}, tmp_path)
        assert msg.endswith("d.csv: no numeric value column (columns: t, day); left out: 'day' (not numeric)")


@pytest.mark.parametrize("header, cells, name, first, number", [
    ("temp", [f"{20 + k / 2} °C" for k in range(8)], "temp", "20.0 °C", "20.0"),
    ('"Temp, °C"', [f'"{20 + k / 2} °C"' for k in range(8)], "Temp, °C", "20.0 °C", "20.0"),
    ('"Pressure, hPa"', [f'"1,0{k}3 hPa"' for k in range(8)], "Pressure, hPa", "1,003 hPa", "1,003"),
    ("price", [f"${k}.50" for k in range(8)], "price", "$0.50", "0.50"),
])
def test_a_column_of_values_with_units_says_so(tmp_path, header, cells, name, first, number):
    """A column of numbers written with their unit (21.5 °C, "1,013 hPa", as a spreadsheet's formatted cells export) is
    text: the line said only "not numeric"; of one column with a comma in its quoted name, that the file seemed
    separated by ','; of quoted cells with a comma, to remove the quotes around each line. It names the unit, a row
    and the number to write."""
    write_text(tmp_path, "u.csv", header + "\n" + "".join(c + "\n" for c in cells))
    msg = one_line_error({"path": "u.csv"}, tmp_path)
    assert msg.endswith(f"u.csv: no numeric value column (columns: {name}); left out: {name!r} (not numeric: values "
                        f"with a unit such as {first!r} (data row 0, 0-based): write the numbers alone (e.g. {number}), "
                        "the unit in the column's name, to read the column as numbers)")
    write_text(tmp_path, "v.csv", "t," + header + "\n" + "".join(f"{k},{c}\n" for k, c in enumerate(cells)))
    one_line_error({"path": "v.csv", "value_columns": [name]}, tmp_path, "has 8 non-numeric",
                   f"; they are values with a unit such as {first!r} (data row 0, 0-based): write the numbers alone")


def test_no_value_column_names_the_time_column_and_the_ignored_columns(tmp_path):
    """A file of times only, or one whose every value column is in ignore_columns, was told to give value_columns,
    which cannot name the time column nor an ignored column: the line now says what took each column."""
    write_csv(tmp_path, "t.csv", ["t"], [[i] for i in range(10)])
    msg = one_line_error({"path": "t.csv", "time_column": "t"}, tmp_path)
    assert msg.endswith("t.csv: no numeric value column (columns: t); 't' is the time_column, and the file holds no "
                        "other column: add the columns of values to detect anomalies in")
    write_csv(tmp_path, "l.csv", ["t", "anomaly"], [[i, i % 2] for i in range(10)])
    msg = one_line_error({"path": "l.csv", "time_column": "t", "labels": {"column": "anomaly"}}, tmp_path)
    assert msg.endswith("l.csv: no numeric value column (columns: t, anomaly); 't' is the time_column and 'anomaly' "
                        "the labels.column, and the file holds no other column: add the columns of values to detect "
                        "anomalies in")
    series(tmp_path, n=10)
    msg = one_line_error({"path": "s.csv", "time_column": "time", "ignore_columns": ["a", "b"]}, tmp_path)
    assert msg.endswith("s.csv: no numeric value column (columns: time, a, b); left out: 'a' (ignore_columns), "
                        "'b' (ignore_columns): take the columns of values out of ignore_columns")
    write_csv(tmp_path, "m.csv", ["t", "a", "on"], [[i, i * i, "yes"] for i in range(10)])
    msg = one_line_error({"path": "m.csv", "time_column": "t", "ignore_columns": ["a"]}, tmp_path)
    assert msg.endswith("m.csv: no numeric value column (columns: t, a, on); left out: 'a' (ignore_columns), "
                        "'on' (not numeric): take the columns of values out of ignore_columns")


def test_a_channel_constant_but_for_float64_rounding_is_named(tmp_path):
    """5 +- 1e-15 (5.000000000000001, 5, 4.999999999999999) is constant but for float64 rounding: it loaded, and
    standardising made its rounding noise a signal of unit variance that every detector scored. A channel that varies
    by more than a few rounding steps of its values (1.7e9 +- 1e-3) loads."""
    rows = [[i, ("5.000000000000001", "5", "4.999999999999999")[i % 3], i % 4] for i in range(12)]
    write_csv(tmp_path, "s.csv", ["t", "noise", "b"], rows)
    msg = one_line_error({"path": "s.csv", "time_column": "t", "train_points": 6}, tmp_path)
    assert msg.endswith("s.csv: rows [0, 6): column(s) 'noise' (but for float64 rounding: a spread of 1.78e-15 at "
                        "values near 5) constant in the training block (6 rows): a constant channel cannot be "
                        "standardised; leave it out with ignore_columns")
    rows = [[i, f"{1.7e9 + 1e-3 * np.sin(i):.4f}", i % 4] for i in range(12)]
    write_csv(tmp_path, "o.csv", ["t", "offset", "b"], rows)
    d = load({"path": "o.csv", "time_column": "t", "train_points": 6}, tmp_path)
    assert d.channels == ["offset", "b"] and np.ptp(d.train[:, 0]) > 1e-3


def test_constant_channel_in_the_training_block(tmp_path):
    write_csv(tmp_path, "s.csv", ["a", "flat"], [[i, 1.0 if i < 5 else i] for i in range(10)])
    one_line_error({"path": "s.csv", "train_points": 5}, tmp_path, "s.csv", "'flat' constant")
    assert load({"path": "s.csv", "train_range": [3, 8]}, tmp_path).channels == ["a", "flat"]
    # chosen by value_columns, a constant column is dropped from that list: ignore_columns only trims the default
    chosen = {"path": "s.csv", "train_points": 5, "value_columns": ["a", "flat"]}
    one_line_error(chosen, tmp_path, "'flat' constant", "remove it from value_columns")
    one_line_error({**chosen, "ignore_columns": ["flat"]}, tmp_path,
                   "'flat' is in both value_columns and ignore_columns", "remove it from value_columns")


def test_times_with_and_without_a_utc_offset_in_one_column_are_refused(tmp_path):
    """A time without an offset among times with a non-zero one would be read as UTC, an offset away from its
    neighbours (seen as a repeated or a backward step, or not at all): one line naming the mix. Offset-less times
    among UTC ones (Z) are UTC already, and kept."""
    write_csv(tmp_path, "m.csv", ["time", "a"], [["2024-01-13T10:00:00+01:00", 1], ["2024-01-13T11:00:00", 2],
                                                   ["2024-01-13T12:00:00+01:00", 3]])
    one_line_error({"path": "m.csv", "time_column": "time"}, tmp_path, "m.csv",
                   "mixes times with a UTC offset (e.g. '2024-01-13T10:00:00+01:00')", "data row 1")
    write_csv(tmp_path, "z.csv", ["time", "a"], [[f"2024-01-13T1{i}:00:00{'Z' if i % 2 else ''}", i]
                                                   for i in range(6)])
    assert load({"path": "z.csv", "time_column": "time", "train_points": 3}, tmp_path).channels == ["a"]


def test_gaps_in_the_times_are_named_in_the_note(tmp_path):
    """Rows are read as evenly spaced: a step over 10 times the usual one is said, with where the largest is."""
    times = [f"2020-01-01 {h:02d}:{m:02d}:00" for h in range(12) for m in (0, 10, 20, 30, 40, 50)]
    times = times[:10] + times[21:30] + times[45:50] + times[53:]  # steps of 2 h, 2 h 40 min and 40 min
    write_csv(tmp_path, "s.csv", ["time", "a"], [[t, i % 4] for i, t in enumerate(times)])
    note = load({"path": "s.csv", "time_column": "time"}, tmp_path).train_block_note
    assert note.endswith("s.csv: 2 gap(s) in time column 'time' of over 10 times its usual step of 10 min (the "
                         "largest 2 h 40 min, after data row 18): the detectors read the rows as evenly spaced")
    write_csv(tmp_path, "n.csv", ["t", "a"], [[t, i % 4] for i, t in enumerate([0, 60, 120, 1020, 1080, 1140])])
    assert load({"path": "n.csv", "time_column": "t"}, tmp_path).train_block_note.endswith(
        "n.csv: 1 gap(s) in time column 't' of over 10 times its usual step of 60 (the largest 900, after data row 2): "
        "the detectors read the rows as evenly spaced")
    series(tmp_path, "even.csv", n=12)  # an hour apart
    assert "gap" not in load({"path": "even.csv", "time_column": "time"}, tmp_path).train_block_note


def test_gaps_between_sub_millisecond_rows_are_named_in_their_own_size(tmp_path):
    """Rows 100 µs apart (a vibration sensor at 10 kHz): the note said "its usual step of 0 s", rounding to ms."""
    times = [f"2024-03-01 00:00:00.{k * 100 + (5000 if k >= 30 else 0):06d}" for k in range(60)]
    write_csv(tmp_path, "v.csv", ["time", "a"], [[t, i % 7] for i, t in enumerate(times)])
    note = load({"path": "v.csv", "time_column": "time", "train_points": 20}, tmp_path).train_block_note
    assert note.endswith("v.csv: 1 gap(s) in time column 'time' of over 10 times its usual step of 0.0001 s (the "
                         "largest 0.0051 s, after data row 29): the detectors read the rows as evenly spaced")


def test_a_date_column_beside_a_time_of_day_column_is_told_to_join_them(tmp_path):
    """European exports often split the time into a date and a time of day: the dates repeat within a day."""
    rows = [[f"{1 + h // 24:02d}.03.2024", f"{h % 24:02d}:00", h % 5] for h in range(60)]
    write_csv(tmp_path, "s.csv", ["Datum", "Uhrzeit", "Wert"], rows, sep=";")
    msg = one_line_error({"path": "s.csv", "time_column": "Datum", "dayfirst": True}, tmp_path,
                         "time column 'Datum' is not strictly increasing: data row 1 ('01.03.2024') repeats row 0")
    assert msg.endswith("; column 'Uhrzeit' holds the times of day (e.g. '00:00'): join it to 'Datum' in one column "
                        "(e.g. '01.03.2024 00:00') and give that as time_column")


def test_dates_of_under_13_days_beside_a_time_of_day_column_are_told_to_join_them_not_to_give_dayfirst(tmp_path):
    """01.03.2024 .. 03.03.2024 read both ways, so the line asked for dayfirst, which only led to the line that asks
    to join the date and time columns; and with time_order "file" the repeats are allowed, so dayfirst is asked."""
    rows = [[f"{1 + h // 24:02d}.03.2024", f"{h % 24:02d}:00", h % 5] for h in range(60)]
    write_csv(tmp_path, "s.csv", ["Datum", "Uhrzeit", "Wert"], rows, sep=";")
    msg = one_line_error({"path": "s.csv", "time_column": "Datum"}, tmp_path)
    assert msg.endswith("s.csv: time column 'Datum' repeats its dates (e.g. '01.03.2024'); column 'Uhrzeit' holds the "
                        "times of day (e.g. '00:00'): join it to 'Datum' in one column (e.g. '01.03.2024 00:00') and "
                        "give that as time_column")
    one_line_error({"path": "s.csv", "time_column": "Datum", "time_order": "file"}, tmp_path, "read both day first")


def test_unsorted_and_duplicate_timestamps(tmp_path):
    t = stamps(6)
    write_csv(tmp_path, "u.csv", ["time", "a"], [[s, i] for i, s in enumerate([t[0], t[1], t[3], t[2], t[4]])])
    one_line_error({"path": "u.csv", "time_column": "time"}, tmp_path,
                   "u.csv", "data row 3", "is earlier than row 2")
    write_csv(tmp_path, "d.csv", ["time", "a"], [[s, i] for i, s in enumerate([t[0], t[1], t[1], t[2]])])
    one_line_error({"path": "d.csv", "time_column": "time"}, tmp_path,
                   "d.csv", "data row 2", "repeats row 1", "1 repeated timestamp")


def test_bad_timestamp_value(tmp_path):
    write_csv(tmp_path, "s.csv", ["time", "a"], [[s, i] for i, s in enumerate(stamps(3) + ["soon"])])
    one_line_error({"path": "s.csv", "time_column": "time"}, tmp_path, "s.csv", "row(s) 3", "'soon'")


def test_empty_training_block_and_no_test_data(tmp_path):
    series(tmp_path, n=10)
    one_line_error({"path": "s.csv", "train_range": [4, 4]}, tmp_path, "s.csv", "empty training block")
    one_line_error({"path": "s.csv", "train_fraction": 0.05}, tmp_path, "empty training block")
    one_line_error({"path": "s.csv", "train_points": 10}, tmp_path, "no test data")
    one_line_error({"path": "s.csv", "train_range": [2, 11]}, tmp_path, "does not fit", "10 data rows")


@pytest.mark.parametrize("n, fraction", [(30, 0.01), (10, 0.05)])
def test_a_train_fraction_that_rounds_to_no_row_says_so_and_the_fraction_that_trains(tmp_path, n, fraction):
    """train_fraction 0.01 of 30 rows said "empty training block [0, 0) (train_fraction = 0.01)": the line says
    that the fraction of the file's rows rounds down to none, and the smallest fraction that holds a sequence."""
    path = series(tmp_path, n=n)
    msg = one_line_error({"path": "s.csv", "train_fraction": fraction}, tmp_path)
    assert msg == (f"{path}: train_fraction = {fraction} of the file's {n} data rows rounds down to 0 rows, an "
                   f"empty training block: give a train_fraction of l_win * l_seq / {n} or more, so that the block "
                   "holds at least one sequence of l_win * l_seq rows")
    assert len(load({"path": "s.csv", "train_fraction": 6 / n}, tmp_path).train) == 6  # l_win 3, l_seq 2


def test_empty_test_piece(tmp_path):
    series(tmp_path, "train.csv", n=10)
    (tmp_path / "empty.csv").write_text("time,a,b\n")
    one_line_error({"train_files": ["train.csv"], "test_files": ["empty.csv"]}, tmp_path,
                   "empty.csv", "empty test piece")


def test_files_with_different_value_columns(tmp_path):
    series(tmp_path, "train.csv", n=10)
    write_csv(tmp_path, "test.csv", ["time", "a", "b", "c"], [[t, 1, 2, i] for i, t in enumerate(stamps(4))])
    one_line_error({"path": "test.csv", "train_files": ["train.csv"], "time_column": "time"}, tmp_path,
                   "train.csv", "lacks 'c'")


@pytest.mark.parametrize("cells, why", [
    (["", "", "", ""], "has 4 non-numeric, missing or infinite value(s) at data row(s) 0, 1, 2, 3 (0-based; values "
                       "missing, missing, missing, missing); no row of it holds a number"),
    (["off", "off", "off", "off"], "has 4 non-numeric, missing or infinite value(s) at data row(s) 0, 1, 2, 3 "
                                   "(0-based; values 'off', 'off', 'off', 'off'); no row of it holds a number")])
def test_a_channel_without_numbers_in_a_test_file_is_named_as_such_not_as_missing(tmp_path, cells, why):
    """A sensor dead through a test file (its column empty, or text) was said to be missing from the file ("value
    columns differ from train.csv's: lacks 'b'"), which the file's header contradicts: the line names its values."""
    series(tmp_path, "train.csv", n=10)
    write_csv(tmp_path, "test.csv", ["time", "a", "b"], [[t, i, c] for i, (t, c) in enumerate(zip(stamps(4), cells, strict=True))])
    msg = one_line_error({"train_files": ["train.csv"], "test_files": ["test.csv"], "time_column": "time"}, tmp_path)
    assert msg.startswith(f"{tmp_path / 'test.csv'}: column 'b' {why}"), msg
    # dead through the training file, read in the test file: "train.csv: value columns differ from test.csv's: has
    # extra 'b'" blamed the file whose column holds numbers
    msg = one_line_error({"train_files": ["test.csv"], "test_files": ["train.csv"], "time_column": "time"}, tmp_path)
    assert msg.startswith(f"{tmp_path / 'test.csv'}: column 'b' {why}"), msg


def test_a_label_column_only_in_the_test_files_of_an_unlabelled_dataset_asks_for_labels(tmp_path):
    series(tmp_path, "train.csv", n=10)  # training files may lack the label column
    series(tmp_path, "test.csv", n=10, labels=[3])
    msg = one_line_error({"train_files": ["train.csv"], "test_files": ["test.csv"], "time_column": "time"}, tmp_path,
                         "value columns differ from train.csv's: has extra 'anomaly'")
    assert msg.endswith("(if it holds the anomaly labels, give \"labels\": {\"column\": \"anomaly\"}; else give "
                        "value_columns, or list extra columns in ignore_columns)")


def test_unknown_field_suggests_the_closest_name(tmp_path):
    series(tmp_path, n=10)
    msg = one_line_error({"path": "s.csv", "lables": {"column": "anomaly"}}, tmp_path)
    assert msg == "dataset: unknown field 'lables'; did you mean 'labels'?"
    one_line_error({"path": "s.csv", "labels": {"colum": "anomaly"}}, tmp_path,
                   "unknown field 'colum'; did you mean 'column'?")


def test_env_var_at_the_start_of_a_path(tmp_path, monkeypatch):
    series(tmp_path / "data", "s.csv", n=10)
    monkeypatch.setenv("MY_CSV_DIR", str(tmp_path / "data"))
    assert load({"path": "${MY_CSV_DIR}/s.csv"}, REPO).train.shape == (5, 2)
    monkeypatch.setenv("MY_CSV_DIR", str(tmp_path))  # one folder too high: the message names the variable
    one_line_error({"path": "${MY_CSV_DIR}/s.csv"}, REPO, f"file {tmp_path / 's.csv'} not found (${{MY_CSV_DIR}} is "
                   f"'{tmp_path}': is it the folder that holds s.csv?)")
    monkeypatch.delenv("MY_CSV_DIR")
    one_line_error({"path": "${MY_CSV_DIR}/s.csv"}, REPO, "MY_CSV_DIR", "not set")


# ----------------------------------------------------------------------------- the shared real files


def shared_file(rel: str) -> Path:
    """A shared real file: skipped locally when absent, a failure on CI (as conftest's shared folders)."""
    from conftest import _shared_dir

    path = _shared_dir(str(Path(rel).parent)) / Path(rel).name
    if not path.is_file():
        pytest.fail(f"{path} is missing from the shared data")
    return path


def test_smoke_skab_valve1_with_anomaly_free_training_run():
    shared_file("SKAB/data/valve1/1.csv")
    shared_file("SKAB/data/anomaly-free/anomaly-free.csv")
    d = load_csv_dataset({"path": "../shared/datasets/SKAB/data/valve1/1.csv", "time_column": "datetime",
                          "labels": {"column": "anomaly"}, "ignore_columns": ["changepoint"],
                          "train_files": ["../shared/datasets/SKAB/data/anomaly-free/anomaly-free.csv"]}, [REPO])
    assert len(d.channels) == 8 and "changepoint" not in d.channels and "anomaly" not in d.channels
    assert d.train.shape == (9405, 8)
    [p] = d.test_pieces
    assert p["values"].shape == (1145, 8) and p["point_labels"].sum() == 402
    assert p["timestamps"][0] == np.datetime64("2020-03-09T10:34:33")


def test_smoke_klse_close_prices_unlabelled():
    shared_file("KLSE/KLSE.csv")
    d = load_csv_dataset({"path": "../shared/datasets/KLSE/KLSE.csv", "time_column": "Date",
                          "value_columns": ["Close"]}, [REPO])
    assert d.full_values.shape == (248, 1) and (d.train_start, d.train_end) == (0, 124)
    assert not d.has_labels and d.full_timestamps[0] == np.datetime64("2023-03-07")


# ----------------------------------------------------------------------------- reading pitfalls: no silent wrong result


def write_text(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_trailing_separator_on_every_row_is_dropped_not_shifted(tmp_path):
    write_text(tmp_path, "s.csv", "time,a,b\n" + "".join(f"{i},{i + 0.5},{-i}," + "\n" for i in range(6)))
    d = load({"path": "s.csv", "time_column": "time", "train_points": 3}, tmp_path)
    assert d.channels == ["a", "b"]
    assert d.full_values[:, 0].tolist() == [i + 0.5 for i in range(6)] and d.full_timestamps.tolist() == list(range(6))
    assert "the empty last field of 6 row(s)" in d.train_block_note


def test_data_in_more_fields_than_the_header_is_an_error(tmp_path):
    write_text(tmp_path, "s.csv", "time,a,b\n0,1,2\n1,3,4,9\n2,5,6\n")
    one_line_error({"path": "s.csv"}, tmp_path, "s.csv", "data row 1", "4 fields, the header 3", "'9'")


def test_single_column_with_decimal_commas(tmp_path):
    write_text(tmp_path, "s.csv", "value\n" + "".join(f"{i},{i * 25:02d}\n" for i in range(8)))
    one_line_error({"path": "s.csv"}, tmp_path, "s.csv", "decimal separator looks like a comma",
                   '"decimal": ","')
    d = load({"path": "s.csv", "decimal": ","}, tmp_path)
    assert d.full_values[:3, 0].tolist() == [0.0, 1.25, 2.5]


def test_decimal_commas_and_thousands_are_not_left_out_as_text(tmp_path):
    rows = [[i, f"{i},5", i * i] for i in range(6)]
    write_csv(tmp_path, "semi.csv", ["t", "a", "b"], rows, sep=";")
    one_line_error({"path": "semi.csv", "time_column": "t"}, tmp_path,
                   "semi.csv", "column 'a'", '"decimal": ","', "ignore_columns")
    d = load({"path": "semi.csv", "time_column": "t", "decimal": ","}, tmp_path)
    assert d.channels == ["a", "b"] and d.full_values[:2, 0].tolist() == [0.5, 1.5]
    write_text(tmp_path, "thou.csv", "t,a,b\n" + "".join(f'{i},"1,{i}00.5",{i * i}\n' for i in range(6)))
    one_line_error({"path": "thou.csv", "time_column": "t"}, tmp_path, "column 'a'", '"thousands": ","')
    one_line_error({"path": "thou.csv", "value_columns": ["a"]}, tmp_path, "column 'a'", '"thousands": ","')
    d = load({"path": "thou.csv", "time_column": "t", "thousands": ","}, tmp_path)
    assert d.full_values[:2, 0].tolist() == [1000.5, 1100.5]
    # 0,013 is no grouping of thousands (a first group has no leading 0): never advised to read it as 13
    write_text(tmp_path, "lead.csv", "t,a,b\n" + "".join(f'{i},"0,{i}13",{i}.5\n' for i in range(6)))
    try:
        message = "left out: " + load({"path": "lead.csv", "time_column": "t"}, tmp_path).train_block_note
    except DataError as e:
        message = str(e)
    assert "thousands" not in message and "'a'" in message
    # a text column is still left out
    write_csv(tmp_path, "txt.csv", ["a", "status"], [[i, "ok" if i % 2 else "1.2.3"] for i in range(6)])
    assert load({"path": "txt.csv"}, tmp_path).channels == ["a"]


def test_day_first_dates(tmp_path):
    days = [f"{d:02d}/01/2020 10:00" for d in range(8, 16)]  # 13/01 only reads day first
    write_csv(tmp_path, "df.csv", ["time", "a"], [[t, i * i] for i, t in enumerate(days)])
    d = load({"path": "df.csv", "time_column": "time"}, tmp_path)
    assert d.full_timestamps[0] == np.datetime64("2020-01-08T10:00") and "read day first" in d.train_block_note


def test_dayfirst_reads_the_n_n_year_dates_of_a_column_that_also_holds_iso_ones(tmp_path):
    """A column of day-first dates with one row written the ISO way went to pandas without "dayfirst", which read
    the others month first: monthly data (the 1st of each month) read as daily January, or, as here, refused as
    out of order."""
    written = [f"01/{m:02d}/2024" if m != 4 else "2024-04-01" for m in range(1, 13)]
    write_csv(tmp_path, "m.csv", ["time", "a"], [[t, i % 3] for i, t in enumerate(written)])
    d = load({"path": "m.csv", "time_column": "time", "dayfirst": True, "train_points": 6}, tmp_path)
    np.testing.assert_array_equal(d.full_timestamps, np.array([f"2024-{m:02d}-01" for m in range(1, 13)], "datetime64[s]"))


def test_dates_that_read_both_ways(tmp_path):
    both = [f"{d:02d}/02/2020" for d in range(1, 9)]  # 1-8 Feb day first, 2 Jan - 2 Aug month first
    write_csv(tmp_path, "b.csv", ["time", "a"], [[t, i * i] for i, t in enumerate(both)])
    spec = {"path": "b.csv", "time_column": "time"}
    one_line_error(spec, tmp_path, "b.csv", "'01/02/2020' read both day first (01 Feb 2020) and month first (02 Jan 2020)", '"dayfirst"', "time_format")
    d = load({**spec, "dayfirst": True}, tmp_path)
    assert d.full_timestamps[1] == np.datetime64("2020-02-02")
    d = load({**spec, "dayfirst": False}, tmp_path)
    assert d.full_timestamps[1] == np.datetime64("2020-02-02") and d.full_timestamps[2] == np.datetime64("2020-03-02")
    d = load({**spec, "time_format": "%d/%m/%Y"}, tmp_path)
    assert d.full_timestamps[2] == np.datetime64("2020-02-03")
    one_line_error({**spec, "dayfirst": "yes"}, tmp_path, "dayfirst must be true")
    # only day first gives increasing times (month first: 1 Feb, 1 Mar, 2 Jan, 2 Feb): used, and said
    write_csv(tmp_path, "i.csv", ["time", "a"], [[t, i * i] for i, t in
                                                 enumerate(["02/01/2020", "03/01/2020", "01/02/2020", "02/02/2020"])])
    d = load({"path": "i.csv", "time_column": "time", "train_points": 2}, tmp_path)
    assert d.full_timestamps[2] == np.datetime64("2020-02-01")
    assert "read day first (day/month/year), the one reading with increasing times" in d.train_block_note
    # label windows are read as the time column was
    (tmp_path / "w.json").write_text(json.dumps([["01/02/2020", "02/02/2020"]]))
    d = load({"path": "i.csv", "time_column": "time", "train_points": 2, "labels": {"windows": "w.json"}}, tmp_path)
    assert np.flatnonzero(d.full_point_labels).tolist() == [2, 3]


@pytest.mark.parametrize("written, format_hint", [
    ("{d:02d}.02.2020 10:00", ', or a "time_format" such as "%d.%m.%Y %H:%M"'),  # the file's own way of writing
    ("{d:02d}/02/2020 10:00 AM", ', or a "time_format" such as "%d/%m/%Y %I:%M %p"'),  # 12-hour times
    ("{d:02d}/02/2020 12:00 AM", ""),  # no format is guessed: none is offered, rather than one that would not read them
])
def test_dates_that_read_both_ways_suggest_a_format_that_reads_them(tmp_path, written, format_hint):
    both = [written.format(d=d) for d in range(1, 9)]
    write_csv(tmp_path, "b.csv", ["time", "a"], [[t, i * i] for i, t in enumerate(both)])
    msg = one_line_error({"path": "b.csv", "time_column": "time"}, tmp_path, "read both day first")
    assert msg.endswith(f'add "dayfirst": true (day/month/year) or false (month/day/year) to the dataset object{format_hint}')
    if format_hint:  # the suggested format reads the file
        fmt = format_hint.split('"')[3]
        assert load({"path": "b.csv", "time_column": "time", "time_format": fmt}, tmp_path).full_timestamps[2] == (
            np.datetime64("2020-02-03T10:00"))


def test_label_dates_that_read_both_ways_beside_iso_times_are_refused_until_dayfirst_says_which(tmp_path):
    """A file of ISO days says nothing of how a label's 01/02/2024 reads: it is refused, not put on either day."""
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-03-01"))
    write_csv(tmp_path, "s.csv", ["time", "v"], [[day, i % 5] for i, day in enumerate(days)])
    (tmp_path / "l.json").write_text(json.dumps(["01/02/2024"]))
    spec = {"path": "s.csv", "time_column": "time", "train_points": 20, "labels": {"timestamps": "l.json"}}
    one_line_error(spec, tmp_path, "l.json: label timestamps: dates such as '01/02/2024' read both day first "
                   "(01 Feb 2024) and month first (02 Jan 2024)", '"dayfirst"')
    assert np.flatnonzero(load({**spec, "dayfirst": True}, tmp_path).full_point_labels).tolist() == [31]
    assert np.flatnonzero(load({**spec, "dayfirst": False}, tmp_path).full_point_labels).tolist() == [1]


def test_row_numbers_as_label_times_of_a_file_with_a_time_column_say_how_to_write_them(tmp_path):
    series(tmp_path, n=12)
    (tmp_path / "windows.json").write_text(json.dumps([[3, 5]]))
    msg = one_line_error({"path": "s.csv", "time_column": "time", "labels": {"windows": "windows.json"}}, tmp_path)
    assert msg.endswith("windows.json: 2 label time(s) are not dates, e.g. 3; write them as times, as s.csv's time "
                        "column holds (e.g. 2020-01-01T00:00:00), or leave out time_column to give row numbers")
    (tmp_path / "windows.json").write_text(json.dumps([[1577836800, 1577844000]]))  # epoch seconds: not row numbers
    msg = one_line_error({"path": "s.csv", "time_column": "time", "labels": {"windows": "windows.json"}}, tmp_path)
    assert msg.endswith("e.g. 1577836800; write them as times, as s.csv's time column holds (e.g. 2020-01-01T00:00:00)")


def test_label_rows_written_as_whole_floats_without_a_time_column_are_those_rows(tmp_path):
    """Without time_column a window end written 20.0 (as a script that saves floats writes it) was refused as "label
    timestamps are 0-based row numbers", while train_range takes 400.0 as row 400: it is row 20 now, and a row that
    is no whole number, or a time, is refused in a line that says which labels it is about."""
    write_text(tmp_path, "s.csv", "a\n" + "".join(f"{i % 5}\n" for i in range(30)))
    (tmp_path / "windows.json").write_text(json.dumps([[10, 20.0]]))
    (tmp_path / "stamps.json").write_text(json.dumps([3.0, 25]))
    d = load({"path": "s.csv", "labels": {"windows": "windows.json"}, "train_range": [0, 5.0]}, tmp_path)
    assert np.flatnonzero(d.full_point_labels).tolist() == list(range(10, 21))
    d = load({"path": "s.csv", "labels": {"timestamps": "stamps.json"}, "train_range": [5, 10]}, tmp_path)
    assert np.flatnonzero(d.full_point_labels).tolist() == [3, 25]
    (tmp_path / "windows.json").write_text(json.dumps([[10, 20.5]]))
    msg = one_line_error({"path": "s.csv", "labels": {"windows": "windows.json"}}, tmp_path)
    assert msg.endswith("windows.json: without time_column, label window ends are 0-based row numbers; got 20.5")
    (tmp_path / "windows.json").write_text(json.dumps([["2020-01-01", "2020-01-02"]]))
    msg = one_line_error({"path": "s.csv", "labels": {"windows": "windows.json"}}, tmp_path)
    assert msg.endswith("windows.json: without time_column, label window ends are 0-based row numbers; got "
                        "'2020-01-01': give time_column to read them as times")
    (tmp_path / "stamps.json").write_text(json.dumps([3.5]))
    msg = one_line_error({"path": "s.csv", "labels": {"timestamps": "stamps.json"}}, tmp_path)
    assert msg.endswith("stamps.json: without time_column, label timestamps are 0-based row numbers; got 3.5")


def test_date_windows_of_a_numeric_time_column_name_window_ends_and_a_yyyymmdd_format(tmp_path):
    """Windows of dates for a file whose time column is numbers were refused as "label timestamps must be numbers",
    which they are not; for dates written yyyymmdd (20240105), read as numbers, the line did not say that a
    time_format reads them as the dates the windows write."""
    write_text(tmp_path, "d.csv", "d,x\n" + "".join(f"202401{i + 1:02d},{i % 4}\n" for i in range(20)))
    (tmp_path / "w.json").write_text(json.dumps([["2024-01-05", "2024-01-07"]]))
    msg = one_line_error({"path": "d.csv", "time_column": "d", "labels": {"windows": "w.json"}}, tmp_path)
    assert msg.endswith("w.json: label window ends must be numbers, as d.csv's time column (could not convert string "
                        "to float: '2024-01-05'); its numbers read as dates written yyyymmdd: give \"time_format\": "
                        "\"%Y%m%d\" to read them as dates")
    d = load({"path": "d.csv", "time_column": "d", "labels": {"windows": "w.json"}, "time_format": "%Y%m%d"}, tmp_path)
    assert np.flatnonzero(d.full_point_labels).tolist() == [4, 5, 6]
    write_text(tmp_path, "n.csv", "t,x\n" + "".join(f"{i},{i % 4}\n" for i in range(20)))
    msg = one_line_error({"path": "n.csv", "time_column": "t", "labels": {"windows": "w.json"}}, tmp_path)
    assert msg.endswith("w.json: label window ends must be numbers, as n.csv's time column (could not convert string "
                        "to float: '2024-01-05')")


def test_label_windows_that_cover_no_row(tmp_path):
    series(tmp_path, n=20)
    spec = {"path": "s.csv", "train_points": 5, "labels": {"windows": "w.json"}}
    for windows, needle in (([[500, 600]], "window [500, 600] covers no row of s.csv (rows 0 to 19)"),
                            ([[3, 4], [-5, -1]], "window [-5, -1] covers no row"),
                            ([[None, 5]], "window [null, 5] needs a start and an end"),
                            ([[9, 4]], "window [9, 4] ends before it starts"),
                            ([[3, 4, 5]], "each window must be a [start, end] pair, got [3, 4, 5]")):
        (tmp_path / "w.json").write_text(json.dumps(windows))
        one_line_error(spec, tmp_path, "w.json", needle)
    (tmp_path / "w.json").write_text(json.dumps([[18, 30]]))  # partly inside: fine
    assert np.flatnonzero(load(spec, tmp_path).full_point_labels).tolist() == [18, 19]


def test_a_label_window_ending_on_a_date_alone_of_a_file_with_times_of_day_is_refused(tmp_path):
    """A window ["2020-01-01", "2020-01-01"] (a day, as a log of incidents writes it) on hourly data labelled the one
    row at 00:00, and ["2020-01-01 20:00", "2020-01-02"] ended at 00:00 of its last day, unsaid: the rest of the day
    the user meant went unlabelled. The end is refused in one line that says how to write the whole day; a start
    written as a date is its 00:00, and the dates of a daily file read as before."""
    series(tmp_path, n=30)  # hourly, 2020-01-01 00:00 to 2020-01-02 05:00
    spec = {"path": "s.csv", "time_column": "time", "train_points": 5, "labels": {"windows": "w.json"}}
    for windows in ([["2020-01-01", "2020-01-01"]], [["2020-01-01 20:00", "2020-01-02"]],
                    [["2020-01-01 20:00", "Jan 2, 2020"]], [["2020-01-01 20:00", "2 January 2020"]],
                    [["2020-01-01 20:00", "2020-01-02T"]], [["2020-01-01 20:00", "Thu 02-Jan-2020"]]):
        (tmp_path / "w.json").write_text(json.dumps(windows))
        one_line_error(spec, tmp_path, "w.json", f"window {json.dumps(windows[0])} ends on a date without a time of day",
                       f"e.g. '{windows[0][1]}{'' if windows[0][1].endswith('T') else ' '}23:59:59'")
    (tmp_path / "w.json").write_text(json.dumps([["2020-01-02", "2020-01-02 03:00"]]))
    assert np.flatnonzero(load(spec, tmp_path).full_point_labels).tolist() == [24, 25, 26, 27]
    for end in ("Jan 2, 2020 3:00", "2 January 2020 3 AM", "2020-01-02T03"):  # a time of day, however written
        (tmp_path / "w.json").write_text(json.dumps([["2020-01-01 22:00", end]]))
        assert np.flatnonzero(load(spec, tmp_path).full_point_labels).tolist() == [22, 23, 24, 25, 26, 27]
    write_csv(tmp_path, "d.csv", ["time", "a"], [[f"2020-01-{d:02d}", d % 3] for d in range(1, 11)])  # daily
    (tmp_path / "w.json").write_text(json.dumps([["2020-01-07", "2020-01-08"]]))
    assert np.flatnonzero(load({**spec, "path": "d.csv"}, tmp_path).full_point_labels).tolist() == [6, 7]
    # ends written in the file's own time_format, whose hour makes eight digits as a date's do (yymmddHH): no date alone
    write_csv(tmp_path, "h.csv", ["time", "a"], [[f"200101{h:02d}", h % 3] for h in range(24)])
    for end, rows in (("20010115", [12, 13, 14, 15]), ("20010100", [])):
        (tmp_path / "w.json").write_text(json.dumps([["20010112", end]] if rows else [["20010100", end]]))
        hourly = {**spec, "path": "h.csv", "time_format": "%y%m%d%H"}
        assert np.flatnonzero(load(hourly, tmp_path).full_point_labels).tolist() == (rows or [0])


def test_header_names_that_differ_only_by_spaces(tmp_path):
    write_text(tmp_path, "s.csv", "time,a ,a\n" + "".join(f"{i},{i},{-i}\n" for i in range(6)))
    one_line_error({"path": "s.csv"}, tmp_path, "s.csv", "column 'a' twice", "columns 2 and 3")
    write_text(tmp_path, "s.csv", "time,a,a\n" + "".join(f"{i},{i},{-i}\n" for i in range(6)))
    one_line_error({"path": "s.csv"}, tmp_path, "column 'a' twice")


def test_timestamps_file_that_holds_windows_or_booleans(tmp_path):
    write_csv(tmp_path, "s.csv", ["t", "a"], [[i, i * i] for i in range(20)])  # a numeric time column
    spec = {"path": "s.csv", "time_column": "t", "train_points": 5, "labels": {"timestamps": "l.json"}}
    (tmp_path / "l.json").write_text(json.dumps([[10, 12]]))
    one_line_error(spec, tmp_path, "l.json", "flat list of times", "[10, 12]", "labels.windows")
    (tmp_path / "l.json").write_text(json.dumps([True]))
    one_line_error(spec, tmp_path, "l.json", "flat list of times", "got true")


def test_field_longer_than_the_csv_module_limit(tmp_path):
    write_text(tmp_path, "s.csv", "a,note\n" + "".join(f"{i},{'x' * (200_000 if i == 1 else 3)}\n" for i in range(6)))
    d = load({"path": "s.csv"}, tmp_path)
    assert d.channels == ["a"] and "'note' (not numeric)" in d.train_block_note


def test_a_test_file_that_is_also_trained_on(tmp_path):
    series(tmp_path, "a.csv", n=10)
    series(tmp_path, "b.csv", n=10)
    for spec in ({"train_files": ["a.csv"], "test_files": ["./a.csv"]},
                 {"path": "a.csv", "train_files": ["a.csv"]},
                 {"path": "a.csv", "test_files": ["b.csv", "a.csv"]}):
        one_line_error(spec, tmp_path, "a.csv", "scored on its own training data")
    one_line_error({"train_files": ["a.csv", "./a.csv"], "test_files": ["b.csv"]}, tmp_path, "listed twice")


def test_a_file_without_a_header_row(tmp_path):
    write_text(tmp_path, "s.csv", "".join(f"{i},{i + 0.25},{-i}\n" for i in range(6)))
    one_line_error({"path": "s.csv"}, tmp_path, "s.csv", "the first row looks like data, not a header")
    write_text(tmp_path, "s.csv", "0,1\n" + "".join(f"{i},{i * i}\n" for i in range(6)))  # pandas' default names
    assert load({"path": "s.csv"}, tmp_path).channels == ["0", "1"]
    write_text(tmp_path, "s.csv", ",0,1\n" + "".join(f"{i},{i * i},{-i}\n" for i in range(6)))  # and its index's
    assert load({"path": "s.csv"}, tmp_path).channels == ["0", "1"]
    # pandas' index, unnamed, before columns named by whole numbers (sensor ids): a header, as it was read
    write_text(tmp_path, "s.csv", ",101,102\n" + "".join(f"{t},{i}.5,{-i}\n" for i, t in enumerate(stamps(6))))
    d = load({"path": "s.csv"}, tmp_path)
    assert d.channels == ["101", "102"] and d.full_values[:2].tolist() == [[0.5, 0], [1.5, -1]]
    # a first row of numbers with a missing cell (empty, or n/a): it became the header, its numbers the channels'
    # names (the empty cell's column left out as one without a name), the row lost
    for first in ("1.5,,2.5", "1.5,n/a,2.5", ",1.5,2.5", "NaN,1.5,-2"):
        write_text(tmp_path, "m.csv", first + "\n" + "".join(f"{i}.5,{i},{-i}\n" for i in range(6)))
        one_line_error({"path": "m.csv"}, tmp_path, f"m.csv: the first row looks like data, not a header ({first})")
    write_text(tmp_path, "m.csv", f"{stamps(7)[0]},NA,2.5\n" + "".join(f"{t},{i},{-i}\n" for i, t in
                                                                       enumerate(stamps(7)[1:])))
    one_line_error({"path": "m.csv"}, tmp_path, "m.csv: the first row looks like data, not a header")
    # a header that names its channels NA, 1 and 2 reads as such a row: the line said only to add a header row
    write_text(tmp_path, "h.csv", "NA,1,2\n" + "".join(f"{i},{i * 2},{i * 3}\n" for i in range(6)))
    msg = one_line_error({"path": "h.csv"}, tmp_path)
    assert msg.endswith("h.csv: the first row looks like data, not a header (NA,1,2); add a header row naming the "
                        "columns, or, if this row is the header, rename its columns 'NA', '1' and '2': a header of "
                        "numbers and names that read as missing values (NA, n/a, null) reads as a row of data")
    # a first row of a time and numbers: it became the header, its numbers the channels' names, the row lost
    write_text(tmp_path, "t.csv", "".join(f"{stamps(6)[i]},{i + 0.25},{-i}.5\n" for i in range(6)))
    one_line_error({"path": "t.csv"}, tmp_path, "t.csv", "the first row looks like data, not a header")
    # names that read as dates only beside ones that are words, or as plain numbers, are a header
    write_text(tmp_path, "u.csv", "time,2024,2025\n" + "".join(f"{stamps(6)[i]},{i},{i * i}\n" for i in range(6)))
    assert load({"path": "u.csv", "time_column": "time"}, tmp_path).channels == ["2024", "2025"]
    for names in (["t1", "t2", "t3"], ["1m", "5m", "15m"], ["m1", "1.5h", "2nd"]):  # pandas reads these as times
        write_text(tmp_path, "v.csv", ",".join(names) + "\n" + "".join(f"{i},{i * 2},{i % 3}\n" for i in range(6)))
        assert load({"path": "v.csv"}, tmp_path).channels == names


@pytest.mark.parametrize("decimal", [None, ","])
def test_a_european_file_without_a_header_row(tmp_path, decimal):
    """Semicolons and decimal commas: a first row of a time and numbers such as 12,5 is data, not column names."""
    rows = "".join(f"{stamps(40)[i]};{i % 5},5;{i % 3}\n" for i in range(40))
    write_text(tmp_path, "t.csv", rows)
    spec = {"path": "t.csv"} | ({"decimal": decimal} if decimal else {})
    one_line_error(spec, tmp_path, "t.csv: the first row looks like data, not a header (2020-01-01 00:00:00;0,5;0)")
    write_text(tmp_path, "n.csv", "".join(f"{i % 5},5;{i % 3},25\n" for i in range(40)))  # numbers only
    one_line_error({"path": "n.csv", "decimal": ","}, tmp_path, "n.csv: the first row looks like data, not a header")


def test_excels_sep_line_names_the_separator_and_is_left_out(tmp_path):
    """Excel's CSV export may start with a "sep=;" line; the header follows it."""
    rows = "".join(f"{stamps(6)[i]};{i},5;{i % 3}\r\n" for i in range(6))
    write_text(tmp_path, "x.csv", "sep=;\r\ntime;a;b\r\n" + rows)
    d = load({"path": "x.csv", "time_column": "time", "decimal": ",", "train_points": 3}, tmp_path)
    assert d.channels == ["a", "b"] and d.full_values[:, 0].tolist() == [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]
    assert "x.csv: its first line, Excel's \"sep=;\", names the separator and is left out" in d.train_block_note


def test_numeric_time_column_with_a_bad_cell_names_it(tmp_path):
    write_csv(tmp_path, "s.csv", ["t", "a"], [["x7" if i == 4 else i, i * i] for i in range(10)])
    one_line_error({"path": "s.csv", "time_column": "t"}, tmp_path, "s.csv", "holds numbers",
                   "data row(s) 4", "'x7'")


def test_old_mac_line_ends_and_a_title_line(tmp_path):
    write_text(tmp_path, "cr.csv", "t,a\r" + "".join(f"{i},{i * i}\r" for i in range(6)))
    d = load({"path": "cr.csv", "value_columns": ["t", "a"]}, tmp_path)  # 't', increasing, is data when listed
    assert d.full_values[:, 1].tolist() == [i * i for i in range(6)]
    write_text(tmp_path, "title.csv", "# exported by logger v2\nt,a\n" + "".join(f"{i},{i * i}\n" for i in range(6)))
    one_line_error({"path": "title.csv"}, tmp_path, "title.csv", "title or comment")
    # a title holding a comma, over a file separated by the dataset's sep: it said the file seemed separated by ','
    for sep in (";", "\t"):
        write_text(tmp_path, "title.csv", f"Export, plant 2\nt{sep}a\n" + "".join(f"{i}{sep}{i * i}\n" for i in range(6)))
        msg = one_line_error({"path": "title.csv", "sep": sep}, tmp_path, "title.csv: the first line ('Export, plant 2') "
                             "has one field and every other line more: is it a title or comment?")
        assert "seems separated" not in msg


def test_whitespace_separated_file_with_right_aligned_columns(tmp_path):
    # pandas strips each line before splitting at a regular expression: leading spaces make no field
    for header, end in (("time value", ""), ("  time     value", "  ")):
        write_text(tmp_path, "w.txt", header + "\n" + "".join(f"{i:6d} {i / 8:10.4f}{end}\n" for i in range(8)))
        d = load({"path": "w.txt", "sep": "\\s+", "time_column": "time"}, tmp_path)
        assert d.channels == ["value"] and d.full_values[:, 0].tolist() == [i / 8 for i in range(8)]
        assert "empty last field" not in d.train_block_note
    write_text(tmp_path, "w.txt", "time value\n    0     0.5\n    1     0.25     7\n")
    one_line_error({"path": "w.txt", "sep": "\\s+"}, tmp_path, "data row 1", "3 fields, the header 2", "'7'")


def test_trailing_separator_on_some_rows(tmp_path):
    write_text(tmp_path, "s.csv", "a,b\n1,2\n3,4,\n5,6\n7,8,,\n9,10\n")
    d = load({"path": "s.csv", "train_points": 2}, tmp_path)
    assert d.full_values.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]
    assert "s.csv: the empty last field of 2 row(s) (a trailing ',') left out" in d.train_block_note
    write_text(tmp_path, "s.csv", "a,b\n1,2\n3,4,\n5,6,,x\n9,10\n")
    one_line_error({"path": "s.csv"}, tmp_path, "1 data row(s) have more fields", "data row 2", "'x'")


def test_number_format_hint_names_only_settings_that_differ(tmp_path):
    # decimal "," and thousands " " given, but the numbers are written 1 234.5: the hint is
    # "decimal": "." (not the thousands separator the dataset already has)
    write_csv(tmp_path, "s.csv", ["t", "a", "b"], [[i, f"{i + 1} 234.5", i * i] for i in range(6)], sep=";")
    spec = {"path": "s.csv", "time_column": "t", "decimal": ",", "thousands": " "}
    msg = one_line_error(spec, tmp_path, "column 'a'", 'reads as numbers with "decimal": ".": set that')
    assert "thousands" not in msg
    d = load({**spec, "decimal": "."}, tmp_path)
    assert d.full_values[:2, 0].tolist() == [1234.5, 2234.5]
    # and the other way round: thousands missing, decimal right
    msg = one_line_error({**spec, "decimal": ".", "thousands": None}, tmp_path, 'with "thousands": " ": set that')
    assert '"decimal"' not in msg


@pytest.mark.parametrize("space", ["\u00a0", "\u202f"])
def test_thousands_grouped_by_a_no_break_space(tmp_path, space):
    """French and Swiss exports group thousands with a no-break space (U+00A0, or the narrow U+202F): with that
    "thousands" given, pandas' C reader (one byte per separator) read the column as text, which was left out as not
    numeric; without it, the hint named no setting. A non-ASCII column separator failed in that reader too."""
    rows = [[i, f"{i + 1}{space}234,5", i * i] for i in range(6)]
    write_csv(tmp_path, "fr.csv", ["t", "a", "b"], rows, sep=";")
    spec = {"path": "fr.csv", "time_column": "t", "decimal": ",", "thousands": space}
    d = load(spec, tmp_path)
    assert d.channels == ["a", "b"]
    assert d.full_values[:2, 0].tolist() == [1234.5, 2234.5]
    escaped = json.dumps(space)  # "\u00a0": what the line says to write, as the space itself is not seen
    one_line_error({**spec, "thousands": None}, tmp_path, "column 'a'", f'reads as numbers with "thousands": {escaped}: set')
    one_line_error({**spec, "decimal": ".", "thousands": None}, tmp_path, "column 'a'",
                   f'reads as numbers with "decimal": ",", "thousands": {escaped}: set')
    # a separator that is not one ASCII byte was "cannot parse as CSV ... the 'c' engine does not support such
    # separators"
    write_csv(tmp_path, "fr.csv", ["t", "a", "b"], rows, sep="§")
    assert load({**spec, "sep": "§"}, tmp_path).full_values[:2].tolist() == [[1234.5, 0], [2234.5, 1]]
    # a line ended by a carriage return alone among line feeds ends its row, as in pandas' C reader: the check of the
    # thousands groups read the text otherwise, and stopped with pandas' ParserError traceback
    text = (tmp_path / "fr.csv").read_text()
    (tmp_path / "fr.csv").write_text(text.replace("\n", "\r", 2).replace("\r", "\n", 1))  # row 0 ends in \r
    assert load({**spec, "sep": "§"}, tmp_path).full_values.tolist() == [[(i + 1) * 1000 + 234.5, i * i] for i in range(6)]


@pytest.mark.parametrize("space", ["\u00a0", "\u202f"])
def test_numbers_with_a_no_break_space_around_them_read_as_numbers(tmp_path, space):
    """A spreadsheet exports a cell's leading or trailing no-break space (U+00A0, or the narrow U+202F) as it is: such
    columns read as text and were left out of the channels as "not numeric" (a time with one was not read); they
    read as an ordinary space around a number does, inside quotes too, and a no-break space that groups thousands
    is still that."""
    rows = [[f"{t}{space}", f"{space}{i}.5", f"{i * i}{space}", f'"{space}{i}{space}"', i]
            for i, t in enumerate(stamps(8))]
    write_csv(tmp_path, "nb.csv", ["time", "a", "b", "c", "d"], rows)
    d = load({"path": "nb.csv", "time_column": "time", "train_points": 4}, tmp_path)
    assert d.channels == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(d.full_values[:, :3], [[i + 0.5, i * i, i] for i in range(8)])
    assert d.full_timestamps[3] == np.datetime64("2020-01-01T03:00:00")
    rows = [[i, f"{space}{i + 1}{space}234,5{space}", i * i] for i in range(6)]
    write_csv(tmp_path, "fr.csv", ["t", "a", "b"], rows, sep=";")
    d = load({"path": "fr.csv", "time_column": "t", "decimal": ",", "thousands": space}, tmp_path)
    assert d.full_values[:2].tolist() == [[1234.5, 0], [2234.5, 1]]


def test_text_columns_that_only_look_like_other_number_formats_are_left_out(tmp_path):
    # quoted pairs "3,4" beside columns that read with decimal points, a tag 3', numbers grouped
    # other than by three digits: text, not a decimal comma or a thousands separator
    rows = [[i, f'"{i % 9},{i % 7}"', f"{i}'", f"{100 + i} {i}", f"{i}.{i + 1}"] for i in range(12)]
    write_csv(tmp_path, "s.csv", ["t", "pair", "tag", "code", "x"], rows)
    d = load({"path": "s.csv", "time_column": "t"}, tmp_path)
    assert d.channels == ["x"]
    for c in ("pair", "tag", "code"):
        assert f"'{c}' (not numeric)" in d.train_block_note
    # without a column that reads with decimal points, the pairs still read as decimal commas
    write_csv(tmp_path, "p.csv", ["t", "pair", "x"], [[i, f'"{i % 9},{i % 7}"', i * i] for i in range(12)])
    one_line_error({"path": "p.csv", "time_column": "t"}, tmp_path, "column 'pair'", '"decimal": ","')
    # numbers grouped by three with an apostrophe are still a hint
    write_csv(tmp_path, "q.csv", ["t", "big", "x"], [[i, f"{i + 1}'000'500", i * i] for i in range(12)])
    one_line_error({"path": "q.csv", "time_column": "t"}, tmp_path, "column 'big'", '"thousands": "\'"')


def test_large_files_are_counted_and_dated_without_a_pass_per_row(tmp_path, monkeypatch):
    # the field counts come from one pass over the bytes (the csv module reads single lines only), and
    # n/n/year dates that fit one reading, or ISO dates, are parsed without a regular expression per row
    records, reader = [], csv.reader

    def counting_reader(lines, **kwargs):  # records read from the whole file (not a list of lines)
        for r in reader(lines, **kwargs):
            if not isinstance(lines, list):
                records.append(r)
            yield r

    def no_readings(values):
        raise AssertionError("_dmy_readings called")

    monkeypatch.setattr(csv_data.csv, "reader", counting_reader)
    monkeypatch.setattr(csv_data, "_dmy_readings", no_readings)
    n = 3000
    write_text(tmp_path, "iso.csv", "time,a\n" + "".join(f"2020-01-01 00:{i // 60 % 60:02d}:{i % 60:02d},{i}.5\n"
                                                       for i in range(n)))
    write_text(tmp_path, "mdy.csv", "time,a\n" + "".join(f"{1 + i // 24 // 28:02d}/{1 + i // 24 % 28:02d}/2020 "
                                                       f"{i % 24:02d}:00,{i}.5\n" for i in range(n)))
    for name in ("iso.csv", "mdy.csv"):
        d = load({"path": name, "time_column": "time"}, tmp_path)
        assert len(d.full_values) == n and not records
        records.clear()
    assert d.full_timestamps[24 * 13] == np.datetime64("2020-01-14T00:00")
    assert "mdy.csv: time column 'time' read month first (month/day/year), the one reading that fits" in d.train_block_note


def test_counting_fields_agrees_with_the_csv_module(tmp_path):
    texts = ['a,b\n1,"2,3"\n', 'a,b\n""\n1,2\n', 'a\n\t""\n', 'a,b\r\n1,2,\r\n\r\n3,4,  ,\r\n', 'a;b\n1;2;\t\n',
             'a\tb\n1\t2\t\x0b\n', '"a","b"\n"1","x ""y"""\n', 'a,b\n1,2,"" \n', 'a,b\n1,2,\t""\n', 'a\n\n  \n1\n']
    for text in texts:
        for sep in (",", ";", "\t"):
            fast = csv_data._scan(text, sep)
            slow = csv_data._scan_records(csv.reader(io.StringIO(text, newline=""), delimiter=sep,
                                                            skipinitialspace=True))
            assert (fast.header, fast.rows, fast.extra, fast.n_extra, fast.trailing) == \
                (slow.header, slow.rows, slow.extra, slow.n_extra, slow.trailing), (text, sep)


def test_dates_that_read_both_ways_with_a_repeated_time(tmp_path):
    # month first: 5 Jan, 6 Jan, 6 Jan, 1 Feb, 2 Feb (never back); day first: 1 May, 1 Jun, 1 Jun, 2 Jan
    dates = ["01/05/2020", "01/06/2020", "01/06/2020", "02/01/2020", "02/02/2020"]
    write_csv(tmp_path, "r.csv", ["time", "a"], [[t, i * i] for i, t in enumerate(dates)])
    spec = {"path": "r.csv", "time_column": "time", "train_points": 2}
    d = load({**spec, "time_order": "file"}, tmp_path)
    assert d.full_timestamps[3] == np.datetime64("2020-02-01")
    assert "read month first (month/day/year), the one reading with times that never step back" in d.train_block_note
    one_line_error(spec, tmp_path, "not strictly increasing", "data row 2", "repeats row 1")


def test_a_test_file_that_is_a_hard_link_to_a_training_file(tmp_path):
    series(tmp_path, "a.csv", n=10)
    try:
        os.link(tmp_path / "a.csv", tmp_path / "b.csv")
    except OSError:
        pytest.skip("no hard links here")
    one_line_error({"train_files": ["a.csv"], "test_files": ["b.csv"]}, tmp_path, "b.csv",
                   "scored on its own training data")


def test_a_training_block_of_one_row_is_called_too_short_not_constant(tmp_path):
    """One row is constant in every column: the message said to leave the column out, which cannot help (and with
    one column leaves no channel)."""
    write_text(tmp_path, "s.csv", "a\n1.5\n2.5\n3.5\n")
    for spec in ({"path": "s.csv"}, {"path": "s.csv", "train_points": 1}):
        msg = one_line_error(spec, tmp_path, "s.csv: rows [0, 1): a training block of 1 row is too short")
        assert "ignore_columns" not in msg
    write_text(tmp_path, "t.csv", "a\n1.5\n")
    one_line_error({"train_files": ["t.csv"], "test_files": ["s.csv"]}, tmp_path, "training block of 1 row is too short")


def test_a_nearly_constant_training_channel_is_a_warning(tmp_path):
    rows = ["a,b"] + [f"{np.sin(k / 3):.4f},{20.1 if k in (7, 150) else 20.0}" for k in range(300)]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    d = load({"path": "s.csv", "train_range": [0, 250]}, tmp_path)
    assert "WARNING: column(s) 'b' (99.2%) take one value in nearly every training row" in d.train_block_note
    assert "'a'" not in d.train_block_note.split("WARNING")[1]


def test_a_utf8_byte_order_mark_on_a_latin1_file_is_not_read_into_the_first_name(tmp_path):
    """A BOM, then text that is not UTF-8 (a Latin-1 'ä'): read as Latin-1, the mark is still no part of 'time'."""
    rows = "".join(f"{t},{i},{i % 3},Kessel\xe4\n" for i, t in enumerate(stamps(10)))
    (tmp_path / "m.csv").write_bytes(b"\xef\xbb\xbf" + ("time,a,b,site\n" + rows).encode("latin-1"))
    d = load({"path": "m.csv", "time_column": "time", "train_points": 5}, tmp_path)
    assert d.channels == ["a", "b"] and d.full_values[:, 0].tolist() == list(range(10))


@pytest.mark.parametrize("marks", [1, 2])
def test_a_utf8_byte_order_mark_is_no_part_of_the_first_name(tmp_path, marks):
    """Excel's "CSV UTF-8" starts with a byte-order mark; a file saved again by a tool that adds its own before it
    starts with two, and the second was read into the first name: '\ufefftime', not the time column 'time'."""
    rows = "".join(f"{t};{i},5;{i % 3}\r\n" for i, t in enumerate(stamps(10)))
    (tmp_path / "b.csv").write_bytes(("\ufeff" * marks + "time;a;b\r\n" + rows).encode("utf-8"))
    d = load({"path": "b.csv", "time_column": "time", "decimal": ",", "train_points": 5}, tmp_path)
    assert d.channels == ["a", "b"] and d.full_values[:3].tolist() == [[0.5, 0], [1.5, 1], [2.5, 2]]
    assert d.full_timestamps[1] == np.datetime64("2020-01-01T01:00:00")


def test_a_windows_1252_file_reads_its_euro_sign(tmp_path):
    """Excel's "CSV" on Western Windows is Windows-1252: '€' is byte 0x80, a control character in Latin-1."""
    rows = "".join(f"{t};{i},5;{i % 3}\r\n" for i, t in enumerate(stamps(10)))
    (tmp_path / "w.csv").write_bytes(("Zeit;Preis €;Menge\r\n" + rows).encode("cp1252"))
    d = load({"path": "w.csv", "time_column": "Zeit", "decimal": ",", "value_columns": ["Preis €", "Menge"],
              "train_points": 5}, tmp_path)
    assert d.channels == ["Preis €", "Menge"] and d.full_values[:3, 0].tolist() == [0.5, 1.5, 2.5]


def test_a_utf16_file_with_its_byte_order_mark_reads_like_utf8(tmp_path):
    """Spreadsheet programs save "Unicode text" as tab-separated UTF-16 with a byte-order mark."""
    plain = series(tmp_path, "plain.csv", sep="\t")
    wide = tmp_path / "wide.csv"
    wide.write_bytes(plain.read_text().encode("utf-16"))
    assert wide.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    first, second = (load({"path": name, "time_column": "time", "train_points": 10}, tmp_path)
                     for name in ("plain.csv", "wide.csv"))
    assert second.channels == ["a", "b"]
    np.testing.assert_array_equal(second.full_values, first.full_values)
    np.testing.assert_array_equal(second.full_values[:, 1], np.arange(20) ** 2)


def test_times_with_utc_offsets_are_converted_to_utc_and_said(tmp_path):
    rows = [[f"2024-03-01T{h:02d}:00:00+01:00", h, h * h] for h in range(12)]
    write_csv(tmp_path, "tz.csv", ["time", "a", "b"], rows)
    d = load({"path": "tz.csv", "time_column": "time", "train_points": 6}, tmp_path)
    assert d.full_timestamps[0] == np.datetime64("2024-02-29T23:00:00")  # 00:00 at +01:00
    assert "UTC offsets" in d.train_block_note and "'2024-03-01T00:00:00+01:00'" in d.train_block_note
    series(tmp_path, n=12)  # times without an offset: no such note
    assert "UTC offsets" not in load({"path": "s.csv", "time_column": "time",
                                      "train_points": 6}, tmp_path).train_block_note
    # label times: with their offset (or in UTC) they label the row meant; without one they are refused
    spec = {"path": "tz.csv", "time_column": "time", "train_points": 6, "labels": {"timestamps": "labels.json"}}
    for label in ("2024-03-01T08:00:00+01:00", "2024-03-01T07:00:00Z"):
        (tmp_path / "labels.json").write_text(json.dumps([label]))
        assert np.flatnonzero(load(spec, tmp_path).full_point_labels).tolist() == [8]
    (tmp_path / "labels.json").write_text(json.dumps(["2024-03-01 08:00:00"]))
    one_line_error(spec, tmp_path, "label time '2024-03-01 08:00:00' has no UTC offset",
                   "(e.g. '2024-03-01T00:00:00+01:00')")
    # a file whose times are already UTC (Z): a label time without an offset is meant as UTC, and taken
    write_csv(tmp_path, "tz.csv", ["time", "a", "b"], [[f"2024-03-01T{h:02d}:00:00Z", h, h * h] for h in range(12)])
    assert np.flatnonzero(load(spec, tmp_path).full_point_labels).tolist() == [8]


class CountingPattern:
    """A compiled regex that counts its ``search`` calls."""

    def __init__(self, pattern):
        self.pattern, self.calls = pattern, 0

    def search(self, *args):
        self.calls += 1
        return self.pattern.search(*args)

    def __getattr__(self, name):
        return getattr(self.pattern, name)


@pytest.mark.parametrize("offset", ["", "+01:00", "Z"])
def test_the_time_column_is_searched_for_utc_offsets_once_per_value(tmp_path, monkeypatch, offset):
    """A million times without offsets (or with them) took two regex searches each for an offset, besides one each
    for an offset written after UTC or GMT (UTC+1): 6 to 8 s of a 10 to 18 s load, the dates themselves 0.4 s. One
    search a value now, and none for UTC+1 where no value holds UTC or GMT."""
    n = 300
    write_csv(tmp_path, "t.csv", ["time", "a"], [[f"{t.replace(' ', 'T')}{offset}", i % 7]
                                                  for i, t in enumerate(stamps(n))])
    utc, named = CountingPattern(csv_data.UTC_OFFSET), CountingPattern(csv_data.NAMED_OFFSET)
    monkeypatch.setattr(csv_data, "UTC_OFFSET", utc)
    monkeypatch.setattr(csv_data, "NAMED_OFFSET", named)
    d = load({"path": "t.csv", "time_column": "time", "train_points": 100}, tmp_path)
    assert d.full_timestamps[0] == np.datetime64("2019-12-31T23:00:00" if offset == "+01:00" else "2020-01-01T00:00:00")
    assert d.utc == bool(offset)
    assert utc.calls == n
    assert named.calls == 0


@pytest.mark.parametrize("written", ["20240301T{h:02d}0000+0100", "2024-03-01T{h:02d}+01:00",
                                     "2024-03-01T{h:02d}:00:00,5+01:00", "20240301T{h:02d}0000Z",
                                     "20240301 {h:02d}0000+0100", "2024-03-01 {h:02d}00+01:00", "20240301 {h:02d}+01"])
def test_times_with_an_offset_in_iso_basic_or_hour_forms_are_utc_and_said(tmp_path, written):
    """pandas converts times such as 20240301T080000+0100 (ISO 8601's basic form), 2024-03-01T08+01:00 (the hour
    alone) or 2024-03-01T08:00:00,5+01:00 (a decimal comma) to UTC, but the file was not marked as holding offsets:
    no note, outputs not said to be UTC, and a label time written as the file's own clock without an offset labelled
    the row an hour later than the one meant. They are offsets as 08:00:00+01:00 is."""
    write_csv(tmp_path, "tz.csv", ["time", "a"], [[written.format(h=h), h % 5] for h in range(12)], sep=";")
    spec = {"path": "tz.csv", "time_column": "time", "train_points": 6, "labels": {"timestamps": "labels.json"}}
    (tmp_path / "labels.json").write_text(json.dumps([written.format(h=8)]))  # the label written as the file writes
    d = load(spec, tmp_path)
    zulu = written.endswith("Z")
    assert d.utc and "UTC offsets" in d.train_block_note
    assert d.full_timestamps[0].astype("datetime64[h]") == np.datetime64("2024-03-01T00" if zulu else "2024-02-29T23")
    assert np.flatnonzero(d.full_point_labels).tolist() == [8]
    (tmp_path / "labels.json").write_text(json.dumps(["2024-03-01 08:00"]))  # without an offset
    if zulu:  # meant as UTC, as the file's times are
        assert np.flatnonzero(load(spec, tmp_path).full_point_labels).tolist() == [8]
    else:  # read as UTC it would label row 9: refused
        one_line_error(spec, tmp_path, "label time '2024-03-01 08:00' has no UTC offset")


def test_time_zone_names_are_told_to_be_written_as_offsets(tmp_path):
    """Times ending in a zone name (CET, Europe/Berlin), which pandas does not read, were refused as "neither dates
    nor numbers" with no way forward; the line now says to write UTC offsets. UTC and GMT are read (as UTC, and said
    so); an offset after UTC or GMT, which pandas reads the wrong way round in some forms (10:00 UTC+1 as 11:00
    UTC), is refused in one line that writes it as an offset alone."""
    spec = {"path": "z.csv", "time_column": "time", "train_points": 3}
    for zone in ("CET", "Europe/Berlin"):
        write_csv(tmp_path, "z.csv", ["time", "a"], [[f"2024-03-01 1{h}:00 {zone}", h % 3] for h in range(6)])
        msg = one_line_error(spec, tmp_path, "neither dates nor numbers", f"'{zone}' reads as a time-zone name",
                             "write each time with its UTC offset instead, e.g. '2024-03-01 10:00+01:00'")
        assert "UTC, GMT and Z are" in msg
    write_csv(tmp_path, "z.csv", ["time", "a"], [[f"2024-03-01 1{h}:00 Uhr", h % 3] for h in range(6)])
    assert "time-zone name" not in one_line_error(spec, tmp_path, "neither dates nor numbers")
    for zone in ("UTC", "GMT"):
        write_csv(tmp_path, "z.csv", ["time", "a"], [[f"2024-03-01 1{h}:00 {zone}", h % 3] for h in range(6)])
        (tmp_path / "labels.json").write_text(json.dumps(["2024-03-01 14:00"]))  # in UTC, as the file's times
        d = load({**spec, "labels": {"timestamps": "labels.json"}}, tmp_path)
        assert d.utc and d.full_timestamps[0] == np.datetime64("2024-03-01T10:00")
        assert np.flatnonzero(d.full_point_labels).tolist() == [4] and "UTC offsets" in d.train_block_note
    for written in ("UTC+1", "GMT+01", "UTC+01:00", "UTC +1"):
        write_csv(tmp_path, "z.csv", ["time", "a"], [[f"2024-03-01 1{h}:00 {written}", h % 3] for h in range(6)])
        one_line_error(spec, tmp_path, f"a time such as '2024-03-01 10:00 {written}' writes its UTC offset after",
                       "write the offset alone, e.g. '2024-03-01 10:00+01:00'")
    write_csv(tmp_path, "z.csv", ["time", "a"], [[f"2024-03-01 1{h}:00+01:00", h % 3] for h in range(6)])
    (tmp_path / "labels.json").write_text(json.dumps(["2024-03-01 14:00 GMT-5"]))
    one_line_error({**spec, "labels": {"timestamps": "labels.json"}}, tmp_path,
                   "labels.json: label time '2024-03-01 14:00 GMT-5' writes its UTC offset", "e.g. '2024-03-01 14:00-05:00'")
    # an offset of the hours alone (+01) is an offset too: label times without one are refused
    write_csv(tmp_path, "z.csv", ["time", "a"], [[f"2024-03-01 1{h}:00+01", h % 3] for h in range(6)])
    (tmp_path / "labels.json").write_text(json.dumps(["2024-03-01 14:00"]))
    one_line_error({**spec, "labels": {"timestamps": "labels.json"}}, tmp_path,
                   "label time '2024-03-01 14:00' has no UTC offset")


def test_times_read_with_a_zone_name_by_time_format_are_utc(tmp_path):
    """A time_format with %Z reads zone names (Europe/Berlin) and converts the times to UTC, but the file was not
    marked as UTC: no note, and a label time without a zone silently labelled the row an hour away from the one
    meant. It is now a file with offsets: said in the note, label times need their zone (or Z)."""
    write_csv(tmp_path, "z.csv", ["time", "a"], [[f"2024-03-01 1{h}:00 Europe/Berlin", h % 3] for h in range(6)])
    spec = {"path": "z.csv", "time_column": "time", "time_format": "%Y-%m-%d %H:%M %Z", "train_points": 3,
            "labels": {"timestamps": "labels.json"}}
    for label in ("2024-03-01 14:00 Europe/Berlin", "2024-03-01T13:00:00Z"):
        (tmp_path / "labels.json").write_text(json.dumps([label]))
        d = load(spec, tmp_path)
        assert d.utc and d.full_timestamps[0] == np.datetime64("2024-03-01T09:00")
        assert np.flatnonzero(d.full_point_labels).tolist() == [4] and "UTC offsets" in d.train_block_note
    (tmp_path / "labels.json").write_text(json.dumps(["2024-03-01 14:00"]))
    one_line_error(spec, tmp_path, "label time '2024-03-01 14:00' has no UTC offset")
    # 12-hour times (AM, PM) are no zone: no offsets, and no label time needs one
    write_csv(tmp_path, "p.csv", ["time", "a"], [[f"2024-03-01 0{h + 1}:00 PM", h % 3] for h in range(6)])
    d = load({**spec, "path": "p.csv", "time_format": "%Y-%m-%d %I:%M %p"}, tmp_path)
    assert not d.utc and np.flatnonzero(d.full_point_labels).tolist() == [1]


def test_a_label_time_with_an_offset_on_a_file_without_offsets_is_refused(tmp_path):
    """A file whose times carry no offset gives no way to place a label time written with one: converted to
    UTC and matched against the file's times, it silently labelled the row an offset away from the one meant.
    A trailing Z (or +00:00) is taken as the file's own clock, as a Z file takes label times without one."""
    series(tmp_path, n=12)  # 2020-01-01 00:00 .. 11:00, no offsets
    spec = {"path": "s.csv", "time_column": "time", "train_points": 6, "labels": {"timestamps": "labels.json"}}
    (tmp_path / "labels.json").write_text(json.dumps(["2020-01-01T08:00:00+01:00"]))
    one_line_error(spec, tmp_path, "label time '2020-01-01T08:00:00+01:00' has a UTC offset",
                   "s.csv's times have none")
    (tmp_path / "labels.json").write_text(json.dumps({"windows": None}))  # windows too
    spec["labels"] = {"windows": "labels.json"}
    (tmp_path / "labels.json").write_text(json.dumps([["2020-01-01 07:00:00", "2020-01-01T08:00:00-02:00"]]))
    one_line_error(spec, tmp_path, "has a UTC offset")
    for label in ("2020-01-01T08:00:00Z", "2020-01-01 08:00:00"):
        (tmp_path / "labels.json").write_text(json.dumps([label]))
        spec["labels"] = {"timestamps": "labels.json"}
        assert np.flatnonzero(load(spec, tmp_path).full_point_labels).tolist() == [8]


def test_a_sep_the_file_does_not_use_is_named(tmp_path):
    series(tmp_path, n=10)  # comma-separated
    with pytest.raises(DataError, match=r"missing time column 'time'.*seems separated by ',', not by the dataset's sep"):
        load({"path": "s.csv", "time_column": "time", "sep": ";", "train_points": 5}, tmp_path)
    # a file of semicolons and decimal commas under "sep": ",": its header is one field, every row more; it was
    # asked whether the header was a title line
    write_text(tmp_path, "eu.csv", "time;a;b\n" + "".join(f"{t};{i},5;{i},25\n" for i, t in enumerate(stamps(6))))
    msg = one_line_error({"path": "eu.csv", "sep": ",", "decimal": ","}, tmp_path,
                         "eu.csv: the header ('time;a;b') reads as one column: the file seems separated by ';', not by "
                         "the dataset's sep ',' (leave sep out to detect it)")
    assert "title" not in msg


def test_a_file_separated_by_spaces_is_told_to_give_sep(tmp_path):
    """Spaces are not among the separators detected: the header read as one column ("t  val  other") and the line
    said only that the time column was missing, or to give value_columns; it now says to give sep " ", which reads it."""
    (tmp_path / "ws.csv").write_text("t  val  other\n1  2.0  3.0\n2  2.5  3.1\n3  2.7  3.3\n4  2.9  3.0\n")
    hint = r"the header reads as one column: the file seems separated by spaces, which are not detected: give \"sep\""
    with pytest.raises(DataError, match=r"missing time column 't' \(columns: t  val  other\); " + hint):
        load({"path": "ws.csv", "time_column": "t", "train_points": 2}, tmp_path)
    with pytest.raises(DataError, match=r"no numeric value column \(columns: t  val  other\); " + hint):
        load({"path": "ws.csv", "train_points": 2}, tmp_path)
    assert load({"path": "ws.csv", "time_column": "t", "train_points": 2, "sep": " "}, tmp_path).train.shape == (2, 2)


def test_a_cell_read_as_missing_is_called_missing_not_empty(tmp_path):
    """pandas reads NA, n/a and null as missing: a message calling such a cell "empty" sends the user looking
    for a blank cell that is not there."""
    rows = [[stamps(8)[i], "n/a" if i == 3 else i + 0.5] for i in range(8)]
    write_csv(tmp_path, "s.csv", ["time", "a"], rows)
    msg = one_line_error({"path": "s.csv", "time_column": "time"}, tmp_path, "'a' has 1 non-numeric",
                         "row(s) 3 (0-based; values missing)")
    assert "empty" not in msg
    rows = [["null" if i == 2 else stamps(8)[i], i + 0.5] for i in range(8)]
    write_csv(tmp_path, "t.csv", ["time", "a"], rows)
    one_line_error({"path": "t.csv", "time_column": "time"}, tmp_path,
                   "time column 'time' has 1 missing value(s) (empty, or text such as NA, n/a, null)",
                   "row(s) 2 (0-based)")


def test_a_blank_line_in_a_one_column_file_is_a_missing_value_not_a_skipped_row(tmp_path):
    """A spreadsheet saves an empty cell of a one-column sheet as a blank line; pandas skipped it, so every later
    row moved up one place in the row-order time and row-number labels landed a row late, without a word."""
    write_text(tmp_path, "u.csv", "value\r\n" + "".join("\r\n" if i == 3 else f"{i % 5}.5\r\n" for i in range(12)))
    one_line_error({"path": "u.csv"}, tmp_path, "'value' has 1 non-numeric", "row(s) 3 (0-based; values missing)")
    # blank lines before the header and after the last row are no rows
    write_text(tmp_path, "v.csv", "\nvalue\n" + "".join(f"{i % 5}.5\n" for i in range(12)) + " \n\n")
    assert len(load({"path": "v.csv", "train_points": 6}, tmp_path).full_values) == 12
    # the rows that other messages name count the blank line too
    write_text(tmp_path, "w.csv", "value\n1.5\n\n3,5\n" + "".join(f"{i % 5}.5\n" for i in range(12)))
    one_line_error({"path": "w.csv"}, tmp_path, "data row 2, 0-based: '3,5'")


def test_blank_lines_between_the_rows_of_a_multi_column_file_are_named(tmp_path):
    """pandas skips a blank line of a file of several columns without a word, so the rows that messages and
    flagged_ranges.csv name no longer match the file's lines after it; the note now says so."""
    write_text(tmp_path, "b.csv", "a,b\n1,2\n\n3,4\n  \n5,6\n7,8\n\n")
    d = load({"path": "b.csv", "train_points": 2}, tmp_path)
    assert d.full_values.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8]]
    assert "b.csv: 2 blank line(s) between rows left out (row numbers count the rows without them)" \
        in d.train_block_note
    write_text(tmp_path, "c.csv", "\na,b\n1,2\n3,4\n5,6\n\n")  # before the header and after the last row: no note
    assert "blank line" not in load({"path": "c.csv", "train_points": 2}, tmp_path).train_block_note


def test_decimal_comma_refuses_a_cell_written_with_a_decimal_point(tmp_path):
    """With "decimal": ",", pandas still read "1.010" as 1.01 (a German file's 1010 without its thousands key),
    and the run trained on it without a word; such a cell is now refused like any other non-number."""
    write_text(tmp_path, "de.csv", "t;a\n" + "".join(f"{i};{917 + i}\n" for i in range(6)) + "6;1.010\n")
    one_line_error({"path": "de.csv", "time_column": "t", "sep": ";", "decimal": ","}, tmp_path, "de.csv", "'a'")


def test_a_label_row_number_too_large_for_any_file_is_one_line(tmp_path):
    write_text(tmp_path, "s.csv", "a\n" + "".join(f"{i % 5}\n" for i in range(20)))
    (tmp_path / "labels.json").write_text(json.dumps([10 ** 30]))
    one_line_error({"path": "s.csv", "labels": {"timestamps": "labels.json"}}, tmp_path,
                   "label row number 1000000000000000000000000000000 is beyond the rows of s.csv")


def test_a_gzip_compressed_csv_reads_as_the_csv_and_a_zip_archive_is_named(tmp_path):
    import gzip
    import zipfile

    plain = series(tmp_path, "s.csv", n=12)
    (tmp_path / "s.csv.gz").write_bytes(gzip.compress(plain.read_bytes()))
    first, packed = (load({"path": name, "time_column": "time", "train_points": 6}, tmp_path)
                     for name in ("s.csv", "s.csv.gz"))
    assert packed.channels == ["a", "b"] and packed.name == "s"  # named as s.csv would be, its run folder too
    assert from_dict({"dataset": {"path": str(tmp_path / "s.csv.gz")}}).dataset_name == "s"
    np.testing.assert_array_equal(packed.full_values, first.full_values)
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as archive:
        archive.write(plain, "s.csv")
    one_line_error({"path": "s.zip"}, tmp_path, "s.zip: a zip archive (or a spreadsheet such as .xlsx), not a CSV: "
                   "unpack it, or save the sheet as CSV, and give that file")


@pytest.mark.parametrize("csv, suffix, compress", [("s.csv", ".bz2", "bz2"), ("s.csv", ".xz", "lzma"),
                                                    ("s.CSV", ".GZ", "gzip"), ("s.Csv", ".Bz2", "bz2")])
def test_a_bzip2_or_xz_compressed_csv_reads_as_the_csv_it_holds(tmp_path, csv, suffix, compress):
    """A .csv.bz2 or .csv.xz file (as pandas and many exports write them) was refused as "not a text CSV (it holds NUL
    bytes ...)", which named no compression: it reads as the CSV it holds, as a .csv.gz does, named like it, and its
    label entry may name it as the CSV (s.csv); a damaged one is one line. An upper- or mixed-case name
    (s.CSV.GZ, as some exports and Windows tools write it) was named "s.CSV" in run folders, titles and tables, and
    its label entry could not name the CSV it holds."""
    import importlib

    plain = series(tmp_path, "data/s.csv", n=12)
    packed = plain.with_name(csv + suffix)
    packed.write_bytes(importlib.import_module(compress).compress(plain.read_bytes()))
    plain.unlink()
    (tmp_path / "w.json").write_text(json.dumps({csv: [["2020-01-01 08:00:00", "2020-01-01 09:00:00"]]}))
    d = load({"path": "data/" + csv + suffix, "time_column": "time", "labels": {"windows": "w.json"},
              "train_points": 6}, tmp_path)
    assert d.name == "s" and d.channels == ["a", "b"]
    assert from_dict({"dataset": {"path": str(packed)}}).dataset_name == "s"
    np.testing.assert_array_equal(d.full_values[:, 1], np.arange(12) ** 2)
    assert np.flatnonzero(d.full_point_labels).tolist() == [8, 9]
    packed.write_bytes(packed.read_bytes()[:-8])
    one_line_error({"path": "data/" + csv + suffix}, tmp_path, f"{csv}{suffix}: a damaged ")


def test_a_zstd_compressed_file_is_named_as_such(tmp_path):
    (tmp_path / "s.csv.zst").write_bytes(b"\x28\xb5\x2f\xfd" + bytes(range(40)))
    msg = one_line_error({"path": "s.csv.zst"}, tmp_path)
    assert msg.endswith("s.csv.zst: a zstd-compressed file, which is not read: decompress it (zstd -d) and give the "
                        "CSV, or compress it with gzip, bzip2 or xz, which are read")


@pytest.mark.parametrize("text, what", [
    ("<!DOCTYPE html>\n<html><body><table>\n<tr><th>time</th><th>x</th></tr>\n<tr><td>1</td><td>2</td></tr>\n"
     "</table></body></html>\n", "an HTML or XML file"),
    ('<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n<Workbook>\n<Row><Cell><Data>1</Data></Cell>'
     "</Row>\n</Workbook>\n", "an HTML or XML file"),
    ('[{"time": 1, "x": 2}, {"time": 2, "x": 3}]\n', "a JSON file"),
])
def test_a_web_page_xml_spreadsheet_or_json_file_is_named_as_such(tmp_path, text, what):
    """A web application's "export to Excel" (an HTML table), Excel's XML spreadsheet or a JSON file saved as .csv
    was told to give "sep": " " (the file seemed separated by spaces) or that it had no data rows."""
    write_text(tmp_path, "e.csv", text)
    msg = one_line_error({"path": "e.csv"}, tmp_path)
    assert msg.endswith(f"e.csv: {what}, not a CSV: save the table as CSV (comma-separated values) and give that file")
    assert '"sep"' not in msg


def test_a_binary_or_utf16_file_without_its_mark_and_a_folder_are_one_line_each(tmp_path):
    (tmp_path / "s.csv").write_bytes("time,a\n0,1\n1,2\n".encode("utf-16-le"))  # no byte-order mark
    one_line_error({"path": "s.csv"}, tmp_path, "s.csv: not a text CSV", "UTF-16")
    (tmp_path / "book.csv").write_bytes(b"PK\x03\x04\x00\x00binary")
    one_line_error({"path": "book.csv"}, tmp_path, "book.csv: a zip archive (or a spreadsheet such as .xlsx), not a CSV")
    (tmp_path / "data").mkdir()
    one_line_error({"path": "data"}, tmp_path, "data is a folder, not a CSV file")


@pytest.mark.parametrize("kind, labels", [("windows", [[7, 8]]), ("timestamps", [7])])
def test_a_list_of_row_numbers_for_several_files_is_refused(tmp_path, kind, labels):
    """Without a time column, a plain list of label rows labelled those rows of every file: of the training file
    too (a WARNING of anomalies it does not hold), and silently of the test piece of a second file."""
    for name in ("train.csv", "test.csv", "main.csv"):
        write_csv(tmp_path, name, ["v"], [[(i * 7) % 5] for i in range(12)])
    (tmp_path / "l.json").write_text(json.dumps(labels))
    spec = {"train_files": ["train.csv"], "test_files": ["test.csv"], "labels": {kind: "l.json"}}
    one_line_error(spec, tmp_path, "l.json: without time_column, a list of label rows would label the same rows of "
                   "train.csv and test.csv: give an object with each file's own entry (e.g. {\"test.csv\": [...]}; a "
                   "training file without one is anomaly-free), or, to label the same rows of every file, an object "
                   "of one entry and labels.key naming it")
    one_line_error({"path": "main.csv", "train_points": 4, "test_files": ["test.csv"], "labels": {kind: "l.json"}},
                   tmp_path, "would label the same rows of main.csv and test.csv")
    # that way, as the line says, every file takes the same rows
    (tmp_path / "l.json").write_text(json.dumps({"all": labels}))
    d = load({**spec, "labels": {kind: "l.json", "key": "all"}}, tmp_path)
    assert np.flatnonzero(d.test_pieces[0]["point_labels"]).tolist() == ([7, 8] if kind == "windows" else [7])
    (tmp_path / "l.json").write_text(json.dumps({"test.csv": labels}))
    d = load(spec, tmp_path)
    assert np.flatnonzero(d.test_pieces[0]["point_labels"]).tolist() == ([7, 8] if kind == "windows" else [7])
    assert "WARNING" not in d.train_block_note
    # one file: the list is its own
    (tmp_path / "l.json").write_text(json.dumps(labels))
    assert np.flatnonzero(load({"path": "main.csv", "train_points": 4, "labels": {kind: "l.json"}},
                               tmp_path).full_point_labels).tolist() == ([7, 8] if kind == "windows" else [7])


def test_dates_written_with_dots_are_not_read_as_numbers_under_thousands_dot(tmp_path):
    """A German export (decimal ",", thousands "."): pandas read the date 01.01.2015 as the number 1012015, so
    time_column 'Datum' was refused as 'not strictly increasing' (quoting 1022015), and without time_column the
    dates became a channel. A value with the thousands separator outside groups of three digits is no number."""
    days = [f"{d:02d}.{m:02d}.2015" for m in (1, 2) for d in range(1, 29)]
    write_text(tmp_path, "de.csv", "Datum;Umsatz\n" + "".join(f"{t};{1 + i % 3}.{i % 7}00,5\n"
                                                               for i, t in enumerate(days)))
    spec = {"path": "de.csv", "decimal": ",", "thousands": ".", "train_points": 28}
    d = load({**spec, "time_column": "Datum"}, tmp_path)
    assert d.channels == ["Umsatz"] and d.full_values[:2, 0].tolist() == [1000.5, 2100.5]
    assert str(d.full_timestamps[28])[:10] == "2015-02-01"
    assert load(spec, tmp_path).channels == ["Umsatz"]  # the dates are text, left out, not a channel


def test_label_times_written_month_first_for_a_day_first_file_are_named_as_such(tmp_path):
    """Label dates of the other n/n/year order than the file's were called 'not dates' (e.g. '01/13/2020 10:00',
    a date month first), and the advice quoted an ISO time as what the file's column holds."""
    days = [f"{d:02d}/01/2020 10:00" for d in range(8, 16)]  # 13/01 only reads day first
    write_text(tmp_path, "d.csv", "time,a\n" + "".join(f"{t},{i % 3}.5\n" for i, t in enumerate(days)))
    (tmp_path / "l.json").write_text(json.dumps(["01/13/2020 10:00"]))
    one_line_error({"path": "d.csv", "time_column": "time", "train_points": 4, "labels": {"timestamps": "l.json"}},
                   tmp_path, "label times such as '01/13/2020 10:00' read only month first (month/day/year), while "
                   "d.csv's times read day first (day/month/year), as its label times are read too; write every label "
                   "time in that order, or as an ISO time (e.g. 2020-01-08T10:00:00)")


def test_many_label_windows_on_a_long_series_build_no_rows_by_windows_array(tmp_path):
    """5,000 NAB-style windows on a million rows made (rows x windows) boolean arrays, tens of GB: the labels
    are now found by sorting, so the memory stays near the file's own. Hand-checked labels, overlapping and
    touching windows included."""
    import tracemalloc

    n, k = 20_000, 2_000
    (tmp_path / "s.csv").write_text("value\n" + "".join(f"{i % 7}\n" for i in range(n)))
    starts = np.arange(k) * 9 + 100
    windows = [[int(s), int(s) + 2] for s in starts] + [[150, 160], [19_990, 19_999]]
    (tmp_path / "w.json").write_text(json.dumps({"s.csv": windows}))
    tracemalloc.start()
    try:
        d = load({"path": "s.csv", "train_range": [0, 100], "labels": {"windows": "w.json"}}, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    expected = np.zeros(n, bool)
    for a, b in windows:
        expected[a:b + 1] = True
    assert np.array_equal(d.full_point_labels, expected)
    assert peak < 20e6, f"{peak / 1e6:.0f} MB"  # a (rows x windows) array alone is 40 MB


def test_dates_outside_the_nanosecond_range_are_one_line_not_wrapped_to_other_centuries(tmp_path):
    """Times are held as nanoseconds in 64 bits (1677-09-21 to 2262-04-11): pandas reads 1600-01-01 in microseconds,
    and casting that to nanoseconds wrapped it silently to 2184-07-20T23:34:33, so the outputs showed a date the file
    never held, and a label window to 9999-12-31 'ended before it started'."""
    write_csv(tmp_path, "old.csv", ["time", "a"], [[f"1600-01-{d:02d}", d % 3] for d in range(1, 21)])
    one_line_error({"path": "old.csv", "time_column": "time"}, tmp_path,
                   "old.csv: time column 'time' holds '1600-01-01' (data row 0), outside the years 1678 to 2261 that "
                   "times are held in; give the times as numbers (e.g. years), or leave out time_column")
    series(tmp_path, n=20)
    (tmp_path / "w.json").write_text(json.dumps([["2020-01-01 05:00:00", "9999-12-31"]]))
    one_line_error({"path": "s.csv", "time_column": "time", "labels": {"windows": "w.json"}}, tmp_path,
                   "w.json: label time '9999-12-31', outside the years 1678 to 2261 that times are held in; write it "
                   "between s.csv's first and last times (2020-01-01T00:00:00 to 2020-01-01T19:00:00)")


def test_times_of_day_without_dates_are_one_line_not_dated_today(tmp_path):
    """pandas dates a bare time of day (04:10) with the day it runs: flagged_ranges.csv showed the day of the run, and
    a label time of day landed on a file of that day's rows."""
    times = [f"{h:02d}:{m:02d}" for h in range(2) for m in range(0, 60, 5)]
    write_csv(tmp_path, "clock.csv", ["time", "a"], [[t, i % 3] for i, t in enumerate(times)])
    one_line_error({"path": "clock.csv", "time_column": "time"}, tmp_path,
                   "clock.csv: time column 'time' holds times of day without a date (e.g. '00:00'), which would be read "
                   "as today's: write each time with its date (e.g. '2024-03-01 00:00'), or leave out time_column to use "
                   "the row order")
    for written in ("1:05 PM", "1 PM", "T13:05", "13:05+01:00"):  # dated today too, or year 1
        write_csv(tmp_path, "clock.csv", ["time", "a"], [[written, i % 3] for i in range(20)])
        one_line_error({"path": "clock.csv", "time_column": "time"}, tmp_path,
                       f"holds times of day without a date (e.g. {written!r})")
    series(tmp_path, n=20)
    (tmp_path / "w.json").write_text(json.dumps([["05:00", "06:00:00"]]))
    one_line_error({"path": "s.csv", "time_column": "time", "labels": {"windows": "w.json"}}, tmp_path,
                   "w.json: label time '05:00' is a time of day without a date, which would be read as today's: write "
                   "each label time with its date, as s.csv's time column does (e.g. 2020-01-01T00:00:00)")


def test_label_dates_outside_a_month_first_time_format_are_read_month_first_as_the_file(tmp_path):
    """time_format "%m/%d/%Y %H:%M" reads the file month first; a label written without the time of day, 03/01/2024,
    misses the format and was read again with no order, day first: 3 January, row 2, not 1 March, row 60."""
    days = [f"{m:02d}/{d:02d}/2024 00:00" for m, n in ((1, 31), (2, 29), (3, 30)) for d in range(1, n + 1)]
    write_csv(tmp_path, "m.csv", ["time", "a"], [[t, i % 5] for i, t in enumerate(days)])
    spec = {"path": "m.csv", "time_column": "time", "time_format": "%m/%d/%Y %H:%M"}
    (tmp_path / "l.json").write_text(json.dumps(["03/01/2024"]))
    d = load({**spec, "labels": {"timestamps": "l.json"}}, tmp_path)
    assert np.flatnonzero(d.full_point_labels).tolist() == [60]
    (tmp_path / "w.json").write_text(json.dumps([["03/01/2024", "03/02/2024"]]))
    assert np.flatnonzero(load({**spec, "labels": {"windows": "w.json"}}, tmp_path).full_point_labels).tolist() == [60, 61]
    (tmp_path / "b.json").write_text(json.dumps(["13/03/2024"]))
    one_line_error({**spec, "labels": {"timestamps": "b.json"}}, tmp_path,
                   "b.json: label times such as '13/03/2024' read only day first (day/month/year), while m.csv's times "
                   "read month first (month/day/year)")


def test_label_dates_outside_a_year_first_time_format_take_no_order_from_it(tmp_path):
    """time_format "%Y-%m-%d %H:%M" writes the year first, so it says nothing of how n/n/year label dates read: a
    label 13/03/2024 10:00 (day first, the one reading that fits) labels 13 March, row 12, as it did; it was refused as
    'read only day first, while s.csv's times read month first (month/day/year)', which they are not."""
    (tmp_path / "l.json").write_text(json.dumps(["13/03/2024 10:00"]))
    for fmt, day in (("%Y-%m-%d %H:%M", "2024-03-{:02d}"), ("%Y-%d-%m %H:%M", "2024-{:02d}-03")):  # year first
        write_csv(tmp_path, "s.csv", ["time", "a"], [[day.format(d) + " 10:00", d % 5] for d in range(1, 21)])
        d = load({"path": "s.csv", "time_column": "time", "time_format": fmt, "labels": {"timestamps": "l.json"}},
                 tmp_path)
        assert np.flatnonzero(d.full_point_labels).tolist() == [12], fmt


def test_a_time_format_reads_dates_written_as_whole_numbers(tmp_path):
    """Daily dates written 20240101 read as numbers: time_format "%Y%m%d" was ignored without a word, so the times
    stayed numbers (the index on detections.png) and every month's end was named a gap "of 72"; without time_format the
    note now says how to read them as dates."""
    days = [f"2024{m:02d}{d:02d}" for m, n in ((1, 31), (2, 29), (3, 31)) for d in range(1, n + 1)]
    write_csv(tmp_path, "d.csv", ["date", "a"], [[t, i % 5] for i, t in enumerate(days)])
    (tmp_path / "l.json").write_text(json.dumps(["20240301"]))
    spec = {"path": "d.csv", "time_column": "date", "labels": {"timestamps": "l.json"}}
    d = load({**spec, "time_format": "%Y%m%d"}, tmp_path)
    assert d.full_timestamps[60] == np.datetime64("2024-03-01") and "gap" not in d.train_block_note
    assert np.flatnonzero(d.full_point_labels).tolist() == [60]
    d = load(spec, tmp_path)
    assert d.full_timestamps[60] == 20240301 and np.flatnonzero(d.full_point_labels).tolist() == [60]
    assert d.train_block_note.endswith("d.csv: time column 'date' holds numbers that read as dates written yyyymmdd "
                                       "(e.g. 20240101): they are read as numbers; give \"time_format\": \"%Y%m%d\" "
                                       "to read them as dates")
    # ddmmyyyy keeps its leading 0 (01022024, not 1022024) under the format; a value it does not read is named
    write_csv(tmp_path, "e.csv", ["date", "a"], [[f"{d:02d}022024", d % 3] for d in range(1, 21)])
    assert load({"path": "e.csv", "time_column": "date", "time_format": "%d%m%Y"},
                tmp_path).full_timestamps[0] == np.datetime64("2024-02-01")
    write_csv(tmp_path, "e.csv", ["date", "a"], [[f"{d:02d}022024" if d != 5 else 5, d % 3] for d in range(1, 21)])
    one_line_error({"path": "e.csv", "time_column": "date", "time_format": "%d%m%Y"}, tmp_path,
                   "e.csv: time column 'date' has 1 value(s) that time_format '%d%m%Y' does not read at data row(s) 4")


def test_dates_of_the_other_order_than_dayfirst_are_named_as_such(tmp_path):
    """"dayfirst": true on dates written month first (01/13/2024) called them "neither dates nor numbers"."""
    days = [f"01/{d:02d}/2024" for d in range(1, 21)]
    write_csv(tmp_path, "m.csv", ["time", "a"], [[t, i % 3] for i, t in enumerate(days)])
    one_line_error({"path": "m.csv", "time_column": "time", "dayfirst": True}, tmp_path,
                   "m.csv: time column 'time' has 8 date(s) that read only month first (month/day/year), e.g. "
                   "'01/13/2024' (data row 12), while dayfirst is true: give \"dayfirst\": false, or leave it out")
    write_csv(tmp_path, "m.csv", ["time", "a"], [[t if i != 3 else "soon", i % 3] for i, t in enumerate(days)])
    one_line_error({"path": "m.csv", "time_column": "time", "time_format": "%m/%d/%Y"}, tmp_path,
                   "m.csv: time column 'time' has 1 value(s) that time_format '%m/%d/%Y' does not read at data row(s) 3")


def test_test_pieces_follow_the_order_the_test_files_are_given_in_not_their_times(tmp_path):
    """The pooled 'all' row joins the test pieces end to end in their order: the test files as given, whatever their
    times (the README said "in time order")."""
    header = ["time", "a", "b"]
    write_csv(tmp_path, "train.csv", header, [[t, i, i * i] for i, t in enumerate(stamps(12))])
    write_csv(tmp_path, "late.csv", header, [[t, i, i % 3] for i, t in enumerate(stamps(12, start_hour=48))])
    write_csv(tmp_path, "early.csv", header, [[t, i, i % 3] for i, t in enumerate(stamps(12, start_hour=24))])
    d = load({"train_files": ["train.csv"], "test_files": ["late.csv", "early.csv"], "time_column": "time"}, tmp_path)
    assert [p["name"] for p in d.test_pieces] == ["late", "early"]
    assert d.test_pieces[0]["timestamps"][0] > d.test_pieces[1]["timestamps"][0]
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "Pooling joins the\npieces in time order" not in readme
    assert "`test_files` in the order given" in readme.split("Pooling joins the")[1].split(". ")[0]


def test_data_files_that_are_symbolic_links_keep_the_names_they_are_given_by(tmp_path):
    """A data file given by a link into another folder (store/blob1.csv as realKnownCause/x.csv) was read under its
    target's name: the labels entry "realKnownCause/x.csv" matched no file ("no entry for blob1.csv"), and the dataset
    and the test pieces were named blob1 and blob2, names the config never gave."""
    series(tmp_path, "store/blob1.csv", n=12)
    series(tmp_path, "store/blob2.csv", n=12)
    (tmp_path / "realKnownCause").mkdir()
    try:
        (tmp_path / "realKnownCause" / "x.csv").symlink_to(tmp_path / "store" / "blob1.csv")
        (tmp_path / "realKnownCause" / "y.csv").symlink_to(Path("..") / "store" / "blob2.csv")
    except OSError:
        pytest.skip("no symbolic links here")
    t = stamps(12)
    (tmp_path / "labels.json").write_text(json.dumps({"realKnownCause/x.csv": [t[8]], "realKnownCause/y.csv": [t[3]]}))
    spec = {"path": "realKnownCause/x.csv", "test_files": ["realKnownCause/y.csv"], "time_column": "time",
            "train_points": 6, "labels": {"timestamps": "labels.json"}}
    d = load(spec, tmp_path)
    assert d.name == "x"
    assert [p["name"] for p in d.test_pieces] == ["test", "y"]
    assert [np.flatnonzero(p["point_labels"]).tolist() for p in d.test_pieces] == [[2], [3]]
    assert "x.csv" in d.train_block_note and "blob" not in d.train_block_note


@pytest.mark.parametrize("sep", [";", "\t"])
@pytest.mark.parametrize("time", [True, False])
def test_decimal_commas_under_names_with_commas_are_not_split_at_the_commas(tmp_path, sep, time):
    """A European export: names such as "Temperatur, °C" and every number with a decimal comma, so that the commas
    split every line into equally many fields too, more of them than the real separator; the comma was taken as
    the separator, and 21,5;1,013 read as the channels 21 and 5;1 (text, left out) and 13, without a word."""
    header = (["Zeit"] if time else []) + ["Temperatur, °C", "Druck, bar"]
    rows = [([stamps(12)[i]] if time else []) + [f"2{i % 7},5", f"1,0{i % 4}3"] for i in range(12)]
    write_csv(tmp_path, "eu.csv", header, rows, sep)
    one_line_error({"path": "eu.csv"}, tmp_path, "column 'Temperatur, °C' is not numeric as read",
                   'reads as numbers with "decimal": ","')
    d = load({"path": "eu.csv", "decimal": ","}, tmp_path)
    assert d.channels == ["Temperatur, °C", "Druck, bar"]
    assert d.full_values[:3].tolist() == [[20.5, 1.003], [21.5, 1.013], [22.5, 1.023]]


def test_a_file_with_carriage_returns_alone_as_line_ends(tmp_path):
    """Excel for Mac's older CSV ends lines with a carriage return alone: a blank line (an empty cell of a one-column
    sheet) was not seen as one, so pandas skipped it and every later row moved up one place without a word."""
    write_text(tmp_path, "m.csv", "value\r" + "".join("\r" if i == 3 else f"{i % 5}.5\r" for i in range(12)))
    one_line_error({"path": "m.csv"}, tmp_path, "'value' has 1 non-numeric", "row(s) 3 (0-based; values missing)")
    write_text(tmp_path, "b.csv", "a,b\r1,2\r\r3,4\r5,6\r7,8\r")
    d = load({"path": "b.csv", "train_points": 2}, tmp_path)
    assert d.full_values.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8]]
    assert "b.csv: 1 blank line(s) between rows left out" in d.train_block_note


def test_a_line_break_in_a_column_name_reads_as_a_space(tmp_path):
    """A spreadsheet cell may hold a line break (Alt+Enter in Excel), which the CSV keeps inside quotes: a header
    name with it made every message and note that named the column span two lines, and value_columns could name
    it only with the file's own line break."""
    rows = "".join(f"{t},{'x' if i == 4 else i + 0.5},{i % 3}\r\n" for i, t in enumerate(stamps(8)))
    write_text(tmp_path, "m.csv", 'time,"Flow\r\n(m3/h)"," b \n\n c"\r\n' + rows)
    one_line_error({"path": "m.csv", "time_column": "time"}, tmp_path,
                   "m.csv: column 'Flow (m3/h)' has 1 non-numeric, missing or infinite value(s) at data row(s) 4")
    write_text(tmp_path, "m.csv", 'time,"Flow\r\n(m3/h)"," b \n\n c"\r\n' + rows.replace(",x,", ",4.5,"))
    d = load({"path": "m.csv", "time_column": "time", "value_columns": ["Flow (m3/h)", "b c"]}, tmp_path)
    assert d.channels == ["Flow (m3/h)", "b c"] and d.full_values[4].tolist() == [4.5, 1]
    assert "m.csv: the line breaks in column name(s) 'Flow (m3/h)', 'b c' read as spaces" in d.train_block_note
    # a config that names a column as the file writes it, its line breaks (or a no-break space) in it, names it too:
    # it was refused as missing
    spec = {"path": "m.csv", "time_column": "time", "value_columns": ["Flow\r\n(m3/h)", "b\n\nc"]}
    d = load(spec, tmp_path)
    assert d.channels == ["Flow (m3/h)", "b c"] and d.full_values[4].tolist() == [4.5, 1]
    assert load({**spec, "value_columns": None, "ignore_columns": ["b\u00a0c"]}, tmp_path).channels == ["Flow (m3/h)"]
    # a no-break space in a header name (as a French export writes one before a unit) reads as a space: the name
    # typed with a space was refused as missing, "did you mean 'Flow\xa0(m3/h)'?", which JSON cannot write so
    write_text(tmp_path, "n.csv", "time,Flow\u00a0(m3/h),b\u202fc\r\n" + rows.replace(",x,", ",4.5,"))
    d = load({"path": "n.csv", "time_column": "time", "value_columns": ["Flow (m3/h)", "b c"]}, tmp_path)
    assert d.channels == ["Flow (m3/h)", "b c"] and d.full_values[4].tolist() == [4.5, 1]
    one_line_error({**spec, "value_columns": ["b c", "b\nc"]}, tmp_path, "dataset: value_columns lists 'b c' twice")
    write_text(tmp_path, "d.csv", 'time,"b\nc",b c\n' + rows)
    one_line_error({"path": "d.csv", "time_column": "time"}, tmp_path, "d.csv: the header names column 'b c' twice")


@pytest.mark.parametrize("sep, decimal, thousands, cell", [
    (";", ",", None, "{:.2f}"), (";", ",", ".", "{:,.2f}"), (",", ".", ",", '"{:,.2f}"')])
def test_one_bad_cell_of_a_column_with_decimal_commas_or_thousands_is_named(tmp_path, sep, decimal, thousands, cell):
    """A column of numbers read with "decimal": "," or a "thousands" separator that holds one text cell (-) was
    left out of the channels as not numeric, the note alone saying so, where a column of decimal points was
    refused with its row; listed in value_columns, each of its numbers was named as non-numeric."""
    def number(x: float) -> str:
        text = cell.format(x)
        return text.translate(str.maketrans(",.", ".,")) if decimal == "," else text

    rows = "".join(f"{t}{sep}{number(i + 0.5)}{sep}{'-' if i == 5 else number(1000 * i + 0.25)}\n"
                   for i, t in enumerate(stamps(12)))
    write_text(tmp_path, "d.csv", f"time{sep}a{sep}b\n" + rows)
    spec = {"path": "d.csv", "time_column": "time", "decimal": decimal} | ({"thousands": thousands} if thousands else {})
    for given in ({}, {"value_columns": ["a", "b"]}):
        one_line_error(spec | given, tmp_path, "d.csv: column 'b' has 1 non-numeric, missing or infinite value(s) at "
                       "data row(s) 5 (0-based; values '-')")
    write_text(tmp_path, "d.csv", f"time{sep}a{sep}b\n" + rows.replace(f"{sep}-\n", f"{sep}{number(5000.25)}\n"))
    d = load(spec, tmp_path)
    assert d.channels == ["a", "b"] and d.full_values[4:7, 1].tolist() == [4000.25, 5000.25, 6000.25]


def test_a_file_whose_every_line_is_quoted_whole_is_named(tmp_path):
    """An export that wraps each line in quotes ("time,a,b") reads as one column whose name holds the commas; the
    line said the file seemed separated by ',', not by the dataset's sep, and to leave sep out, which it was."""
    write_text(tmp_path, "q.csv", '"time,a,b"\n' + "".join(f'"{t},{i}.5,{i % 3}"\n' for i, t in enumerate(stamps(8))))
    for spec in ({"path": "q.csv"}, {"path": "q.csv", "time_column": "time"}, {"path": "q.csv", "sep": ","}):
        msg = one_line_error(spec, tmp_path, "q.csv: every line is one quoted field ('time,a,b'): the quotes around "
                             "each line hide its separators; remove them")
        assert "leave sep out" not in msg
    # so is one whose lines start with a number and a unit ("12 kg,3"): not one column of values with a unit
    write_text(tmp_path, "k.csv", '"mass,n"\n' + "".join(f'"{i} kg,{i}"\n' for i in range(8)))
    one_line_error({"path": "k.csv"}, tmp_path, "k.csv: every line is one quoted field ('mass,n')")
    # one quoted name that holds a comma, over a column of numbers, is a file of one column
    write_text(tmp_path, "t.csv", '"Temperatur, °C"\n' + "".join(f"{i % 4}.5\n" for i in range(8)))
    assert load({"path": "t.csv", "train_points": 4}, tmp_path).channels == ["Temperatur, °C"]
    write_text(tmp_path, "c.csv", '"Temperatur, °C"\n' + "".join(f'"{i % 4},5"\n' for i in range(8)))  # decimal commas
    d = load({"path": "c.csv", "train_points": 4, "decimal": ","}, tmp_path)
    assert d.channels == ["Temperatur, °C"] and d.full_values[:3, 0].tolist() == [0.5, 1.5, 2.5]
    # or of numbers with thousands separators, which a spreadsheet quotes ("1,001.50", "2,001,234"): refused as
    # lines whose quotes hide their separators
    write_text(tmp_path, "g.csv", '"Revenue, USD"\n' + "".join(f'"{1000 * i + 1:,}.50"\n' for i in range(1, 9)))
    d = load({"path": "g.csv", "train_points": 4, "thousands": ","}, tmp_path)
    assert d.channels == ["Revenue, USD"] and d.full_values[:3, 0].tolist() == [1001.5, 2001.5, 3001.5]
    one_line_error({"path": "g.csv", "train_points": 4}, tmp_path, "column 'Revenue, USD' is not numeric as read",
                   '"thousands": ","')
    write_text(tmp_path, "g.csv", '"Sales, EUR"\n' + "".join(f'"{10 ** 6 * i + 1234:,}"\n' for i in range(1, 9)))
    d = load({"path": "g.csv", "train_points": 4, "thousands": ","}, tmp_path)
    assert d.full_values[:2, 0].tolist() == [1001234, 2001234]
    write_text(tmp_path, "g.csv", '"Leistung, kW"\n' + "".join(f'"{i} 234,5"\n' for i in range(1, 9)))
    d = load({"path": "g.csv", "train_points": 4, "thousands": " ", "decimal": ","}, tmp_path)
    assert d.full_values[:2, 0].tolist() == [1234.5, 2234.5]


def test_a_sep_of_several_characters_is_a_regular_expression_checked_in_one_line(tmp_path):
    """pandas reads a sep of more than one character as a regular expression: "**" stopped the run with re.error's
    traceback, and "||", which matches between any two characters, split the header into its letters."""
    write_text(tmp_path, "p.csv", "time||a\n" + "".join(f"{t}||{i}.5\n" for i, t in enumerate(stamps(8))))
    one_line_error({"path": "p.csv", "sep": "**"}, tmp_path, "dataset: sep '**' is not a valid regular expression",
                   "a sep of more than one character is one", "e.g. \"\\\\*\\\\*\"")
    one_line_error({"path": "p.csv", "sep": "||"}, tmp_path, "dataset: sep '||', a regular expression",
                   "matches an empty string", "e.g. \"\\\\|\\\\|\"")
    d = load({"path": "p.csv", "sep": "\\|\\|", "time_column": "time", "train_points": 4}, tmp_path)
    assert d.channels == ["a"] and d.full_values[:3, 0].tolist() == [0.5, 1.5, 2.5]


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_rows_of_empty_fields_after_the_last_row_are_no_rows(tmp_path, sep):
    """A spreadsheet whose cells below the data were once touched saves them as rows of separators alone (,,); such
    rows after the last were read as rows of missing values and refused, where blank lines there are no rows."""
    rows = "".join(f"{t}{sep}{i}.5{sep}{i % 3}\r\n" for i, t in enumerate(stamps(8)))
    write_text(tmp_path, "e.csv", f"time{sep}a{sep}b\r\n" + rows + f"{sep}{sep}\r\n {sep}{sep} \r\n\r\n{sep}{sep}")
    d = load({"path": "e.csv", "time_column": "time", "train_points": 4}, tmp_path)
    assert d.full_values[:, 0].tolist() == [i + 0.5 for i in range(8)] and len(d.full_timestamps) == 8
    assert "e.csv: 3 row(s) of empty fields after the last row left out" in d.train_block_note
    # between rows, such a row is one of missing values
    write_text(tmp_path, "m.csv", f"time{sep}a{sep}b\n" + rows.replace("\r\n", f"\n{sep}{sep}\n", 1))
    one_line_error({"path": "m.csv", "time_column": "time"}, tmp_path, "row(s) 1 (0-based; values missing)")


def test_the_refusals_of_a_wide_file_name_its_columns_up_to_a_count(tmp_path):
    """A refusal listed every column of the file, and every column it left out, in its one line: a file of 300
    channels gave a line of thousands of characters for one misspelt value column (9,000 for an ignore_columns that
    held them all), the name that mattered lost in it. Such lists stop after NAMES_SHOWN names, saying how many more."""
    shown = csv_data.NAMES_SHOWN
    names = [f"sensor_{k}" for k in range(300)]
    write_csv(tmp_path, "w.csv", ["t"] + names, [[i] + [(i * (k + 1)) % 7 for k in range(300)] for i in range(10)])
    listed = ", ".join(["t"] + names[:shown - 1]) + ", ... (281 more)"
    msg = one_line_error({"path": "w.csv", "time_column": "t", "value_columns": ["sensor_1", "nope"]}, tmp_path)
    assert msg.endswith(f"w.csv: missing value column 'nope' (columns: {listed})")
    msg = one_line_error({"path": "w.csv", "time_column": "t", "ignore_columns": names}, tmp_path)
    left = ", ".join(f"'{n}' (ignore_columns)" for n in names[:shown]) + ", ... (280 more)"
    assert msg.endswith(f"w.csv: no numeric value column (columns: {listed}); left out: {left}: take the columns of "
                        "values out of ignore_columns")
    write_csv(tmp_path, "test.csv", ["t"], [[i] for i in range(10)])  # a test file that lacks them all
    msg = one_line_error({"path": "w.csv", "time_column": "t", "test_files": ["test.csv"], "train_points": 5}, tmp_path)
    assert f"lacks {', '.join(repr(n) for n in names[:shown])}, ... (280 more) (give value_columns" in msg
    write_csv(tmp_path, "c.csv", names, [[1] * 300 for _ in range(10)])  # every channel constant
    msg = one_line_error({"path": "c.csv", "train_points": 5}, tmp_path)
    assert f"column(s) {', '.join(repr(n) for n in names[:shown])}, ... (280 more) constant in the training" in msg


def test_text_columns_of_a_wide_file_look_at_the_other_columns_fractions_once(monkeypatch):
    """Each text column left out of the channels asked whether some other column held fractions (to suggest no other
    decimal separator) by reading every float column again: with whole-number float channels, as a file of counts
    written 3.0 has, T text and F float columns read T x F columns (46 s to choose the channels of 100 of each over
    10,000 rows; 20 s now). The columns' fractions are read once, whatever the number of text columns."""
    import pandas as pd

    n_text = n_float = 20
    df = pd.DataFrame({**{f"v{k}": np.arange(10.0) % (k + 2) for k in range(n_float)},
                       **{f"s{k}": ["ok", "warn"] * 5 for k in range(n_text)}})
    read = []
    original = csv_data.is_float_dtype
    monkeypatch.setattr(csv_data, "is_float_dtype", lambda col: read.append(col.name) or original(col))
    channels, skipped = csv_data._default_columns(df, set(), Path("w.csv"))
    assert channels == [f"v{k}" for k in range(n_float)] and len(skipped) == n_text
    assert sorted(read) == sorted(df.columns)  # each column looked at once, not once per text column



def test_reading_a_csv_holds_few_copies_of_it_at_once(tmp_path):
    """The file's text went to pandas as an io.StringIO, which holds 4 bytes a character, while the file's bytes,
    decoded already, were kept too: reading a CSV took 6.7 times its size at its peak (4 GB for a CSV of 300
    channels over 100,000 rows, 600 MB). pandas reads the text's UTF-8 bytes, and the file's bytes are let go once
    decoded: 4 times its size (counted by tracemalloc: the bytes Python and NumPy allocate, not a timing)."""
    import tracemalloc

    header = ["t"] + [f"s{k}" for k in range(50)]
    path = write_csv(tmp_path, "w.csv", header, [[i] + [f"{(i * (k + 3)) % 101 / 7:.6f}" for k in range(50)]
                                                 for i in range(2000)])
    csv_data._read_csv(path, None)  # pandas' first read imports its parsers: not counted
    tracemalloc.start()
    try:
        df, _ = csv_data._read_csv(path, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert df.shape == (2000, 51) and df["s3"].iloc[5] == round(30 % 101 / 7, 6)
    assert peak < 5 * path.stat().st_size
