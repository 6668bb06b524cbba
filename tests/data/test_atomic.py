"""Temporary names of atomic writes: the format ending kept, and short enough for any output name."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from genseg.data.atomic import TEMP_NAME_MAX, atomic_write, check_writable, temp_path_for
from genseg.errors import OutputError


@pytest.mark.parametrize(
    "name, ending",
    [
        ("a.png", ".png"),
        ("scan.nii.gz", ".nii.gz"),
        ("x" * 245 + ".tif", ".tif"),
        ("é" * 120 + ".png", ".png"),
    ],
)
def test_the_temporary_name_keeps_the_ending_and_fits(name, ending):
    tmp = temp_path_for(Path("/out") / name)
    assert tmp.parent == Path("/out") and tmp.name.startswith(".") and tmp.name.endswith(ending)
    assert len(tmp.name.encode()) <= TEMP_NAME_MAX
    assert temp_path_for(Path("/out") / name) != tmp  # unique per call


def test_an_output_name_of_249_characters_is_written(tmp_path):
    target = tmp_path / ("m" * 245 + ".png")
    atomic_write(target, lambda tmp: Image.new("L", (2, 2)).save(tmp))
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_file_system_refusal_is_one_output_error_and_leaves_nothing(tmp_path):
    def refused(tmp):
        tmp.write_bytes(b"half")
        raise PermissionError(13, "Permission denied", str(tmp))

    with pytest.raises(OutputError) as err:
        atomic_write(tmp_path / "m.png", refused)
    assert err.value.path == str(tmp_path / "m.png") and "Permission denied" in err.value.message
    assert "permissions" in err.value.fix
    assert list(tmp_path.iterdir()) == []


def test_check_writable_refuses_before_any_work_and_creates_nothing(tmp_path, monkeypatch):
    import genseg.data.atomic as atomic

    (tmp_path / "a-file").write_text("x")
    with pytest.raises(OutputError, match="is a folder, not a file"):
        check_writable(tmp_path)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_writable(tmp_path / "a-file" / "out.json")
    with pytest.raises(OutputError, match="shorter output name"):
        check_writable(tmp_path / ("n" * 256))
    monkeypatch.setattr(atomic.os, "access", lambda path, mode: False)  # as a read-only folder answers
    with pytest.raises(OutputError, match="read-only"):
        check_writable(tmp_path / "new" / "deeper" / "out.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_a_write_removes_the_leftovers_of_killed_writes_and_nothing_else(tmp_path):
    import os
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = int(dead.stdout)  # that process has exited: its temporaries are leftovers
    target = tmp_path / "scan.nii.gz"
    killed = tmp_path / f".scan.tmp-{dead_pid}-0123456789ab.nii.gz"
    killed_folder = tmp_path / f".scan.old-{dead_pid}-0123456789ab.nii.gz"
    running = tmp_path / f".scan.tmp-{os.getpid()}-0123456789ab.nii.gz"  # a write still under way
    users = [
        tmp_path / n
        for n in (".scan.tmp-notes.nii.gz", "scan.tmp.nii.gz", f".other.tmp-{dead_pid}-0123456789ab.nii.gz")
    ]
    for p in (killed, running, *users):
        p.write_bytes(b"x")
    killed_folder.mkdir()
    atomic_write(target, lambda tmp: tmp.write_bytes(b"new"))
    assert target.read_bytes() == b"new"
    assert not killed.exists() and not killed_folder.exists()
    assert running.exists() and all(p.exists() for p in users)


def test_a_failed_write_takes_away_the_folders_it_created_and_keeps_others(tmp_path):
    def failing(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="No space left"):
        atomic_write(tmp_path / "new" / "sub" / "mask.png", failing)
    assert list(tmp_path.iterdir()) == []

    kept = tmp_path / "kept"
    atomic_write(kept / "first.txt", lambda tmp: tmp.write_text("ok"))
    with pytest.raises(RuntimeError):
        atomic_write(kept / "deeper" / "second.txt", lambda tmp: (_ for _ in ()).throw(RuntimeError("bug")))
    assert sorted(p.name for p in kept.iterdir()) == ["first.txt"]


@pytest.mark.parametrize("mask, file_mode, folder_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_what_is_renamed_into_place_has_the_modes_the_umask_gives(tmp_path, mask, file_mode, folder_mode):
    """Writers that create their file as mkstemp does (0600), or as safetensors 0.8 does, still
    leave a file the umask's mode: a colleague can read a shared model under umask 022."""
    import os
    import stat

    import torch
    from safetensors.torch import save_file

    def like_mkstemp(tmp: Path) -> None:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

    def folder(tmp: Path) -> None:
        (tmp / "sub").mkdir(parents=True, mode=0o700)
        like_mkstemp(tmp / "sub" / "state.bin")

    previous = os.umask(mask)
    try:
        written = [
            atomic_write(tmp_path / "a.bin", like_mkstemp),
            atomic_write(tmp_path / "w.safetensors", lambda tmp: save_file({"x": torch.zeros(2)}, str(tmp))),
            atomic_write(tmp_path / "plain.txt", lambda tmp: tmp.write_text("x")),
        ]
        atomic_write(tmp_path / "run", folder)
    finally:
        os.umask(previous)
    for path in [*written, tmp_path / "run" / "sub" / "state.bin"]:
        assert stat.S_IMODE(path.stat().st_mode) == file_mode, path.name
    for path in (tmp_path / "run", tmp_path / "run" / "sub"):
        assert stat.S_IMODE(path.stat().st_mode) == folder_mode, path.name
