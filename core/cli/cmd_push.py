"""`genseg push`: share a model or adapter folder on the Hugging Face Hub, or write exactly the
files it would upload into a local folder (``--to-folder``, the offline path).

What is shared is chosen, not swept up: a model folder's index, the components it names, its
card, preprocessing and training record; an adapter's card, weights, PEFT copies, README and
record. Checkpoints, TensorBoard logs, temporaries and any file a user put beside them stay
home. A component stored by reference to the packaged MiniLM is shared as a copy of the
package files the reference names (checked against its sha256), because whoever downloads
the model may have another version of that package, or none; the local folder is unchanged.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import typer

from genseg.adapters.card import CARD_FILE as ADAPTER_CARD
from genseg.cli import environment
from genseg.cli.output import info
from genseg.errors import InputError, OutputError
from genseg.model_card import README_FILE
from genseg.models.packaged import MINILM_PACKAGE, copy_referenced_files, read_reference
from genseg.training.checkpoints import RUN_CONFIG

_TRUE = {"1", "ON", "YES", "TRUE"}


@dataclass
class SharedFiles:
    """What `genseg push` shares of a folder: files copied as they are, components written as
    copies of the package files their reference names, and what stays behind."""

    folder: Path
    kind: Literal["model", "adapter"]
    files: list[str] = field(default_factory=list)  # paths relative to folder, POSIX
    referenced: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # top-level names not shared


def shared_files(folder: Path) -> SharedFiles:
    """The files of a finished genseg model or adapter folder that are shared, after the
    checks its loader makes; one InputError (or the loader's own error) otherwise."""
    # imported here: the config models and torch cost every command's start-up
    from genseg.model_folder import INDEX, check_model_folder, components, read_index
    from genseg.training.trainer import LOSS_LOG

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("no such folder", path=folder, fix="give a model or adapter folder")
    if (folder / INDEX).is_file():
        check_model_folder(folder)  # what loading it would refuse is refused before any upload
        shared = SharedFiles(folder, "model")
        wanted = {
            INDEX,
            README_FILE,
            RUN_CONFIG,
            LOSS_LOG,
            "preprocessing.json",
            *components(read_index(folder)),
        }
    elif (folder / ADAPTER_CARD).is_file():
        from genseg.adapters.peft_export import PEFT_DIR
        from genseg.adapters.store import read_adapter

        manifest = read_adapter(folder).manifest  # card and weights checked, links out refused
        shared = SharedFiles(folder, "adapter")
        wanted = {ADAPTER_CARD, manifest.weights, README_FILE, PEFT_DIR, RUN_CONFIG, LOSS_LOG}
    else:
        raise InputError(
            f"not a genseg model or adapter folder: no {INDEX} or {ADAPTER_CARD}",
            path=folder,
            fix="give the --output folder of a finished `genseg train` or `genseg finetune` "
            "(a run still training or interrupted has neither: finish it with --resume)",
        )
    for entry in sorted(folder.iterdir()):
        if entry.name not in wanted:
            shared.left_out.append(entry.name + ("/" if entry.is_dir() else ""))
        elif entry.is_file():
            shared.files.append(entry.name)
        elif read_reference(entry) is not None:
            shared.referenced.append(entry.name)
        else:
            found = (p for p in sorted(entry.rglob("*")) if p.is_file())
            shared.files += [p.relative_to(folder).as_posix() for p in found if not _hidden(p, folder)]
    return shared


def _hidden(path: Path, folder: Path) -> bool:
    """A temporary of an interrupted write (``.name.tmp``, ``.export.tmp``): never shared."""
    return any(part.startswith(".") for part in path.relative_to(folder).parts)


def write_shared(shared: SharedFiles, target: Path) -> tuple[int, int]:
    """Write the shared files into ``target`` (new, or an empty folder), all at once: the folder
    appears complete or not at all. Returns the number of files and their bytes."""
    import shutil

    from genseg.data.atomic import atomic_write

    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise OutputError(
            "--to-folder must be a new or empty folder",
            path=target,
            fix="give a folder that does not exist yet (nothing in it is replaced)",
        )
    if target.resolve().is_relative_to(shared.folder.resolve()):
        raise OutputError(
            "--to-folder lies inside the folder being shared",
            path=target,
            fix="give a folder outside it",
        )

    def write(tmp: Path) -> None:
        tmp.mkdir()
        for name in shared.files:
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shared.folder / name, tmp / name)
        for component in shared.referenced:
            copy_referenced_files(shared.folder / component, tmp / component)

    atomic_write(target, write)
    sizes = [p.stat().st_size for p in target.rglob("*") if p.is_file()]
    return len(sizes), sum(sizes)


def _refuse_offline_by_choice() -> None:
    """genseg sets HF_HUB_OFFLINE=1 when the user left it unset (every other command stays
    offline), and an upload is what `genseg push` was asked for; a user who set it is obeyed."""
    if (environment.USER_HUB_OFFLINE or "").strip().upper() in _TRUE:
        raise InputError(
            "HF_HUB_OFFLINE is set, and an upload needs the network",
            fix="unset HF_HUB_OFFLINE for this command, or write the files with --to-folder DIR",
        )


@contextlib.contextmanager
def _online(repo_id: str) -> Iterator[None]:
    """Let huggingface_hub reach the Hub inside, and make its failures one line with a fix."""
    from huggingface_hub import constants
    from huggingface_hub import errors as hub_errors

    # OSError covers requests' errors and HfHubHTTPError in older releases; newer ones raise
    # their own HTTPError for connection failures
    names = ("HTTPError", "HfHubHTTPError")
    failures = (OSError, *(getattr(hub_errors, n) for n in names if hasattr(hub_errors, n)))
    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = False  # what huggingface_hub.is_offline_mode() reads at each request
    try:
        yield
    except failures as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise OutputError(
            f"the upload to the Hub failed: {first}",
            path=repo_id,
            fix="log in (hf auth login, or HF_TOKEN with write access), check REPO_ID and the "
            "network; --to-folder DIR writes the same files without one",
        ) from exc
    finally:
        constants.HF_HUB_OFFLINE = previous


def push(
    folder: Path = typer.Argument(
        ..., help="A model folder (genseg train) or adapter folder (genseg finetune)."
    ),
    repo_id: str | None = typer.Argument(
        None, help="Hub repository, USER/NAME or ORG/NAME (created when missing); not with --to-folder."
    ),
    private: bool = typer.Option(
        False, "--private", help="Create the repository private (an existing one keeps its setting)."
    ),
    revision: str | None = typer.Option(
        None, "--revision", help="Branch to commit to (created when missing); default main."
    ),
    message: str | None = typer.Option(
        None, "--message", help="Commit message (default: what was uploaded)."
    ),
    to_folder: Path | None = typer.Option(
        None,
        "--to-folder",
        help="Write the files that would be uploaded into this new folder instead; no network.",
    ),
) -> None:
    """Upload a model or adapter folder to the Hugging Face Hub, or write it for sharing (--to-folder).

    Only what a user of the model needs goes up: checkpoints, logs and stray files stay home,
    and the packaged MiniLM, stored by reference, is uploaded as a copy (the local folder is
    unchanged). Log in first (hf auth login, or HF_TOKEN).

    Example: genseg push runs/shapes my-name/genseg-shapes --private

    Example: genseg push runs/mni-lora --to-folder share/mni-lora
    """
    if (repo_id is None) == (to_folder is None):
        raise typer.BadParameter("give REPO_ID to upload, or --to-folder DIR, not both", param_hint="REPO_ID")
    if repo_id is not None:
        _refuse_offline_by_choice()  # before any work
    shared = shared_files(folder)
    if shared.left_out:
        info(f"not shared: {', '.join(shared.left_out)}")
    if shared.referenced:
        info(
            f"the {' and '.join(shared.referenced)} {'are' if len(shared.referenced) > 1 else 'is'} "
            f"shared as a copy of {MINILM_PACKAGE} (the local folder keeps its reference)"
        )
    if to_folder is not None:
        count, size = write_shared(shared, to_folder)
        typer.echo(
            f"wrote the {shared.kind} {folder.name} to {to_folder}: {count} files, {size / 1e6:.1f} MB"
        )
        return
    url = upload(shared, repo_id, private=private, revision=revision, message=message)
    typer.echo(f"uploaded the {shared.kind} {folder.name} to {url}")


def upload(
    shared: SharedFiles,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    message: str | None = None,
) -> str:
    """Stage the shared files in a temporary folder and upload it in one commit; returns the
    commit's address. Stale files inside the shared folders (a reference replaced by a copy)
    are deleted in the same commit; the repository's other files are left alone."""
    from huggingface_hub import HfApi

    from genseg.version import __version__

    message = message or f"genseg {__version__}: upload the {shared.kind} {shared.folder.name}"
    folders = sorted({name.split("/")[0] for name in shared.files if "/" in name} | set(shared.referenced))
    with tempfile.TemporaryDirectory(prefix="genseg-push-") as tmp:
        staged = Path(tmp) / "upload"
        write_shared(shared, staged)
        api = HfApi()
        with _online(repo_id):
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            if revision is not None:
                api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
            commit = api.upload_folder(
                repo_id=repo_id,
                folder_path=staged,
                repo_type="model",
                revision=revision,
                commit_message=message,
                delete_patterns=[f"{name}/*" for name in folders] or None,
            )
    return str(getattr(commit, "commit_url", None) or commit)
