"""Files that are never seen half-written, even when the writing process is killed.

New content always goes to a working file beside the target (``.pytest-sacred-<name>``)
and then takes the target's name in one rename, so the name holds the old content or the
new, whole. A file rewritten many times (``run.json`` at every event) keeps its working
file open and swaps the two with ``renameat2(RENAME_EXCHANGE)`` on Linux: the old content
becomes the next working file, so a rewrite costs a ``pwrite`` and a rename (about 4 µs)
instead of a file creation (about 75 µs on ext4, which also starts writeback when a rename
replaces a file). Elsewhere, or on a filesystem without the exchange, each rewrite creates
the working file and ``os.replace``-s the target. When a run ends, its ``run.json``'s working
file can be handed, still open, to the next run's (:meth:`ReplacedFile.detach_spare`): one
rename instead of a file created and one removed per run.

Guarantees hold against a killed process, not against a power cut: nothing is fsynced.
Every ``OSError`` becomes a :class:`~pytest_sacred.stores.base.StoreWriteError` naming
the file and the errno.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from ..names import WORKING_PREFIX
from .base import StoreWriteError

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
#: the libc ``renameat2`` once looked up; False where there is none or it is refused
_renameat2: Any = None


def _exchange_function() -> Any:
    global _renameat2
    if _renameat2 is None:
        _renameat2 = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                function = ctypes.CDLL(None, use_errno=True).renameat2
                function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                     ctypes.c_char_p, ctypes.c_uint]
                _renameat2 = function
            except (OSError, AttributeError):  # no glibc 2.28+ (musl, old systems)
                pass
    return _renameat2


def _exchange(first: bytes, second: bytes) -> bool:
    """Swap two existing paths in one step; False when this system cannot."""
    global _renameat2
    function = _exchange_function()
    if not function:
        return False
    if function(_AT_FDCWD, first, _AT_FDCWD, second, _RENAME_EXCHANGE) == 0:
        return True
    import ctypes

    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        _renameat2 = False  # this filesystem or kernel has no exchange: replace from now on
        return False
    raise OSError(code, os.strerror(code), os.fsdecode(second))


def working_path(path: str | Path) -> str:
    """The working file beside ``path``, where its next content is written."""
    return _beside(path, WORKING_PREFIX + os.path.basename(path))


def write_error(path: Path | str, exc: OSError, what: str = "write") -> StoreWriteError:
    """The observer error for a failed write: the file, the errno, and what is still safe."""
    name = errno.errorcode.get(exc.errno or 0, "?")
    hint = " (the disk is full: free space, or store the runs elsewhere)" \
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else ""
    return StoreWriteError(
        f"cannot {what} {path}: [Errno {exc.errno} {name}] {exc.strerror or exc}{hint}; "
        "the files written before are unchanged", path=str(path), errno=exc.errno)


class FileRange(NamedTuple):
    """Bytes of an open file, copied by the kernel into a file being written (the
    metrics journal's text into ``metrics.json``) instead of read into memory."""

    fd: int
    offset: int
    length: int


def _copy_range(part: FileRange, fd: int, at: int) -> int:
    """Copy ``part`` to offset ``at`` of ``fd``; returns the bytes copied."""
    done = 0
    while done < part.length:
        try:
            copied = os.copy_file_range(part.fd, fd, part.length - done,
                                        part.offset + done, at + done)
        except (AttributeError, OSError) as exc:  # not Linux, or a filesystem without it
            if isinstance(exc, OSError) and exc.errno not in (
                    errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            data = os.pread(part.fd, min(part.length - done, 1 << 22), part.offset + done)
            copied = os.pwrite(fd, data, at + done) if data else 0
        if not copied:
            raise OSError(errno.EIO, f"copying {part.length} bytes stopped short at {done}")
        done += copied
    return done


def _write_pieces(fd: int, pieces: tuple[str | FileRange, ...], fresh: bool = True) -> int:
    """Write from offset 0; a reused (not ``fresh``) file is cut to the new size."""
    size = 0
    for piece in pieces:
        if isinstance(piece, FileRange):
            size += _copy_range(piece, fd, size)
            continue
        data = piece.encode("utf-8")
        while data:  # a short write (a signal, a nearly full disk) writes the rest
            written = os.pwrite(fd, data, size)
            size += written
            data = data[written:]
    if not fresh:
        os.ftruncate(fd, size)
    return size


def _discard(path: str | bytes | os.PathLike[str]) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _beside(path: str | os.PathLike[str], name: str) -> str:
    """The path of ``name`` in the directory of ``path`` (``os.path``: several times
    cheaper than ``Path.with_name``, and a run writes a dozen files)."""
    return os.path.join(os.path.dirname(path), name)


def _own_working_path(path: str | os.PathLike[str]) -> str:
    """A working file no other process or thread uses: two xdist workers storing the same
    content-addressed source at once must not rename each other's copy away."""
    return _beside(path, f"{WORKING_PREFIX}{os.path.basename(path)}.{os.getpid()}-"
                         f"{threading.get_ident()}")


def write_new(path: str | Path, *pieces: str) -> None:
    """Create ``path`` with this text: whole or not at all."""
    work = _own_working_path(path)
    try:
        fd = os.open(work, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_pieces(fd, pieces)
        finally:
            os.close(fd)
        os.replace(work, path)
    except OSError as exc:
        _discard(work)
        raise write_error(path, exc) from None


def copy_new(source: str, path: Path, copy: Callable[[str, str], Any] = shutil.copyfile) -> None:
    """Copy ``source`` to ``path``: whole or not at all."""
    work = _own_working_path(path)
    try:
        copy(source, work)
        os.replace(work, path)
    except OSError as exc:
        _discard(work)
        if exc.filename is not None and os.fspath(exc.filename) == os.fspath(source):
            raise  # the source could not be read: not a store failure
        raise write_error(path, exc) from None


class Spare(NamedTuple):
    """A working file kept open for another :class:`ReplacedFile`: its descriptor and path."""

    fd: int
    path: bytes

    def discard(self) -> None:
        os.close(self.fd)
        _discard(self.path)


class ReplacedFile:
    """A file rewritten whole many times (and appended to in place, for text where a
    shorter tail after a kill is harmless: ``cout.txt``, the metrics journal)."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self._path_bytes = os.fsencode(path)
        self._work = self._work_bytes = os.fsencode(working_path(path))
        self._fd: int | None = None  # open on what is at ``path``
        self._spare: int | None = None  # open on the working file: the previous content
        self._size = 0

    def write(self, *pieces: str | FileRange) -> None:
        """Replace the content; pieces are written one by one, never joined in memory."""
        try:
            spare, fresh = self._spare, self._spare is None
            if spare is None:
                spare = os.open(self._work, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            self._spare = spare
            size = _write_pieces(spare, pieces, fresh)
            if self._fd is not None and _exchange(self._work_bytes, self._path_bytes):
                self._fd, self._spare = spare, self._fd
            else:  # the first version, or no exchange here: the working file takes the name
                os.replace(self._work, self.path)
                if self._fd is not None:
                    os.close(self._fd)
                self._fd, self._spare = spare, None
            self._size = size
        except OSError as exc:
            raise write_error(self.path, exc) from None

    def create(self, text: str) -> None:
        """Create the file in place, without a working file: for text of which any prefix
        is as good as the whole (``cout.txt``), as a kill during an append leaves it too."""
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            self._size = _write_pieces(self._fd, (text,))
        except OSError as exc:
            raise write_error(self.path, exc) from None

    def append(self, text: str) -> None:
        """Add text at the end, in place; a failed append is cut off again."""
        if self._fd is None:
            self.write(text)
            return
        data, start = text.encode("utf-8"), self._size
        try:
            while data:
                written = os.pwrite(self._fd, data, self._size)
                self._size += written
                data = data[written:]
        except OSError as exc:
            self._size = start
            try:
                os.ftruncate(self._fd, start)
            except OSError:
                pass
            raise write_error(self.path, exc) from None

    def detach_spare(self) -> Spare | None:
        """Close the file but keep its working file (an earlier content, open), for
        :meth:`adopt_spare` of the same file of the next run: creating a file costs the
        filesystem far more than moving one (a file rewritten in every run then costs no
        new inode per run). ``None`` when there is no working file."""
        spare, self._spare = self._spare, None
        self.close()
        return Spare(spare, self._work_bytes) if spare is not None else None

    def adopt_spare(self, spare: Spare) -> None:
        """Take ``spare`` (see :meth:`detach_spare`) as this file's working file: moved
        beside it, its old content overwritten by the next :meth:`write`. When it cannot be
        moved it is removed, and the next write creates a working file as usual."""
        try:
            os.rename(spare.path, self._work_bytes)
        except OSError:
            spare.discard()
            return
        self._spare = spare.fd

    @property
    def size(self) -> int:
        return self._size

    def fileno(self) -> int:
        """The descriptor open on the file's current content (to copy ranges from)."""
        if self._fd is None:
            raise ValueError(f"{self.path} is not open")
        return self._fd

    def close(self) -> None:
        """Close the file and remove its working file."""
        for fd in (self._fd, self._spare):
            if fd is not None:
                os.close(fd)
        if self._spare is not None:
            _discard(self._work)
        self._fd = self._spare = None
