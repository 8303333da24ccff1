"""The one exception type that the command-line tools turn into a one-line error."""


class UserError(Exception):
    """A problem with the user's input: config, data or paths. Printed as one line, exit 2."""


class ConfigError(UserError):
    """A config key is unknown, of the wrong type or out of range."""


class DataError(UserError):
    """A data file is missing, unreadable, or its values are unusable (NaN, constant, too short)."""


def run_cli(main, argv=None) -> int:
    """Run a command's main(); a UserError becomes one line on stderr and exit code 2."""
    import sys

    try:
        return main(argv) or 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume from the last finished epoch",
              file=sys.stderr)
        return 130
