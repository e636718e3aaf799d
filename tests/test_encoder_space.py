"""search=tune's encoder option: left out (with the keys only it reads) without a preset, kept with one.
Needs no keras-hub: it only reads the config."""

from __future__ import annotations

from conftest import TINY, compose_config
from probsweep.config import validate
from probsweep.sweep import space as search


def tune(*extra):
    return validate(compose_config([*TINY, "search=tune", *extra]))


def test_without_a_preset_search_tune_leaves_the_encoder_family_out(capsys):
    cfg = search.without_unavailable(tune())
    space = cfg.search.space
    assert list(space.family.choice) == ["ngram", "cnn", "seed"]
    assert "model.encoder.hidden" not in space and "model.encoder.normalize" not in space
    assert list(space["model.dropout"].when.family) == ["cnn", "seed"]  # still read by the other families
    assert "encoder left out (model.encoder.preset is not set" in capsys.readouterr().out
    entries = search.parse(space)
    search.check_space(cfg, entries)  # the pruned space is a valid space


def test_with_a_preset_search_tune_includes_the_encoder_family_and_its_keys(tmp_path):
    (tmp_path / "config.json").write_text("{}")  # enough for the config check; nothing is loaded here
    cfg = tune(f"model.encoder.preset={tmp_path}")
    assert search.without_unavailable(cfg) is cfg
    space = cfg.search.space
    assert "encoder" in space.family.choice and "model.encoder.hidden" in space
    assert list(space["model.encoder.hidden"].when.family) == ["encoder"]
