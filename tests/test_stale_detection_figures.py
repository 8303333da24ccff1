"""Scoring a run again never leaves a figure of the earlier scoring beside the new metrics.json."""

import json

import numpy as np
import pandas as pd

from vae_lstm import cli


def test_a_figure_not_drawn_this_time_is_not_left_from_the_last_scoring(tmp_path, capsys):
    """Labels may change on a trained run (the training block is given): when the new test labels are all one
    class, or there are none, precision_recall.png and vus_pr.png are not drawn, and the earlier scoring's
    copies, of other labels, must not stay in detection/ as if they were this metrics.json's."""
    rng = np.random.default_rng(0)
    t = np.arange(1200)
    pd.DataFrame({"v": np.sin(2 * np.pi * t / 24) + 0.05 * rng.standard_normal(1200)}).to_csv(
        tmp_path / "series.csv", index=False)
    (tmp_path / "test_anomaly.json").write_text("[900]")  # a labelled row in the test piece
    (tmp_path / "train_anomaly.json").write_text("[100]")  # in the training block only: test labels all normal

    def config(labels):
        dataset = {"path": "series.csv", "train_fraction": 0.5, **({"labels": labels} if labels else {})}
        path = tmp_path / "config.json"
        path.write_text(json.dumps({"exp_name": "stale", "dataset": dataset, "detector": "abs_z", "l_win": 24,
                                    "l_seq": 3, "output_dir": str(tmp_path / "runs")}))
        return str(path)

    assert cli.train_main(["--config", config({"timestamps": "test_anomaly.json"})]) == 0
    assert cli.detect_main(["--config", config({"timestamps": "test_anomaly.json"})]) == 0
    detection = tmp_path / "runs" / "stale" / "series_abs_z_lwin24_lseq3_code6_seed0" / "detection"
    figures = ("precision_recall.png", "vus_pr.png")
    assert all((detection / name).is_file() for name in figures)

    assert cli.detect_main(["--config", config({"timestamps": "train_anomaly.json"})]) == 0
    metrics = json.loads((detection / "metrics.json").read_text())
    assert metrics["abs_z"]["points"]["all"]["threshold_free"]["vus_pr"] is None
    assert [name for name in figures if (detection / name).exists()] == []

    assert cli.detect_main(["--config", config({"timestamps": "test_anomaly.json"})]) == 0
    assert all((detection / name).is_file() for name in figures)
    assert cli.detect_main(["--config", config(None)]) == 0  # no labels at all
    assert [name for name in figures if (detection / name).exists()] == []
    capsys.readouterr()
