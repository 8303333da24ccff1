"""Speed and memory figures: python3 codes/benchmark.py --help"""

import sys

if __name__ == "__main__":
    try:  # Ctrl-C while the package imports: no traceback
        from vae_lstm.benchmark import main
        from vae_lstm.errors import exit_after, run_cli
    except KeyboardInterrupt:
        sys.exit(130)
    exit_after(run_cli(main, resume="no figures were written; run the same command again"))
