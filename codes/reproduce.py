"""Reproduce Table 1 over detectors, series and seeds: python3 codes/reproduce.py --help"""

import sys

if __name__ == "__main__":
    try:  # Ctrl-C while the package imports: no traceback
        from vae_lstm.errors import exit_after, run_cli
        from vae_lstm.reproduce import main
    except KeyboardInterrupt:
        sys.exit(130)
    exit_after(run_cli(main, resume="run the same command again: finished runs are skipped, an interrupted one resumes"))
