"""Write a file (or a folder) under a temporary name, then rename it into place.

An interrupted run must never leave a half-written output that looks complete
(docs/architecture.md, "Errors and outputs").
``os.replace`` within one folder is atomic on POSIX and Windows, so a
reader sees either the old file or the new one, never a truncated one.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from genseg.errors import OutputError
from genseg.file_modes import apply_umask


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    """Flush a written file to disk so the rename cannot outlive its content after a crash."""
    if path.is_file():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# Temporary names stay well under the 255-byte limit of a file name, so an output whose own
# name is near the limit still fits, with room for a writer that appends its own ending.
TEMP_NAME_MAX = 200
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst")


def format_suffix(path: Path) -> str:
    """The ending a writer infers the format from: ``.nii.gz`` for compressed files, else the
    last suffix (empty when implausibly long to be a format)."""
    suffixes = path.suffixes
    suffix = "".join(suffixes[-2:]) if suffixes and suffixes[-1].lower() in _COMPRESSED else path.suffix
    return suffix if len(suffix.encode()) <= 24 else ""


def _hidden_head(path: Path, tail_bytes: int) -> str:
    suffix = format_suffix(path)
    head = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    room = max(TEMP_NAME_MAX - 1 - tail_bytes, 0)
    return head.encode()[:room].decode(errors="ignore")


def _hidden_sibling(path: Path, tag: str) -> Path:
    """``.<head>.<tag>-<pid>-<id><suffix>``, the head cut so the name fits TEMP_NAME_MAX bytes;
    the writing process's id lets a later write recognise the leftovers of a killed one."""
    tail = f".{tag}-{os.getpid()}-{uuid.uuid4().hex[:12]}{format_suffix(path)}"
    return path.with_name(f".{_hidden_head(path, len(tail.encode()))}{tail}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # another user's process, or no way to ask: keep its files
        return True
    return True


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the hidden temporaries (``tmp`` and ``old``) of earlier writes of ``path`` whose
    process no longer runs (a killed run). Only names of exactly this module's pattern for
    this output are touched, never a user's file. Returns what was removed."""
    suffix = format_suffix(path)
    pattern = re.compile(r"\.(.*)\.(tmp|old)-(\d+)-[0-9a-f]{12}" + re.escape(suffix) + r"\Z")
    removed = []
    try:
        siblings = list(path.parent.iterdir()) if path.parent.is_dir() else []
    except OSError:
        return removed
    for sibling in siblings:
        match = pattern.fullmatch(sibling.name)
        if not match:
            continue
        tail_bytes = len(sibling.name.encode()) - 1 - len(match.group(1).encode())
        if match.group(1) != _hidden_head(path, tail_bytes) or _process_alive(int(match.group(3))):
            continue
        _remove(sibling)
        removed.append(sibling)
    return removed


def temp_path_for(path: Path) -> Path:
    """A hidden sibling of ``path`` that keeps its format ending, so writers that infer the
    format from the extension (Pillow, tifffile, nibabel, safetensors) still work."""
    return _hidden_sibling(path, "tmp")


def atomic_write(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp)`` and move ``tmp`` to ``path`` only if the writer succeeded.

    ``writer`` receives a temporary path in the same folder and may create a file or a
    folder there (e.g. a checkpoint directory). What it wrote gets the modes the umask gives
    (as `open` and `mkdir` would) before the rename: libraries that create their file with
    ``mkstemp`` or a fixed mode (safetensors writes 0600) would otherwise leave a file only its
    owner can read. On any exception the temporary output is
    removed, ``path`` is left as it was, and the exception propagates; one from the file
    system (a read-only folder, a full disk, a name too long) as an OutputError naming
    ``path``. Parent folders are created. Returns ``path``.
    """
    path = Path(path)
    check_writable(path, folder_ok=True)
    tmp = temp_path_for(path)
    created = _missing_parents(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        _write_and_rename(path, tmp, writer)
    except BaseException as exc:
        _remove_empty(created)
        if isinstance(exc, OSError):
            raise output_error(exc, path) from exc
        raise
    return path


def _missing_parents(path: Path) -> list[Path]:
    """The folders above ``path`` that do not exist yet, deepest first: the ones a failed
    write must take away again so no empty folder is left behind."""
    missing = []
    for parent in path.absolute().parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders this write created (deepest first), each only while it is empty:
    another output written into one meanwhile keeps it."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _write_and_rename(path: Path, tmp: Path, writer: Callable[[Path], None]) -> None:
    try:
        writer(tmp)
        if not (tmp.exists() or tmp.is_symlink()):
            raise FileNotFoundError(f"the writer for {path} did not create its temporary output {tmp}")
        apply_umask(tmp)
        _fsync(tmp)
        if tmp.is_dir() and path.is_dir():
            # A folder cannot replace a non-empty folder in one rename: move the old one aside,
            # rename the new one in, and only then delete the old one (never a partial folder).
            old = _hidden_sibling(path, "old")
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def output_error(exc: OSError, path: Path) -> OutputError:
    """One line for a file-system failure on an output, with what to do about it."""
    fixes = {
        errno.EACCES: "choose a folder you can write to, or change its permissions",
        errno.EPERM: "choose a folder you can write to, or change its permissions",
        errno.EROFS: "the file system is read-only: choose another --output",
        errno.ENOSPC: "free disk space, or write somewhere else",
        errno.ENAMETOOLONG: "choose a shorter output name (at most 255 bytes per name)",
        errno.EISDIR: "a folder has this name: choose a file name",
        errno.ENOTDIR: "a file stands where a folder is needed: choose another output path",
    }
    reason = exc.strerror or str(exc) or exc.__class__.__name__
    return OutputError(
        f"cannot write the output: {reason}", path=path, fix=fixes.get(exc.errno, "check the output path")
    )


def check_writable(path: str | Path, folder_ok: bool = False) -> None:
    """Refuse, before any work, an output that cannot be written: its folder (or the nearest
    one that exists) is read-only, a file stands where a folder must be, the name is too long
    or (unless ``folder_ok``) an existing folder. Creates nothing."""
    path = Path(path)
    if len(path.name.encode()) > 255:
        raise output_error(OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG)), path)
    if path.is_dir() and not folder_ok:
        raise OutputError(
            "the output is a folder, not a file", path=path, fix="give a file name (e.g. scores.json)"
        )
    existing = next((p for p in path.absolute().parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise output_error(OSError(errno.ENOTDIR, f"{existing} is a file, not a folder"), path)
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise output_error(OSError(errno.EACCES, f"the folder {existing} is read-only"), path)
