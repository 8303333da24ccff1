"""Pinned data files: downloaded once into datasets/cache/, sha256-checked, and safe with several processes.

A file is read from the cache when its sha256 is the pinned one (so a read-only cache of good files
works). Otherwise it is downloaded under a lock on that file, into a temporary file beside it,
checked, and renamed into place: no process reads a half-written file, and two processes that start
on an empty cache download it once (the one that waits says so). The part file of a process killed mid-download is removed by the next
download of that file. A server that sends nothing for ``TIMEOUT_S`` seconds is given up on, and so is a download
not whole after ``DEADLINE_S`` seconds (a server that trickles bytes).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import http.client
import os
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .errors import ConfigError, DataError, Interrupted, UserError, home_path

TIMEOUT_S = 60  # seconds without a byte before a download gives up
DEADLINE_S = 900  # seconds a download of one file may take in all (the pinned files are a few MB at most)
CHUNK = 1 << 20
LOCAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}  # the disk's, not the network's


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with the_caches(), open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def the_caches():
    """Inside it, an OSError is the download cache's (``is_local``), whatever its number: reading or writing a file
    of the cache (EIO of a failing disk, EFBIG, a full disk), whose errors name no file."""
    try:
        yield
    except OSError as e:
        e.of_the_cache = True
        raise


def local_root(folder: str | Path, setting: str | None = None, error: type[UserError] = DataError) -> Path:
    """A local-copy folder as the user gave it (an environment variable, a data_dir): ``~`` expanded, relative to
    the working folder. The sha256 check and the read then use the same path. "~name/" of no user of this machine is
    ``home_path``'s one line (an ``error``), after ``setting`` (the variable or key that gave it), not a folder
    "~name" here."""
    try:
        return home_path(str(folder)).absolute()
    except ConfigError as e:
        raise error(f"{setting}: {e}" if setting else str(e)) from None


def fetch(url: str, dest: Path, sha: str, what: str, remedy: str) -> Path:
    """``dest``, with the pinned ``sha``: the cached copy, or downloaded from ``url``. Every failure is one
    DataError naming ``what`` and ending with ``remedy`` (e.g. the variable that points at a local copy)."""
    damaged = False  # a cached copy without the pinned sha256 (cut short, edited): named if no download replaces it
    try:
        if dest.is_file():
            if sha256(dest) == sha:
                return dest
            damaged = True
        from filelock import FileLock, Timeout

        dest.parent.mkdir(parents=True, exist_ok=True)
        lock, pid_path = FileLock(f"{dest}.lock"), Path(f"{dest}.lock.pid")  # its holder's PID beside it
        try:
            lock.acquire(timeout=0)
        except Timeout:  # another process downloads it (or was stopped while it did): say which, then wait
            print(f"waiting for another process (PID {holder_pid(pid_path)}) to finish downloading {what} (it holds "
                  f"{lock.lock_file}; Ctrl-C to stop)", file=sys.stderr, flush=True)
            lock.acquire()
        try:
            write_holder(pid_path)
            if dest.is_file() and sha256(dest) == sha:  # another process fetched it while this one waited
                return dest
            for stale in dest.parent.glob(f"{glob.escape(dest.name)}.*.part"):  # of a download killed mid-way
                if "." not in stale.name[len(dest.name) + 1:-len(".part")]:  # not a part of "<dest name>.x"
                    stale.unlink(missing_ok=True)  # only the holder of this file's lock writes one
            _download(url, dest, sha, what, remedy)
        finally:
            pid_path.unlink(missing_ok=True)
            lock.release()
    except DataError:
        raise
    except NotImplementedError as e:  # filelock 3 on a file system without file locks
        raise DataError(f"could not lock the download cache {dest.parent}: its file system does not support file "
                        f"locks ({e}); put the checkout on a local disk, or {remedy}") from None
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM mid-download: nothing trained yet, the partial file is gone
        if isinstance(e, Interrupted):
            raise
        raise Interrupted(f"while downloading {what}; run the same command again to download it afresh") from None
    except (OSError, urllib.error.URLError, http.client.HTTPException, ValueError) as e:  # HTTP, network, timeout,
        # a cache that cannot be read or written
        why = " ".join(str(getattr(e, "reason", None) or e).split()) or type(e).__name__
        cached = f"the cached copy {dest} does not have the pinned sha256, and " if damaged else ""
        if is_local(e):
            raise DataError(f"{cached}could not keep {what} in the download cache {dest.parent} ({why}): make that "
                            f"folder writable, with free space, or {remedy}") from e
        raise DataError(f"{cached}could not download {what} from {url} ({why}); {remedy}") from e
    return dest


def holder_record() -> str:
    """What the holder of a lock writes beside it (``holder_pid`` reads it): its PID and its machine's name."""
    import socket

    return f"{os.getpid()} {socket.gethostname()}\n"


def write_holder(pid_path: Path) -> None:
    """Write ``holder_record`` to ``pid_path`` as ``holder_pid`` reads it: UTF-8 whatever the locale, a host name's
    undecodable bytes kept as they were read."""
    pid_path.write_text(holder_record(), encoding="utf-8", errors="surrogateescape")


def holder_pid(pid_path: Path) -> str:
    """The PID that the holder of a lock wrote beside it (``holder_record``), with "on host <name>" when that is
    another machine's (a folder on a shared disk): its PID names no process of this one. "unknown" where there is
    none to read: a holder that took the lock an instant ago, or a file of anything else (a disk's zeroes)."""
    import socket

    try:
        words = pid_path.read_text(encoding="utf-8", errors="surrogateescape").split(maxsplit=1)
    except OSError:
        return "unknown"
    if not words or not words[0].isascii() or not words[0].isdigit():
        return "unknown"
    host = words[1].strip() if len(words) > 1 else None  # the rest of the line: a host's name may hold spaces
    return words[0] if host in (None, socket.gethostname()) else f"{words[0]} on host {host}"


def is_local(error: BaseException) -> bool:
    """Whether an error of ``fetch`` is the cache's (a file or folder it names, a full disk, no permission, any error
    reading or writing a cache file: ``the_caches``), not the network's: those reach it as a URLError, or as an
    OSError of the socket that names no file. A TLS error mid-read
    (an SSLError, a record that fails its check) is the network's whatever its number: SSL_ERROR_SSL is 1, EPERM's."""
    return (isinstance(error, OSError) and not isinstance(error, urllib.error.URLError | ssl.SSLError)
            and (error.filename is not None or error.errno in LOCAL_ERRNOS or getattr(error, "of_the_cache", False)))


def _download(url: str, dest: Path, sha: str, what: str, remedy: str) -> None:
    from tqdm import tqdm

    digest = hashlib.sha256()
    deadline = time.monotonic() + DEADLINE_S
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f"{dest.name}.", suffix=".part", delete=False) as part:
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
                size = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=size, unit="B", unit_scale=True, desc=f"downloading {dest.name}", file=sys.stderr,
                          leave=False, disable=None) as bar:
                    if bar.disable:  # off a terminal (a log): no bar, one line, so that a slow download is known
                        how_big = f" ({size:,} bytes)" if size else ""
                        print(f"downloading {what} from {url}{how_big}", file=sys.stderr, flush=True)
                    while chunk := response.read1(CHUNK):  # what has come: read() waits for a whole chunk
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"not whole after {DEADLINE_S:g} s: the server sends it too slowly")
                        digest.update(chunk)
                        with the_caches():
                            part.write(chunk)
                        bar.update(len(chunk))
            with the_caches():
                part.close()  # what it still buffers, written
            if digest.hexdigest() != sha:
                raise DataError(f"{what} downloaded from {url} has sha256 {digest.hexdigest()[:12]}..., not the pinned "
                                f"{sha[:12]}... (the file at the source changed, or the download was cut); {remedy}")
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(part.name, 0o666 & ~umask)  # as any new file (a temporary file is the owner's only)
            os.replace(part.name, dest)
        finally:
            Path(part.name).unlink(missing_ok=True)
