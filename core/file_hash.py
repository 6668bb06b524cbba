"""One sha256 of a file's bytes for every module that checks or records files.

Downloaded archives, packaged model files and provenance all compare these digests, so they
must be computed one way. Reads in chunks (large archives stay out of memory) and remembers a
digest per (path, size, modification time), since the same weights are checked on every load.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20
_known: dict[tuple[str, int, int], str] = {}


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of the file at ``path``; recomputed when its size or mtime changes."""
    resolved = Path(path).resolve()
    st = resolved.stat()
    key = (str(resolved), st.st_size, st.st_mtime_ns)
    if key not in _known:
        digest = hashlib.sha256()
        with resolved.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        _known[key] = digest.hexdigest()
    return _known[key]
