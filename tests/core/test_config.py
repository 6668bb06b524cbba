"""Config values out of any sensible range are one ConfigError naming the field, before any
module is built (a typo must not ask for a billion layers or divide by a zero patch)."""

from __future__ import annotations

import pytest
import yaml

from genseg.config import TrainConfig, load_train_config
from genseg.errors import ConfigError


@pytest.mark.parametrize(
    "model, where",
    [
        ({"denoiser": {"patch_size": 0}}, "model.denoiser.patch_size"),
        ({"denoiser": {"num_layers": 100000000}}, "model.denoiser.num_layers"),
        ({"denoiser": {"num_layers": -1}}, "model.denoiser.num_layers"),
        ({"denoiser": {"num_attention_heads": 0}}, "model.denoiser.num_attention_heads"),
        ({"denoiser": {"block_out_channels": [64, 0]}}, "model.denoiser.block_out_channels.1"),
        ({"resolution": -32}, "model.resolution"),
        ({"resolution": 1000000}, "model.resolution 1000000 is above 4096"),
    ],
)
def test_out_of_range_model_values_are_refused_naming_the_field(tmp_path, model, where):
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({"model": model}))
    with pytest.raises(ConfigError) as err:
        load_train_config(path)
    assert where in err.value.one_line() and err.value.path == str(path)


def test_the_defaults_are_unchanged_and_valid():
    model = TrainConfig().model
    denoiser = model.denoiser
    # late fusion (a U-Net trunk, a text-written readout) at space-to-depth x4, 32 prompts per image
    # (docs/results.md: chosen on the real CT and Landsat validation splits)
    got = (denoiser.kind, denoiser.block_out_channels, model.codec.factor)
    assert got == ("late_fusion", [32, 64, 128], 4)
    assert TrainConfig().sampling.prompts_for(denoiser.kind) == 32
    assert TrainConfig().sampling.prompts_for("unet") == 1
    assert model.objective.dice == "per_prompt"  # chosen on the joint CT + Landsat validation splits
    assert (denoiser.num_layers, denoiser.patch_size) == (6, 2)
    assert TrainConfig().model.resolution == 128


def test_a_bad_flag_value_is_blamed_on_the_flag_not_on_the_config_file(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({"learning_rate": 0.01}))
    with pytest.raises(ConfigError) as err:
        load_train_config(path, {"steps": 0}, {"steps": "--steps"})
    assert err.value.path is None  # the file is fine
    assert "invalid --steps 0" in err.value.one_line() and "pass another --steps" in err.value.one_line()
    path.write_text(yaml.safe_dump({"steps": -3}))
    with pytest.raises(ConfigError) as err:  # a bad value in the file still names the file
        load_train_config(path, {"batch_size": 4}, {"batch_size": "--batch-size"})
    assert err.value.path == str(path) and "invalid value at steps" in err.value.one_line()
