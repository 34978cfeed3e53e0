"""Who may write a data dir, told by OS file locks.

An embedded store (the NetworkX graph, an embedded Chroma) keeps the data in this process's
memory and writes it back: a second writer in another process would never see the first
one's writes and would overwrite them. So the first ``Memory`` that opens such a data dir for
writing owns it (an exclusive lock on ``<data_dir>/LOCK``) until it is closed or its process
ends. The locks are ``flock`` locks: the kernel drops them when the process dies, ``kill -9``
included, where a pid file would outlive it. They are held per open file, so a second
``Memory`` in the same process is refused too.

The same primitive names the writers of the journal (see ``history.py``) and keeps processes
from using one embedded Chroma at the same moment (:class:`ProcessLock`).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError

OWNER_FILE = "LOCK"

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int, blocking: bool) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK, 1)
        except OSError:
            if blocking:
                raise
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int, blocking: bool) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _same(fd: int, path: Path) -> bool:
    """Whether ``fd`` is the file at ``path`` (not one removed since)."""
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


class FileLock:
    """An exclusive lock on one file, held from :meth:`acquire` to :meth:`release` (or to
    the end of the process)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self, blocking: bool = False) -> bool:
        """Take the lock; without ``blocking``, ``False`` at once if someone holds it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if not _lock(fd, blocking):
                    os.close(fd)
                    return False
                if _same(fd, self.path):  # else its holder removed it meanwhile: lock the new one
                    self._fd = fd
                    return True
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)

    def release(self, unlink: bool = False) -> None:
        """Drop the lock (``unlink``: and remove the file, which no one needs any more)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if unlink:
            self.path.unlink(missing_ok=True)
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def note(self, text: str) -> None:
        """Write ``text`` into the held lock file, for whoever is refused it to read."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.lseek(self._fd, 0, os.SEEK_SET)
            os.write(self._fd, text.encode())


def own(dirs: Iterable[Path]) -> list[FileLock]:
    """The owner lock of each data dir (``<dir>/LOCK``), or a :class:`ConfigError` that says
    what to do instead when another ``Memory`` (in this process or another one) holds one."""
    taken: list[FileLock] = []
    for d in sorted({Path(d) for d in dirs}):
        lock = FileLock(d / OWNER_FILE)
        if not lock.acquire():
            for t in taken:
                t.release()
            raise ConfigError(refusal(d, lock.path))
        lock.note(f"{os.getpid()}\n")
        taken.append(lock)
    return taken


def refusal(data_dir: Path, path: Path) -> str:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pid = None
    who = f"process {pid}" if pid else "another process"
    if pid == os.getpid():
        who = "another Memory in this process"
    return (
        f"the data dir {data_dir} is in use by {who}: an embedded data dir (NetworkX graph, "
        "embedded Chroma) has one writer. Share one Memory (one process: a service that the "
        "others call), or use servers that many processes can share "
        "(GRAPHMEM_GRAPH_STORE=neo4j and GRAPHMEM_CHROMA_HOST), or open it read-only "
        "(Config(read_only=True), GRAPHMEM_READ_ONLY=1)"
    )


class ProcessLock:
    """Exclusive between processes, shared by the threads of one: held while any thread of
    this process is inside, so that one process at a time uses a resource that is safe
    within a process only. Reentrant; one instance per file (see :func:`process_lock`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None  # opened once, kept: a turn costs two system calls
        self._mutex = threading.Lock()
        self._inside = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._mutex:
            if self._inside == 0:
                _lock(self._open(), blocking=True)  # the process's other threads wait here
            self._inside += 1
        try:
            yield
        finally:
            with self._mutex:
                self._inside -= 1
                if self._inside == 0 and self._fd is not None:
                    _unlock(self._fd)

    def _open(self) -> int:
        """The file, opened again if it was removed since (with the directory, say)."""
        if self._fd is not None and not _same(self._fd, self.path):
            os.close(self._fd)
            self._fd = None
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        return self._fd


_process_locks: dict[str, ProcessLock] = {}
_registry = threading.Lock()


def process_lock(path: Path) -> ProcessLock:
    """The one :class:`ProcessLock` of this process on ``path``."""
    key = os.path.abspath(path)
    with _registry:
        lock = _process_locks.get(key)
        if lock is None:
            lock = _process_locks[key] = ProcessLock(Path(key))
        return lock
