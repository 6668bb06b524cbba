"""Give the files genseg writes the permissions the user's umask asks for.

safetensors (0.8) writes its files with mode 0600 whatever the umask, so the weights of a
model or adapter folder would be the one file a colleague cannot read, while the JSON and
PNG files next to them (written by `open`) follow the umask. Writers that ignore the umask
hand their output to :func:`apply_umask` before it is renamed into place, so a reader never
sees the narrower mode either.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_STATUS = Path("/proc/self/status")


def current_umask() -> int:
    """The process's umask, read without changing it where the system reports it (Linux).

    Elsewhere it is set and restored at once (``os.umask`` has no read-only form), which
    another thread creating a file in that instant could see.
    """
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _chmod(path: Path, mode: int) -> None:
    """Set `mode` unless the file system cannot (some network or FAT mounts): the file is
    written either way, and a mode is not worth losing a finished training over."""
    try:
        os.chmod(path, mode)  # never a link: callers skip those (Linux cannot chmod a link itself)
    except OSError:
        pass


def apply_umask(path: str | Path) -> Path:
    """Give `path` (a file, or a folder and everything under it) the umask's modes: files
    0666 & ~umask, folders 0777 & ~umask. Links are left alone (never followed)."""
    path = Path(path)
    mask = current_umask()
    file_mode, folder_mode = 0o666 & ~mask, 0o777 & ~mask
    if path.is_symlink():
        return path
    if not path.is_dir():
        _chmod(path, file_mode)
        return path
    for root, folders, files in os.walk(path):
        for name in files:
            child = Path(root, name)
            if stat.S_ISREG(child.lstat().st_mode):
                _chmod(child, file_mode)
        for name in folders:
            child = Path(root, name)
            if not child.is_symlink():
                _chmod(child, folder_mode)
    _chmod(path, folder_mode)
    return path
