"""Reproduce Table 1 over detectors, series and seeds: python3 codes/reproduce.py --help"""

import sys

from vae_lstm.errors import run_cli
from vae_lstm.reproduce import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
