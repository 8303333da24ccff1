"""The one exception type that the command-line tools turn into a one-line error."""

import argparse
import contextlib
import difflib
import errno
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn


class UserError(Exception):
    """A problem with the user's input: config, data or paths. Printed as one line, exit 2."""


class ConfigError(UserError):
    """A config key is unknown, of the wrong type or out of range."""


class DataError(UserError):
    """A data file is missing, unreadable, or its values are unusable (NaN, constant, too short)."""


def home_path(value) -> Path:
    """``value`` as a path, a leading "~" or "~user" read as that home folder (the shell leaves --opt=~/x as it is);
    one line where ``Path.expanduser`` raises a RuntimeError: a "~user" of no user of this machine (a typo for
    "~/user"), or "~" where no home folder is known. Only a leading "~" is a home folder: "./~/x" is the folder "~"
    of the relative path (as a shell reads it), where the Path, which drops the "./", would read as "~/x"; a caller
    that keeps such a value as text keeps the text as written (``home_text``)."""
    path = Path(value)
    if not str(value).startswith("~"):
        return path
    try:
        return path.expanduser()
    except RuntimeError:
        first = path.parts[0]
        whose = f"the home folder of a user '{first[1:]}' that this machine does not have" if first != "~" else (
            "the home folder, which this machine does not name (HOME is not set)")
        raise ConfigError(f"'{value}' starts with {first}, {whose}; write the folder in full"
                          f"{', or ~/ for your own home folder' if first != '~' else ''}") from None


REPO_VAR = "VAE_LSTM_REPO"
_CHECKOUT_FILE = Path("configs") / "config.schema.json"  # a folder holding it is a checkout of the repository
_ABOVE_PACKAGE = Path(__file__).resolve().parents[2]  # the checkout when the package is its codes/vae_lstm


def repository_root() -> Path:
    """The repository checkout whose configs/ and datasets/ the package reads, and under which a config's relative
    folders lie: the one holding the package (codes/vae_lstm, run from codes/ or installed with ``pip install -e .``),
    else, for a copy installed elsewhere (``pip install .``, a wheel), the folder that $VAE_LSTM_REPO names."""
    named = os.environ.get(REPO_VAR)
    if (_ABOVE_PACKAGE / _CHECKOUT_FILE).is_file() or not named:
        return _ABOVE_PACKAGE
    return Path(os.path.expanduser(named)).resolve()


def repository_file(path: Path) -> Path:
    """``path``, a file the package reads from its checkout (a schema, datasets/series.json); one line instead of a
    missing file's error where the package runs outside a checkout and $VAE_LSTM_REPO names none."""
    if Path(path).is_file() or (_ABOVE_PACKAGE / _CHECKOUT_FILE).is_file():
        return Path(path)  # in a checkout a missing file is its own error
    if named := os.environ.get(REPO_VAR):
        root = repository_root()
        missing = Path(path).relative_to(root) if Path(path).is_relative_to(root) else path
        raise UserError(f"{REPO_VAR}={named} is not a checkout of this repository (it has no {missing}): set "
                        "it to the folder of one, whose configs/ and datasets/ the package reads")
    raise UserError(f"vae_lstm is installed in {Path(__file__).resolve().parent}, outside a checkout of its repository, "
                    "whose configs/ and datasets/ it reads: install it from the checkout with 'pip install -e .', "
                    f"or set {REPO_VAR} to the checkout's folder")


def home_text(value: str) -> str:
    """``home_path`` of ``value`` as text, for a value read as a path again later: a value without a leading "~" as it
    is written (its Path's text would drop a "./" before a "~", which the next reading takes for a home folder)."""
    return str(home_path(value)) if str(value).startswith("~") else value


def unmistaken(path: Path) -> Path:
    """``path`` as a line names it: made absolute where its text starts with "~" but it is relative (a folder "~" of
    the working folder, given as "./~/x", which a Path writes "~/x": read as the home folder's x)."""
    return path.absolute() if not path.is_absolute() and str(path).startswith("~") else path


def closest(name, known):
    """The item of ``known`` nearest to ``name`` ignoring case (difflib's, cutoff 0.6), for a "did you mean";
    None when none is near."""
    by_lower = {str(k).lower(): k for k in known}
    close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=1)
    return by_lower[close[0]] if close else None


def unknown_name(what: str, name, known) -> str:
    """The line for a ``name`` that is not one of ``known``: a "did you mean" when one is near (``closest``), else
    every known name."""
    near = closest(name, known)
    return f"unknown {what} {name!r}; " + (f"did you mean {near!r}?" if near else f"known: {', '.join(known)}")


def json_error(e) -> str:
    """Why and where a JSON text does not parse (a ``json.JSONDecodeError``), in words: "Expecting value at line 2,
    column 9". json's messages that end in "at" ("Unterminated string starting at") take the place after it."""
    return f"{e.msg.removesuffix(' at')} at line {e.lineno}, column {e.colno}"


def non_empty(value: str) -> str:
    """An option's text, refused when empty: no option takes "" (an unset shell variable, ``--run-dir "$RUN"``,
    would otherwise fall back to the default silently, or read the working folder as a config)."""
    if value == "":
        raise argparse.ArgumentTypeError("is empty (an unset shell variable?)")
    return value


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors (an unknown choice, a missing option) are a UserError: one line, like every
    other error, rather than the usage block and the error. An option that takes text refuses an empty one."""

    def add_argument(self, *args, **kwargs):
        if kwargs.get("action", "store") == "store" and "type" not in kwargs:
            kwargs["type"] = non_empty
        return super().add_argument(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        self._given = list(sys.argv[1:] if args is None else args)  # for error(): the word after an option
        return super().parse_known_args(args, namespace)

    def error(self, message):
        raise UserError(f"{message}{self._dash_hint(message)} (see {self.prog} --help)")

    def _dash_hint(self, message: str) -> str:
        """For an option whose value starts with '-' (a file -my.json), which argparse takes for an option and calls
        missing: how to give it."""
        found = re.match(r"argument (\S+): expected one argument", message)
        given = getattr(self, "_given", [])
        for i, word in enumerate(given[:-1]):
            if (found and word in found.group(1).split("/") and given[i + 1].startswith("-")
                    and given[i + 1].split("=")[0] not in self._option_string_actions and given[i + 1] != "--"):
                return f" (a value starting with '-' is given as {word}={given[i + 1]})"
        return ""

    def _check_value(self, action, value):  # an unknown choice: a "did you mean" (as Python 3.14's suggest_on_error)
        if action.choices is not None and value not in action.choices and (near := closest(value, action.choices)):
            choices = ", ".join(map(repr, action.choices))
            self.error(f"argument {'/'.join(action.option_strings) or action.dest}: invalid choice: {value!r}; "
                       f"did you mean {near!r}? (choose from {choices})")
        super()._check_value(action, value)


def one_line_in_notebooks() -> None:
    """In IPython (the detection notebook, papermill), show a UserError as the one line the commands print, not a
    traceback through the package; the cell still fails. Nothing outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def one_line(shell, kind, error, tb, tb_offset=None):
        stb = [f"error: {error}"]
        shell._showtraceback(kind, error, stb)  # the cell's error output (what papermill reports): that line alone
        return stb

    shell.set_custom_exc((UserError,), one_line)


PAPERMILL_PARAMETERS = "# Parameters\n"  # how papermill's cell of the given parameters (-p) starts
PAPERMILL_OWN = "PAPERMILL_"  # the parameters papermill adds itself (--inject-paths: PAPERMILL_INPUT_PATH, ...)


def check_notebook_parameters(known, history=None) -> None:
    """One line (a ConfigError) for each parameter given to papermill (``-p treshold_rule pot``) that the notebook,
    whose parameters are ``known``, does not have: papermill only warns ("Passed unknown parameter") and runs the
    notebook on at its defaults. The given ones are read from papermill's cell of them in ``history`` (the sources
    of the cells run so far; by default IPython's ``In``); a session that papermill did not start has no such cell."""
    import ast

    if history is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return
        shell = get_ipython()
        history = shell.user_ns.get("In", []) if shell is not None else []
    given = []
    for source in history:
        if not str(source).startswith(PAPERMILL_PARAMETERS):
            continue
        try:
            body = ast.parse(source).body
        except SyntaxError:
            continue
        given += [t.id for node in body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)]
    unknown = list(dict.fromkeys(name for name in given if name not in known and not name.startswith(PAPERMILL_OWN)))
    if len(unknown) == 1:
        raise ConfigError(f"the notebook's parameters: {unknown_name('parameter', unknown[0], known)}")
    if unknown:
        raise ConfigError(f"the notebook's parameters: unknown parameters {', '.join(map(repr, unknown))}; "
                          f"known: {', '.join(known)}")


RESUME_TRAINING = "run the same command again to resume from the last finished epoch"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, carrying what to do to resume when it is not what ``run_cli`` was told."""

    def __init__(self, resume: str):
        super().__init__(resume)
        self.resume = resume


@contextmanager
def naming_the_file(path):
    """Inside it, an OSError that names no file (a write's or flush's on a full disk) names ``path``, so that its
    one line (``os_error_line``) says which file."""
    try:
        yield
    except OSError as e:
        e.filename = e.filename or str(path)
        raise


def os_error_line(e: OSError) -> str:
    """An OSError (a full disk, no permission) in one line: the file (both of a rename, as Python names them), and
    why."""
    where = f"{e.filename}{f' -> {e.filename2}' if e.filename2 else ''}: " if e.filename else ""
    reason = e.strerror or str(e).split("\n")[0] or type(e).__name__
    return f"{where}{reason}"


def isatty(stream) -> bool:
    """Whether ``stream`` is a terminal: a stream without ``isatty`` (a writer of one's own put in for sys.stdout), or
    whose ``isatty`` raises (closed, detached), is not."""
    try:
        return bool(stream.isatty())
    except Exception:  # noqa: BLE001 - a stream without one (closed, a stand-in) is not a terminal
        return False


def _drop_stdout(stream=None) -> None:
    """Point the file of ``stream`` (default stdout) at os.devnull, so that what it still holds for a reader that has
    gone (a closed pipe) is dropped: Python's flush at exit would otherwise add "Exception ignored ...
    BrokenPipeError" and exit with 120."""
    import os

    with contextlib.suppress(Exception):  # a stream with no file (a test's, a notebook's): nothing to do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, (stream or sys.stdout).fileno())
        os.close(devnull)


class ReaderMayGo:
    """A stream (stdout, stderr) whose reader may go before the command ends ('detect.py ... | head -3'): from the
    first write or flush that finds it gone (BrokenPipeError; EIO: a terminal that has hung up), what is written is
    dropped, and its file points at os.devnull, rather than the error stopping the command wherever it printed,
    mid-way through writing its results. Everything else is the stream's."""

    def __init__(self, stream):
        self.stream, self.gone = stream, False

    def __getattr__(self, name):
        return getattr(self.stream, name)

    def write(self, text):
        if not self.gone:
            try:
                return self.stream.write(text)
            except OSError as e:
                self._went(e)
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except OSError as e:
                self._went(e)

    def _went(self, e: OSError) -> None:
        if not isinstance(e, BrokenPipeError) and not (e.errno == errno.EIO and _on_terminal(self.stream)):
            raise e  # a file's (EIO from a failing disk, ENOSPC): the command's error, its output not all written
        self.gone = True
        _drop_stdout(self.stream)


def _on_terminal(stream) -> bool:
    """Whether ``stream``'s file is a terminal, one that has hung up included (its ``isatty`` is then False): a
    character device. A stream with no file (a stand-in) is not."""
    import os
    import stat

    try:
        return stat.S_ISCHR(os.fstat(stream.fileno()).st_mode)
    except Exception:  # noqa: BLE001 - no file descriptor (a notebook's stream, a test's stand-in)
        return False


def reader_may_go(stream):
    """``stream`` as a ``ReaderMayGo``; None (a stream whose file descriptor was closed, 'detect.py ... >&-', where
    print writes nothing) stays None."""
    return None if stream is None else ReaderMayGo(stream)


@contextmanager
def readers_may_go():
    """Inside it, sys.stdout and sys.stderr are ``ReaderMayGo`` streams (``reader_may_go``); at its end, what they
    hold is flushed (and dropped, its reader gone) and they are put back."""
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = reader_may_go(sys.stdout), reader_may_go(sys.stderr)
    wrapped = sys.stdout, sys.stderr
    try:
        yield
    finally:
        for stream in wrapped:
            with contextlib.suppress(Exception):  # a stream closed or detached meanwhile: nothing to flush
                stream.flush()
        if sys.stdout is wrapped[0] and sys.stderr is wrapped[1]:  # else the command put in its own: left to it
            sys.stdout, sys.stderr = streams


def run_cli(main, argv=None, resume: str = RESUME_TRAINING) -> int:
    """Run a command's main(). A UserError, or an OSError (disk full, no permission), becomes one line
    on stderr and exit code 2; Ctrl-C (exit 130), SIGTERM (143) and SIGHUP (129: a closed terminal) one line
    saying how to resume (``resume``: what running it again does); a signal that was ignored (SIGHUP under nohup)
    stays ignored. Output whose reader has gone ('| head -3') is dropped (``readers_may_go``): the command finishes
    its work as it would have. A second signal (a second Ctrl-C) while the first one's interrupt is handled is
    ignored: the clean-up it would cut short (the grid's workers stopped, a part file removed) is done. A third ends
    the process at once with the first one's code: a clean-up that does not end is not waited for."""
    import os
    import signal
    import threading

    received = []

    def on_signal(signum, frame):
        received.append(signum)
        if len(received) == 1:
            raise KeyboardInterrupt
        if len(received) == 2:  # a second one (systemd sends SIGTERM and SIGHUP) while the first one's is handled
            return
        # a third: the clean-up does not end (a lost Ray cluster's shutdown, a hung disk), and is not waited for
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):
            print(f"interrupted: {resume} (ended at once by a third signal, before its clean-up ended)", file=sys.stderr,
                  flush=True)
        os._exit(128 + received[0])

    in_main_thread = threading.current_thread() is threading.main_thread()  # signals only work there
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if in_main_thread else ():
        if signum is None or signal.getsignal(signum) == signal.SIG_IGN:
            continue
        if signum == signal.SIGINT and signal.getsignal(signum) is not signal.default_int_handler:
            continue  # a handler of the caller's own (a notebook's kernel, a test runner)
        previous[signum] = signal.signal(signum, on_signal)
    try:
        with readers_may_go():  # '| head -3': the lines no one reads are dropped, the command's work done whole
            return _run(main, argv, resume, received)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


INTERRUPTED_CODES = (129, 130, 143)  # run_cli's exit codes of SIGHUP, Ctrl-C and SIGTERM


def exit_after(code: int) -> NoReturn:
    """``sys.exit(code)`` of a command's script, with ``run_cli``'s code. After an interrupt, a signal that comes while
    Python ends (it joins the grid's worker threads, runs TensorFlow's exit handlers) ends the process at once with the
    same code: a second Ctrl-C there printed Python's "Exception ignored" traceback after the line saying how to
    resume. What the command wrote is written by then."""
    import os
    import signal
    import threading

    if code in INTERRUPTED_CODES and threading.current_thread() is threading.main_thread():
        def at_once(signum, frame):
            os._exit(code)

        for signum in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if signum is not None and signal.getsignal(signum) != signal.SIG_IGN:
                signal.signal(signum, at_once)
    sys.exit(code)


def _run(main, argv, resume: str, received: list) -> int:
    """``run_cli``'s main(), its errors and interrupts each one line on stderr and an exit code."""
    try:
        code = main(argv) or 0
        if sys.stdout is not None:  # what it printed, written before it ends: a failing disk's error is its error
            with contextlib.suppress(AttributeError, ValueError):  # a stand-in with no flush, a stream closed
                sys.stdout.flush()
        return code
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {os_error_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        # on a terminal, Keras's bar (and the terminal's "^C") leave the cursor mid-line: the line starts a new one
        start = "\n" if isatty(sys.stderr) else ""
        try:
            sys.stdout.flush()  # what was printed comes first
        except Exception:  # noqa: BLE001 - its reader gone ('| head -1'): Python's last flush at exit would fail again
            _drop_stdout()
        print(f"{start}interrupted: {e.resume if isinstance(e, Interrupted) else resume}", file=sys.stderr)
        return 128 + received[0] if received else 130


def no_repeated_keys(refusal):
    """A ``json`` object_pairs_hook that raises ``refusal(key)`` for a key given twice in one object: JSON keeps the
    last one silently, so an edited copy of a key would quietly override the one the user looks at."""
    def hook(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise refusal(key)
            seen.add(key)
        return dict(pairs)

    return hook
