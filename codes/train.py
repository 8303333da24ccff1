"""Train a detector: python3 codes/train.py --config configs/NAB_config.json"""

import sys

if __name__ == "__main__":
    try:  # Ctrl-C while the package imports: no traceback
        from vae_lstm.cli import train_main as main
        from vae_lstm.errors import exit_after, run_cli
    except KeyboardInterrupt:
        sys.exit(130)
    exit_after(run_cli(main))
