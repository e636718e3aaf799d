"""The typed schema: every group composes, bad keys and pairings fail early with one line."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from conftest import compose_config
from probsweep.config import CONF_DIR, Config, ConfigError, flatten, validate
from probsweep.head import Head

GROUPS = ["data", "model", "train", "tuner", "search"]


def test_every_config_folder_is_a_tested_group():
    assert sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir()) == sorted(GROUPS)


@pytest.mark.parametrize("group", GROUPS)
def test_every_config_group_option_composes_validates_and_sets_what_its_file_says(group, tmp_path):
    options = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
    assert options
    for option in options:
        overrides = [f"{group}={option}"]
        if group == "data" and option != "embedded":
            overrides.append(f"data.path=my.{option}")
        if group == "model" and option == "encoder":  # the encoder family needs a preset folder (docs/encoder.md)
            (tmp_path / "config.json").write_text("{}")
            overrides.append(f"model.encoder.preset={tmp_path}")
        cfg = OmegaConf.to_container(validate(compose_config(overrides)), enum_to_str=True)
        path = CONF_DIR / group / f"{option}.yaml"
        written = OmegaConf.to_container(OmegaConf.load(path)) or {}
        written.pop("defaults", None)
        assert_sets(cfg if "@package _global_" in path.read_text() else cfg[group], written, f"{group}={option}")


def assert_sets(composed, written, where):
    """Every key an option file writes has that value in the composed config (mappings: key by key)."""
    for key, value in written.items():
        if isinstance(value, dict) and value and isinstance(composed.get(key), dict):
            assert_sets(composed[key], value, f"{where} {key}")
        else:
            assert composed[key] == value, f"{where}: {key}"


def test_default_config_is_the_seed():
    cfg = validate(compose_config())
    assert (cfg.model.embed_dim, cfg.model.gru_units, cfg.model.conv_filters, cfg.model.kernel_size) == (100, 32, 32, 3)
    assert (cfg.data.max_len, cfg.data.synthetic.n_classes, cfg.train.learning_rate) == (150, 102, 0.001)
    assert cfg.model.activation.value == "sigmoid" and cfg.model.loss.value == "sparse_categorical_crossentropy"
    assert cfg.train.jit_compile is True and cfg.model.trainable_embedding == "auto"


def test_defaults_live_in_the_schema_only():
    # the default composition adds nothing to the dataclasses but the search space ...
    composed = OmegaConf.to_container(validate(compose_config()), enum_to_str=True)
    schema = OmegaConf.to_container(OmegaConf.structured(Config), enum_to_str=True)
    assert composed["search"].pop("space") and not schema["search"].pop("space")
    assert composed == schema

    # ... and no option file restates a default, except the key that names the option itself
    def check(values, defaults, where):
        for key, value in values.items():
            if isinstance(value, dict) and key not in ("space",):
                check(value, defaults[key], f"{where}{key}.")
            elif key not in ("source", "kind", "space", "defaults"):
                assert defaults[key] != value, f"{path.name} restates {where}{key}={value}"

    for path in CONF_DIR.glob("*/*.yaml"):
        is_global = path.read_text().startswith("# @package _global_")  # e.g. search=tune sets train.* too
        check(
            OmegaConf.to_container(OmegaConf.load(path)) or {},
            schema if is_global else schema[path.parent.name],
            "" if is_global else f"{path.parent.name}.",
        )


def test_unknown_key_and_bad_value_fail_with_one_line():
    with pytest.raises(ConfigError) as err:
        validate(OmegaConf.create({"model": {"activaton": "softmax"}}))
    assert "model.activaton" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        validate(OmegaConf.create({"model": {"activation": "softmaxx"}}))
    assert "model.activation" in str(err.value) and "\n" not in str(err.value)


def test_label_smoothing_with_sparse_loss_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="categorical_crossentropy"):
        validate(OmegaConf.create({"model": {"label_smoothing": 0.1, "loss": "sparse_categorical_crossentropy"}}))
    ok = validate(OmegaConf.create({"model": {"label_smoothing": 0.1, "loss": "categorical_crossentropy"}}))
    assert ok.model.label_smoothing == 0.1


@pytest.mark.parametrize(
    "override,named",
    [
        ("model.trainable_embedding=maybe", "model.trainable_embedding='maybe' must be auto, true or false"),
        ("data.max_len=long", "data.max_len='long' must be a positive number of tokens or auto"),
        ("data.max_len=0", "data.max_len=0"),
        ("train.early_stopping.direction=up", "train.early_stopping: direction='up'"),
        ("sweep.trials_per_worker=-1", "sweep.trials_per_worker must be 0 or more"),
    ],
)
def test_auto_keys_and_early_stopping_refuse_bad_values_by_name(override, named):
    with pytest.raises(ConfigError) as err:
        validate(compose_config([override]))
    assert named in str(err.value) and "\n" not in str(err.value)
    assert validate(compose_config(["data.max_len=auto", "model.trainable_embedding=true"])).data.max_len == "auto"


def test_file_data_needs_a_path():
    with pytest.raises(ConfigError, match="data.path"):
        validate(compose_config(["data=file"]))


@pytest.mark.parametrize(
    "activation,loss,expected",
    [
        ("sigmoid", "sparse_categorical_crossentropy", True),
        ("sigmoid", "categorical_crossentropy", True),
        ("softmax", "binary_crossentropy", True),
        ("softmax", "sparse_categorical_crossentropy", False),
        ("sigmoid", "binary_crossentropy", False),
        ("linear", "sparse_categorical_crossentropy", False),
    ],
)
def test_mismatch_table(activation, loss, expected):
    assert Head(activation, loss).mismatch is expected


def test_flatten_gives_dotted_keys():
    flat = flatten(validate(compose_config()))
    assert flat["model.dropout"] == 0.1 and flat["model.activation"] == "sigmoid"
    assert flat["data.synthetic.n_classes"] == 102


@pytest.mark.parametrize(
    "override,named",
    [
        ("model.activation=softmaxx", "expected one of [softmax, sigmoid, linear]"),
        ("model.activaton=softmax", "unknown config key 'model.activaton': did you mean model.activation?"),
        ("+model.activaton=softmax", "unknown config key 'model.activaton': did you mean model.activation?"),
        ("++train.epoch=3", "unknown config key 'train.epoch': did you mean train.epochs?"),
        ("+activation=softmax", "unknown config key 'activation': did you mean model.activation?"),
        ("+model.embed_dim.size=3", "unknown config key 'model.embed_dim.size'"),
        ("search=nope", "Could not find 'search/nope'"),
        ("train.epochs=0", "train.epochs=0 must be at least 1"),
        ("data.max_len=-5", "data.max_len=-5 must be at least 1"),
        ("model.dropout=2", "model.dropout=2.0 must be in [0, 1)"),
        ("model.label_smoothing=0.1", "model.label_smoothing needs one-hot targets"),
        ("data=file", "data.path is not set"),
    ],
)
def test_bad_command_line_override_ends_in_one_line(override, named, capsys):
    from probsweep.cli import check_overrides

    with pytest.raises(SystemExit) as exit_:
        check_overrides([override])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and named in err


def test_recycling_workers_runs_the_trials_in_worker_processes():
    from probsweep.config import is_distributed

    assert not is_distributed(compose_config([]).sweep)  # the default: one process
    assert is_distributed(compose_config(["sweep.trials_per_worker=1"]).sweep)  # the launcher and a worker


def test_a_key_added_with_plus_is_checked_like_any_other_except_under_model_kwargs():
    from probsweep.config import check_known_keys, unknown_key

    assert unknown_key("model.activation") is None and unknown_key("data.synthetic.n_classes") is None
    assert unknown_key("model.kwargs.anything") is None and unknown_key("search.space.model.dropout") is None
    assert "did you mean data.synthetic.n_classes?" in unknown_key("data.synthetic.n_clases")
    with pytest.raises(ConfigError, match="'model.activaton': did you mean model.activation"):
        validate(compose_config(["+model.activaton=softmax"]))  # Hydra lets it in; the schema does not
    check_known_keys(compose_config(["+model.kwargs.width=3"]))  # a custom body's own argument


def test_a_missing_data_or_vectors_file_is_named_before_any_heavy_import(tmp_path, capsys):
    from probsweep.cli import check_overrides

    for args, named in [
        (["data=file", f"data.path={tmp_path}/nope.csv"], "data file not found"),
        (["data=file", f"data.path={tmp_path}"], "is a directory, not a file"),
        ([f"data.vectors_path={tmp_path}/glove.txt"], "vectors file not found"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            check_overrides(args)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.count("\n") == 1 and named in err, err


@pytest.mark.parametrize("value", ["/tmp/my dir ü/dätä 文件.csv", "/tmp/données.csv", "/tmp/a (1).csv"])
def test_an_unquoted_value_hydra_cannot_lex_gets_the_quoting_hint(value, capsys):
    from probsweep.cli import check_overrides

    with pytest.raises(SystemExit) as exit_:
        check_overrides(["data=file", f"data.path={value}"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1, err
    assert f"""'data.path="{value}"'""" in err  # the form that works, ready to paste
    with pytest.raises(SystemExit) as exit_:  # and it does: the file is then looked for, by its real name
        check_overrides(["data=file", f'data.path="{value}"'])
    assert f"data file not found: {value}" in capsys.readouterr().err
