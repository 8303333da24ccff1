"""Train a detector: python3 codes/train.py --config configs/NAB_config.json"""

import sys

from vae_lstm.cli import train_main as main
from vae_lstm.errors import run_cli

if __name__ == "__main__":
    sys.exit(run_cli(main))
