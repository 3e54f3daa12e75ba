"""The bottom floor: writing a file atomically, reading JSON with a one-line error, numpy to strict JSON.

Every module that writes or reads a file of the kit goes through these three, so a temporary name, a
fsync, a file's permissions or a NaN rule is decided once. Files get ``0o666 & ~umask`` (0644 under the
usual umask 022), as any program's files do, so that a group can read a shared run when the umask allows it.
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import sys
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np


class WriteError(ValueError):
    """A file that could not be written (disk full, read-only, no permission); one line naming the path."""


def write_error(path, err: OSError) -> WriteError:
    reason = err.strerror or (os.strerror(err.errno) if err.errno else str(err) or err.__class__.__name__)
    hint = {errno.ENOSPC: "; free some space", errno.EDQUOT: "; free some space",
            errno.EROFS: "; the file system is read-only", errno.EACCES: "; check the permissions"}.get(err.errno, "")
    return WriteError(f"cannot write {path}: {reason}{hint}")


def writer_failure(err: BaseException) -> BaseException | None:
    """The real cause behind a serializer's error: torch.save turns an OSError (disk full) or a Ctrl-C raised
    inside its write callback into ``RuntimeError: ... unexpected pos``; the original is its context."""
    seen = err
    while seen is not None:
        if isinstance(seen, (OSError, KeyboardInterrupt)):
            return seen
        seen = seen.__context__
    return None


TEMP_PREFIX, TEMP_SUFFIX = ".", ".tmp"


@lru_cache(maxsize=1)
def _umask_by_setting() -> int:
    # os.umask can only be read by setting it: for a moment the process's umask is 0, which another thread
    # creating a file would see, so this is done once, and only where /proc cannot tell
    old = os.umask(0)
    os.umask(old)
    return old


def umask() -> int:
    """The process's umask, read without changing it (Linux: /proc/self/status); elsewhere read once, by
    setting and restoring it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _umask_by_setting()


def file_mode() -> int:
    """The permissions of a new file: what ``open()`` would give it (mkstemp's temporaries are 0600)."""
    return 0o666 & ~umask()


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb"):
    """A file that appears at ``path`` only once it is completely written and on disk.

    The data goes to a uniquely named temporary beside ``path`` (two writers never share one), is flushed
    and fsynced, then renamed over ``path``; it has the permissions of a new file under the umask
    (`file_mode`). On any failure (an exception, a disk that is full, Ctrl-C) the temporary is removed and
    ``path`` keeps its old content.

    Raises:
        WriteError: one line naming ``path``, when the system refuses the write (disk full, read-only,
            permissions), also when a serializer inside hid that error in its own.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as err:
        raise write_error(path, err) from None
    try:
        try:
            os.fchmod(fd, file_mode())
        except OSError:
            pass  # a file system without modes (some network mounts) keeps its own
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        cause = writer_failure(err)
        if isinstance(cause, OSError):
            raise write_error(path, cause) from None
        if cause is not None and cause is not err:
            raise cause from None  # a Ctrl-C inside torch.save's write: a Ctrl-C, not a RuntimeError
        raise


def _existing_ancestor(path: Path) -> Path:
    """The nearest of ``path``'s parents that exists (the current directory for a relative name)."""
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path(path.absolute().anchor)


def check_writable_file(path: str | os.PathLike) -> None:
    """Refuse, before any work, a file that could not be written at the end: a directory, a path below a
    file, a folder that does not exist, or one where no file can be made (read-only, no permission, /proc).
    A temporary is made and removed beside it, so this writes nothing that stays.

    Raises:
        WriteError: one line naming the path.
    """
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"cannot write {path}: it is a directory (name a file)")
    if not path.parent.is_dir():
        above = _existing_ancestor(path)
        why = (f"{above} is a file, not a folder" if not above.is_dir() else
               f"the folder {path.parent} does not exist")
        raise WriteError(f"cannot write {path}: {why}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as err:
        raise write_error(path, err) from None
    os.close(fd)
    Path(tmp).unlink(missing_ok=True)


def check_writable_directory(path: str | os.PathLike) -> None:
    """Refuse, before any work, a directory that could not be written: a file, a path below a file, or a
    place where no directory or file can be made (read-only, no permission, /proc). A temporary is made and
    removed (in the directory, or where it would be created), so this writes nothing that stays.

    Raises:
        WriteError: one line naming the path.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise WriteError(f"cannot write into {path}: it exists and is not a directory")
    above = path if path.is_dir() else _existing_ancestor(path)
    if not above.is_dir():
        raise WriteError(f"cannot write into {path}: {above} is a file, not a folder")
    try:
        if path.is_dir():
            fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=path)
            os.close(fd)
            Path(tmp).unlink(missing_ok=True)
        else:
            os.rmdir(tempfile.mkdtemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=above))
    except OSError as err:
        raise write_error(path, err) from None


def remove_stale_temporaries(directory: str | os.PathLike) -> int:
    """Delete temporaries `atomic_open` left behind when its process was killed (SIGKILL skips every
    cleanup); only safe while no one else writes there (the run directory's lock). Returns how many."""
    removed = 0
    for tmp in Path(directory).glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path) as f:
        f.write(data)


def to_jsonable(x):
    """numpy values, tuples and paths -> plain JSON values; NaN and infinities -> None (strict JSON)."""
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    if hasattr(x, "item"):  # torch scalars
        return to_jsonable(x.item())
    return x


def dumps(obj, indent: int | None = None) -> str:
    """Strict JSON text of ``obj`` (see `to_jsonable`): never ``NaN`` or ``Infinity``."""
    return json.dumps(to_jsonable(obj), indent=indent, allow_nan=False)


def atomic_write_json(path: str | os.PathLike, obj, indent: int | None = 1) -> None:
    atomic_write_bytes(path, dumps(obj, indent).encode())


def read_json(path: str | os.PathLike, error: type[Exception], what: str = ""):
    """JSON from a file, or ``error`` with one line saying the file is missing or damaged."""
    note = f" ({what})" if what else ""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise error(f"{path} is missing{note}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path} is not valid JSON ({e.__class__.__name__} at {getattr(e, 'pos', '?')}){note}") from None
    except OSError as e:
        raise error(f"{path} cannot be read ({e.strerror or e.__class__.__name__}){note}") from None


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def warn(message: str) -> None:
    """One ``warning:`` line on stderr: something was repaired or could not be verified, and work goes on."""
    print(f"warning: {message}", file=sys.stderr, flush=True)
