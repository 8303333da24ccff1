"""Detect and evaluate with a trained run: python3 codes/detect.py --config configs/NAB_config.json"""

import sys

from vae_lstm.cli import detect_main as main
from vae_lstm.errors import run_cli

if __name__ == "__main__":
    sys.exit(run_cli(main))
