"""Detect and evaluate with a trained run: python3 codes/detect.py --config configs/NAB_config.json"""

import sys

if __name__ == "__main__":
    try:  # Ctrl-C while the package imports: no traceback
        from vae_lstm.cli import detect_main as main
        from vae_lstm.errors import exit_after, run_cli
    except KeyboardInterrupt:
        sys.exit(130)
    exit_after(run_cli(main, resume="run the same command again to score the run (its saved models are kept)"))
