"""The bottom floor: writing a file atomically, reading JSON with a one-line error, numpy to strict JSON.

Every module that writes or reads a file of the kit goes through these three, so a temporary name, a
fsync or a NaN rule is decided once.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb"):
    """A file that appears at ``path`` only once it is completely written and on disk.

    The data goes to a uniquely named temporary beside ``path`` (two writers never share one), is flushed
    and fsynced, then renamed over ``path``. On any failure (an exception, a disk that is full, Ctrl-C) the
    temporary is removed and ``path`` keeps its old content.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
