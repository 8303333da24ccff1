"""Train the VAE, then the LSTM, of one config: python3 codes/train.py --config configs/NAB_config.json"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from config import check_against_data, load_config  # noqa: E402
from data_loader import load_series  # noqa: E402
from errors import run_cli  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True,
                        help="JSON config: a path, or a file name in configs/ (e.g. NAB_config.json)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    config = load_config(args.config)
    series = load_series(config.dataset)
    check_against_data(config, len(series.train), series.n_channel)
    print(f"{config.dataset}: {len(series.raw)} points, training block [{series.train_start}, "
          f"{series.train_end}), {len(series.test_pieces)} test piece(s), {len(series.anomaly_idx)} anomalies")

    from trainers import train_from_config  # imports TensorFlow: after the cheap checks

    run = train_from_config(config, series)
    print(f"run folder: {run}")
    print(f"wall time: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
