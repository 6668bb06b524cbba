import pytest


@pytest.fixture(scope="session")
def mni152_root(tmp_path_factory):
    """The real MNI152 slices, generated once per test session (~5 s)."""
    from genseg_medical.mni152 import make_mni152_dataset

    return make_mni152_dataset(tmp_path_factory.mktemp("mni152") / "mni152")
