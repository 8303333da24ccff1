"""Detect anomalies with a trained run and evaluate them: python3 codes/detect.py --config configs/NAB_config.json"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from config import load_config, run_dir  # noqa: E402
from errors import run_cli  # noqa: E402
from evaluation import THRESHOLD_RULES  # noqa: E402
from runs import require_trained  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True,
                        help="JSON config: a path, or a file name in configs/ (e.g. NAB_config.json)")
    parser.add_argument("--threshold-rule", choices=THRESHOLD_RULES,
                        help="override the config's threshold_rule")
    parser.add_argument("--run-dir", help="run folder to evaluate (default: the config's run folder)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    config = load_config(args.config)
    if args.threshold_rule:
        config = config.replace(threshold_rule=args.threshold_rule)

    path = Path(args.run_dir) if args.run_dir else run_dir(config)
    require_trained(path, config)  # before TensorFlow loads, so that the error comes back at once

    from detection import format_table, run_detection, write_report

    result = run_detection(config, path)
    metrics_path = write_report(result)
    print(f"{config.dataset}: {sum(len(p.labels) for p in result.pieces)} test sequences in "
          f"{len(result.pieces)} piece(s), scored in {result.scoring_seconds:.2f} s "
          f"(validation sequences included)")
    print(format_table(result.metrics))
    print(f"metrics and figures: {metrics_path.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
