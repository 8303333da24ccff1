"""Speed and memory figures: python3 codes/benchmark.py --help"""

import sys

from vae_lstm.benchmark import main
from vae_lstm.errors import run_cli

if __name__ == "__main__":
    sys.exit(run_cli(main))
