"""Each line a grid worker prints, named with its run.

Two worker processes share the terminal, and their lines ("Epoch 1/20", Keras's epoch summaries, notes,
"resuming at epoch 4") came unnamed and interleaved: nothing said which run a loss belonged to.
``named_lines`` starts every line written to stdout and stderr with the run's name while a job runs, and
says that the streams are not a terminal, so that Keras prints one line per epoch rather than a progress
bar that two workers would overwrite in turn. A process keeps one such stream per stream it names, whose name is
the job's that runs now: a log handler made in one job (TensorFlow's and absl's, made at their import in a
worker's first job) holds it, and names the later jobs' lines with their own run, those between jobs with none.
TensorFlow's C++ log lines are not named: they are written to file descriptor 2, not through ``sys.stderr``
(``quiet`` hides its start-up notices and leaves its errors only, TF_CPP_MIN_LOG_LEVEL 2). Naming them would take a
pipe in place of descriptor 2 and a thread copying it, which loses the last lines of a worker that aborts (a failed
check in TensorFlow), the ones that matter most.
"""

from __future__ import annotations

import io
import sys
from contextlib import contextmanager


class WholeLines(io.TextIOBase):
    """A text stream over ``stream`` that hands on whole lines only (``split``): a line's end may come in a later
    write, and a carriage return (a progress bar's redraw) ends a line too. Not a terminal."""

    def __init__(self, stream):
        super().__init__()
        self.stream, self.pending = stream, ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def split(self, text: str) -> list[str]:
        """The lines that ``text`` ends, after what was pending; what follows the last line end stays pending."""
        *lines, self.pending = (self.pending + text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
        return lines

    def flush(self) -> None:
        self.stream.flush()

    def finish(self) -> None:
        """Write a last line that no line end followed."""
        if self.pending:
            self.write("\n")


class NamedLines(WholeLines):
    """A text stream that writes each whole line to ``stream`` with ``prefix`` before it (``WholeLines``)."""

    def __init__(self, stream, prefix: str):
        super().__init__(stream)
        self.prefix = prefix

    @property
    def encoding(self):
        return getattr(self.stream, "encoding", None)

    def write(self, text: str) -> int:
        if not self.prefix and not self.pending:  # between jobs: as written
            return self.stream.write(text)
        lines = self.split(text)
        for line in lines:
            if line:
                self.stream.write(f"{self.prefix}{line}\n")
        if lines:
            self.stream.flush()
        return len(text)


_named: dict[int, tuple[object, NamedLines]] = {}  # id of a stream -> (that stream, the one that names its lines)


def _naming(stream) -> NamedLines:
    """The process's one NamedLines of ``stream``."""
    kept = _named.get(id(stream))
    if kept is None or kept[0] is not stream:
        kept = _named[id(stream)] = stream, NamedLines(stream, "")
    return kept[1]


@contextmanager
def named_lines(name: str):
    """Inside it, every line printed to stdout or stderr starts with "``name``: "."""
    streams = sys.stdout, sys.stderr
    named = [_naming(stream) for stream in streams]
    for stream in named:
        stream.prefix = f"{name}: "
    sys.stdout, sys.stderr = named
    try:
        yield
    finally:
        sys.stdout, sys.stderr = streams
        for stream in named:
            stream.finish()
            stream.prefix = ""
