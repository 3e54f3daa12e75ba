"""The lock on a run directory: one training process at a time (``flock`` on ``RUN_DIR/.lock``)."""
from __future__ import annotations

import errno
import fcntl
import os
import socket
import time
from pathlib import Path

from .errors import RunDirError
from .files import write_error
from .runfiles import LOCK


class RunLock:
    """An exclusive lock on a run directory (``flock`` on ``RUN_DIR/.lock``) for as long as one process
    trains there; the file names the holder (pid, host, start time) for the error a second process gets.

    The lock goes with the process: a killed holder (even SIGKILL) releases it, leaving the file behind; a
    holder that ends normally removes the file while still holding the lock, and a process that locked a
    file removed meanwhile tries again on a fresh one. Where the file system has no locks (some network
    mounts) training goes on unlocked.
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # less the umask, as every file
        except OSError as err:
            raise RunDirError(str(write_error(self.path, err))) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                self._fd = fd  # no locking on this file system: go on unlocked
                return self
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "a process that just started"
            os.close(fd)
            raise RunDirError(f"{self.run_dir} is in use by another training run ({holder}); wait for it to end "
                              "or choose another --output-dir") from None
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            current = None
        if current != os.fstat(fd).st_ino:  # its holder removed it as we locked it: lock the file there now
            os.close(fd)
            return self.acquire()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                      .encode(), 0)
        except OSError as err:  # a full disk: no room even for the holder's name
            os.close(fd)
            raise RunDirError(str(write_error(self.path, err))) from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.unlink(self.path)  # still locked: a process waiting on the old file sees it gone
            except OSError:
                pass
            os.close(fd)  # closing releases the flock

    def __enter__(self) -> "RunLock":
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
