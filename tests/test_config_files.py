"""``--config FILE``: settings files read into the frozen configs (unknown keys, wrong types and
refused values named with their dotted key), options typed on the command line over them, and
a colleague's ``run.json`` replayed into the very same tables."""

import csv
import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_cli import _error  # the one error: line a command printed

from fourier_masks.core.attacks.adversarial import AttackConfig
from fourier_masks.core.beyond.profile import ProfileConfig
from fourier_masks.core.cli import build_parser, main
from fourier_masks.core.cli.commands.masks import _image_mask_config, _set_mask_config
from fourier_masks.core.cli.commands.profile import profile_settings
from fourier_masks.core.cli.commands.study import study_settings
from fourier_masks.core.cli.config_files import masks_file
from fourier_masks.core.configs import ConfigFileError, config_from_dict, read_settings_file
from fourier_masks.core.errors import ConfigError
from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig
from fourier_masks.core.runs.store import ResultsStore
from fourier_masks.core.study.config import StudyConfig
from fourier_masks.core.study.config_file import SET_PER_MODEL, read_study_file
from fourier_masks.core.training.train import TrainConfig

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "study.toml"


def _write(tmp_path, text, name="cfg.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _study(*argv):
    return study_settings(build_parser().parse_args(["study", "--out", "o", *argv]))


# --- the one converter: nested table -> frozen config ----------------------------------------------


def test_nested_tables_become_nested_configs_over_the_base():
    base = StudyConfig.quick()
    config = config_from_dict(
        StudyConfig,
        {"image_mask": {"max_steps": 20}, "train": {"crop_scale": [1, 1], "pgd": {"steps": 2}}, "stability_seeds": [3]},
        base=base,
    )
    assert config.image_mask == base.image_mask.replace(max_steps=20)
    assert config.train.crop_scale == (1.0, 1.0) and isinstance(config.train.crop_scale, tuple)
    assert config.train.pgd == AttackConfig(steps=2, alpha=base.train.pgd.alpha)  # the quick preset's ε/4 kept
    assert config.stability_seeds == (3,) and config.set_mask == base.set_mask
    assert config_from_dict(SetMaskConfig, {"lr": 1}).lr == 1.0  # a whole number where a real one goes
    assert config_from_dict(StudyConfig, {}) == StudyConfig()


def test_unknown_keys_are_refused_with_their_dotted_name():
    with pytest.raises(ConfigFileError) as caught:
        config_from_dict(StudyConfig, {"image_mask": {"max_stepz": 20}}, where="cfg.toml")
    message = str(caught.value)
    assert message.startswith("cfg.toml: unknown key image_mask.max_stepz (did you mean image_mask.max_steps?)")
    assert "known keys of image_mask: objective, lam, lr," in message
    with pytest.raises(ConfigFileError, match=r"unknown key train\.pgd\.stepz .*known keys of train\.pgd: eps, "):
        config_from_dict(StudyConfig, {"train": {"pgd": {"stepz": 1}}}, where="cfg.toml")
    with pytest.raises(ConfigFileError, match=r"^cfg\.toml: unknown key colour; known keys: dataset, image_size"):
        config_from_dict(StudyConfig, {"colour": 3}, where="cfg.toml")


@pytest.mark.parametrize(
    "table, message",
    [
        ({"image_mask": {"max_steps": "20"}}, 'image_mask.max_steps should be a whole number, not a string ("20")'),
        ({"seed": True}, "seed should be a whole number, not a boolean (true)"),
        ({"set_mask": {"per_channel": 1}}, "set_mask.per_channel should be true or false, not a whole number (1)"),
        ({"set_mask": {"lr": "fast"}}, 'set_mask.lr should be a number, not a string ("fast")'),
        ({"train": {"crop_scale": [0.5]}}, "train.crop_scale should be a list of 2 numbers, not a list ([0.5])"),
        ({"stability_seeds": 1}, "stability_seeds should be a list of whole numbers, not a whole number (1)"),
        ({"given_models": [["N"]]}, 'given_models[0] should be a list of 2 strings, not a list (["N"])'),
        ({"train": 3}, "train should be a table, not a whole number (3)"),
    ],
)
def test_wrong_types_are_refused_naming_key_type_and_value(table, message):
    with pytest.raises(ConfigFileError) as caught:
        config_from_dict(StudyConfig, table, where="cfg.toml")
    assert str(caught.value) == f"cfg.toml: {message}"


def test_values_go_through_the_configs_own_checks():
    with pytest.raises(ConfigFileError, match=r"^cfg\.toml: image_mask: max_steps must be ≥ 1, got 0$"):
        config_from_dict(StudyConfig, {"image_mask": {"max_steps": 0}}, where="cfg.toml")
    with pytest.raises(ConfigFileError, match=r"^cfg\.toml: the study compares every model with the vanilla one"):
        config_from_dict(StudyConfig, {"augmentations": ["scale"]}, where="cfg.toml")
    with pytest.raises(ConfigFileError, match=r"seed must be in \[0, 4294967295\], got -1"):
        config_from_dict(StudyConfig, {"seed": -1}, where="cfg.toml")
    with pytest.raises(ConfigFileError, match="channels must be 1 .* or 3"):
        config_from_dict(StudyConfig, {"channels": 2}, where="cfg.toml")


def test_unreadable_files_are_named(tmp_path):
    broken = _write(tmp_path, "[image_mask\nmax_steps = 3\n")
    with pytest.raises(ConfigFileError, match=r"cfg\.toml is not valid TOML \(.*line 1"):
        read_settings_file(broken)
    with pytest.raises(ConfigFileError, match="no such file"):
        read_settings_file(tmp_path / "missing.toml")
    with pytest.raises(ConfigFileError, match=r"settings files are \.toml"):
        read_settings_file(_write(tmp_path, "a: 1", "cfg.yaml"))
    with pytest.raises(ConfigFileError, match="holds a list, not a table"):
        read_settings_file(_write(tmp_path, "[1, 2]", "cfg.json"))


# --- which options the user typed ---------------------------------------------------------------


def test_the_parser_records_the_options_typed_and_keeps_every_default():
    args = build_parser().parse_args(["profile", "--model", "m.pt", "--data", "builtin", "--out", "o", "--steps", "10"])
    assert {"models", "data", "out", "steps"} == set(args.typed)
    assert (args.steps, args.seed, args.device, args.per_class, args.force) == (10, 0, "auto", 20, False)
    assert not hasattr(build_parser().parse_args(["info", "x"]), "typed")  # commands without --config: as before


# --- study --------------------------------------------------------------------------------------


def test_the_example_file_is_a_valid_study():
    """docs/examples/study.toml stays valid: its keys over the quick preset."""
    config = _study("--config", str(EXAMPLE))
    quick = StudyConfig.quick()
    assert (config.dataset, config.image_size, config.augmentations) == ("builtin:shapes", 16, ("none", "adversarial"))
    assert config.train == quick.train.replace(epochs=2, batch_size=16, max_lr=5e-3, crop_scale=(1.0, 1.0)).replace(
        pgd=AttackConfig(steps=2, alpha=quick.train.pgd.alpha)
    )
    assert config.image_mask == quick.image_mask.replace(max_steps=40, check_every=10)
    assert config.set_mask.patience == quick.set_mask.patience  # not in the file: the preset's


def test_the_full_example_of_the_docs_is_the_standard_preset(tmp_path):
    """docs/config-files.md's full example lists every key at the standard preset's value."""
    text = (EXAMPLE.parent.parent / "config-files.md").read_text(encoding="utf-8")
    example = text.split("### A full example", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    assert read_study_file(_write(tmp_path, example)).config == StudyConfig.standard()
    tables = {"": StudyConfig, "[train]": TrainConfig, "[train.pgd]": AttackConfig, "[set_mask]": SetMaskConfig}
    tables |= {"[image_mask]": ImageMaskConfig, "[attack]": AttackConfig}
    not_listed = {"": {"train", "set_mask", "image_mask", "attack"}, "[train]": {"pgd", *SET_PER_MODEL}}
    for table, cls in tables.items():
        listed = (example.split(f"{table}\n", 1)[1] if table else example).split("\n[", 1)[0]
        keys = {line.split(" =")[0] for line in listed.splitlines()}
        assert {f.name for f in dataclasses.fields(cls)} - keys == not_listed.get(table, set()), table


def test_training_settings_the_study_sets_per_model_are_refused(tmp_path):
    with pytest.raises(ConfigFileError, match="train.arch is set by the study for each model from arch; set arch"):
        read_study_file(_write(tmp_path, '[train]\narch = "resnet18"\n'))


def test_typed_options_override_the_file_and_untyped_ones_do_not(tmp_path):
    cfg = _write(tmp_path, 'dataset = "builtin"\nseed = 5\nimage_size = 24\n[train]\nepochs = 4\nmax_lr = 0.01\n')
    config = _study("--config", cfg)
    assert (config.seed, config.image_size, config.train.epochs, config.train.max_lr) == (5, 24, 4, 0.01)
    config = _study("--config", cfg, "--seed", "0", "--epochs", "1", "--size", "16", "--data", "builtin:planted")
    assert (config.seed, config.image_size, config.train.epochs, config.train.max_lr) == (0, 16, 1, 0.01)
    assert config.dataset == "builtin:planted"
    assert _study("--config", cfg).images_per_class == StudyConfig.standard().images_per_class  # default preset
    assert _study("--config", cfg, "--preset", "quick").images_per_class == StudyConfig.quick().images_per_class
    quick = _write(tmp_path, 'preset = "quick"\ndataset = "builtin"\n', "quick.toml")
    assert _study("--config", quick) == StudyConfig.quick(dataset="builtin")
    assert _study("--config", quick, "--preset", "paper").arch == "vgg11_bn"  # the typed preset wins


def test_data_is_needed_from_the_command_line_or_the_file(tmp_path, capsys):
    no_data = _write(tmp_path, "seed = 1\n")
    assert main(["study", "--config", no_data, "--out", str(tmp_path / "run")]) == 2
    assert "the study needs data: give --data" in _error(capsys)
    assert main(["study", "--out", str(tmp_path / "run")]) == 2
    assert "or a --config file that sets dataset" in _error(capsys)
    assert _study("--config", no_data, "--data", "builtin").dataset == "builtin"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[image_mask]\nmax_stepz = 20\n", "cfg.toml: unknown key image_mask.max_stepz (did you mean"),
        ('[train]\nepochs = "10"\n', 'cfg.toml: train.epochs should be a whole number, not a string ("10")'),
        ('preset = "full"\n', "cfg.toml: preset should be one of standard, quick, paper, not 'full'"),
        ("[set_mask]\nlam = -1\n", "cfg.toml: set_mask: λ (lam) must be ≥ 0"),
        ("dataset = \n", "cfg.toml is not valid TOML"),
    ],
)
def test_study_refuses_a_bad_file_on_one_line(tmp_path, capsys, text, expected):
    cfg = _write(tmp_path, text)
    assert main(["study", "--config", cfg, "--data", "builtin", "--out", str(tmp_path / "run")]) == 2
    assert expected in _error(capsys)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_given_models_in_a_file_name_their_augmentations(tmp_path, capsys):
    cfg = _write(tmp_path, 'dataset = "builtin"\ngiven_models = [["A", "a.pt"], ["N", "n.pt"]]\n')
    config = _study("--config", cfg)
    assert config.given_models == (("N", "n.pt"), ("A", "a.pt")) and config.augmentations == ("none", "adversarial")
    assert main(["study", "--config", cfg, "--epochs", "3", "--out", str(tmp_path / "run")]) == 2
    assert "--epochs applies to models the study trains; with " in _error(capsys)
    lacking = _write(tmp_path, 'dataset = "builtin"\ngiven_models = [["A", "a.pt"]]\n', "lacking.toml")
    assert main(["study", "--config", lacking, "--out", str(tmp_path / "run")]) == 2
    assert "lacking.toml: given_models: the study compares every model with the vanilla one" in _error(capsys)


def test_a_run_json_that_is_not_a_study_or_with_a_preset_is_refused(tmp_path, capsys):
    store = ResultsStore(tmp_path / "trained")  # a run that `train` or `masks` made: no study settings
    assert main(["study", "--config", str(store.root / "run.json"), "--out", str(tmp_path / "new")]) == 2
    assert "records no study settings" in _error(capsys)
    store.update_manifest(study=StudyConfig.quick(dataset="builtin").to_dict())
    assert read_study_file(store.root).config == StudyConfig.quick(dataset="builtin")  # the folder works too
    assert main(["study", "--config", str(store.root), "--preset", "quick", "--out", str(tmp_path / "new")]) == 2
    assert "a preset does not apply to it" in _error(capsys)
    recorded = json.loads((store.root / "run.json").read_text())
    recorded["study"]["image_mask"]["max_stepz"] = 3  # a setting this version does not know
    (store.root / "run.json").write_text(json.dumps(recorded))
    assert main(["study", "--config", str(store.root / "run.json"), "--out", str(tmp_path / "new")]) == 2
    assert "unknown key study.image_mask.max_stepz" in _error(capsys)


def test_a_replayed_run_takes_its_own_copy_of_a_given_model_that_is_not_here(tmp_path):
    store = ResultsStore(tmp_path / "colleague")
    settings = StudyConfig(dataset="builtin", given_models=(("N", "/elsewhere/n.pt"),), augmentations=("none",))
    store.update_manifest(study=settings.to_dict())
    (store.root / "models").mkdir(exist_ok=True)
    (store.root / "models" / "N.safetensors").write_bytes(b"")
    replay = read_study_file(store.root / "run.json")
    assert replay.config.given_models == (("N", str(store.root / "models" / "N.safetensors")),)
    assert replay.notes and "/elsewhere/n.pt is not here" in replay.notes[0]


# --- profile ------------------------------------------------------------------------------------


def _profile(*argv):
    return profile_settings(
        build_parser().parse_args(["profile", "--model", "m.pt", "--data", "builtin", "--out", "o", *argv])
    )


def test_profile_reads_its_file_and_typed_options_win(tmp_path):
    assert _profile() == ProfileConfig()  # no file: as before
    cfg = _write(
        tmp_path,
        'heat_map_eps = 2.0\nseverities = [1, 3]\ncorruptions = ["gaussian_noise"]\nseed = 7\n'
        "[attack]\nsteps = 3\n[set_mask]\nmax_epochs = 4\nlam = 0.5\n",
    )
    config = _profile("--config", cfg)
    assert (config.heat_map_eps, config.severities, config.corruptions, config.seed) == (
        2.0,
        (1, 3),
        ("gaussian_noise",),
        7,
    )
    assert config.attack == AttackConfig(steps=3) and config.set_mask == SetMaskConfig(max_epochs=4, lam=0.5)
    config = _profile("--config", cfg, "--steps", "10", "--mask-epochs", "9", "--seed", "0", "--severities", "5")
    assert config.attack == AttackConfig(steps=10) and config.set_mask == SetMaskConfig(max_epochs=9, lam=0.5)
    assert (config.seed, config.severities, config.heat_map_eps) == (0, (5,), 2.0)


def test_profile_refuses_unknown_keys_and_bad_values(tmp_path, capsys):
    for text, expected in (
        ("[attack]\nepz = 0.1\n", "unknown key attack.epz (did you mean attack.eps?); known keys of attack: eps,"),
        ("severities = [7]\n", "cfg.toml: severities must be some of 1–5, got [7]"),
        ("radii = 0.5\n", "cfg.toml: radii should be a list of numbers, not a number (0.5)"),
    ):
        cfg = _write(tmp_path, text)
        code = main(["profile", "--model", "m.pt", "--data", "builtin", "--config", cfg, "--out", str(tmp_path / "r")])
        assert code == 2
        assert expected in _error(capsys)


# --- masks --------------------------------------------------------------------------------------


def _masks(kind, *argv):
    args = build_parser().parse_args(["masks", kind, "--model", "m.pt", "--data", "builtin", "--out", "o", *argv])
    return args, masks_file(args)


def test_set_masks_read_the_set_mask_table(tmp_path):
    args, settings = _masks("set")
    assert _set_mask_config(args, settings) == SetMaskConfig()  # no file: the published settings, as before
    cfg = _write(
        tmp_path, "[set_mask]\nlam = 0.3\npatience = 2\nseed = 4\nper_channel = true\n[image_mask]\nlam = 0.9\n"
    )
    args, settings = _masks("class", "--config", cfg)
    assert _set_mask_config(args, settings) == SetMaskConfig(lam=0.3, patience=2, seed=4, per_channel=True)
    assert args.seed == 4  # the data are drawn with the settings' seed
    args, settings = _masks("set", "--config", cfg, "--lam", "0.2", "--seed", "0", "--max-epochs", "3")
    assert _set_mask_config(args, settings) == SetMaskConfig(
        lam=0.2, patience=2, seed=0, per_channel=True, max_epochs=3
    )


def test_image_masks_read_the_image_mask_table_over_the_chosen_preset(tmp_path):
    model = SimpleNamespace(info=SimpleNamespace(image_size=32))
    cfg = _write(tmp_path, "[image_mask]\nmax_steps = 50\npatience = 10\n")
    args, settings = _masks("image", "--config", cfg)
    assert _image_mask_config(args, model, settings) == ImageMaskConfig(max_steps=50, patience=10)
    args, settings = _masks("image", "--config", cfg, "--max-steps", "30")
    assert _image_mask_config(args, model, settings) == ImageMaskConfig(max_steps=30, patience=10)
    args, settings = _masks("image", "--config", cfg, "--rule", "fast")
    assert _image_mask_config(args, model, settings) == ImageMaskConfig.fast().replace(max_steps=50, patience=10)
    args, settings = _masks("image", "--rule", "fast", "--max-steps", "600")  # no file: exactly as before
    assert _image_mask_config(args, model, settings) == ImageMaskConfig.fast(max_steps=600)
    args, settings = _masks("image", "--objective", "basile", "--max-steps", "300")
    assert _image_mask_config(args, model, settings) == ImageMaskConfig.basile(32).replace(max_steps=300, min_steps=300)


def test_masks_refuse_unknown_tables_and_keys(tmp_path, capsys):
    for text, expected in (
        ("[image_masks]\nlam = 1\n", "cfg.toml: unknown key image_masks; known keys: set_mask, image_mask, attack"),
        ("lam = 1\n", "cfg.toml: unknown key lam; known keys: set_mask, image_mask, attack"),
        ("image_mask = 1\n", "cfg.toml: image_mask should be a table ([image_mask]), not a single value"),
    ):
        with pytest.raises(ConfigError) as caught:
            _masks("image", "--config", _write(tmp_path, text))
        assert expected in str(caught.value)
    cfg = _write(tmp_path, "[image_mask]\nmax_stepz = 1\n")
    model = SimpleNamespace(info=SimpleNamespace(image_size=32))
    args, settings = _masks("image", "--config", cfg)
    with pytest.raises(ConfigError, match="unknown key image_mask.max_stepz"):
        _image_mask_config(args, model, settings)


@pytest.mark.slow
def test_masks_image_learns_with_the_file_settings(tmp_path, trained_shapes_model, capsys):
    from fourier_masks.core.models.checkpoints import save_checkpoint

    checkpoint = save_checkpoint(trained_shapes_model, tmp_path / "shapes16.pt")
    cfg = _write(tmp_path, "[image_mask]\nmax_steps = 7\ncheck_every = 7\n")
    data = ["--data", "builtin", "--size", "16", "--train-per-class", "4", "--val-per-class", "2"]
    run = tmp_path / "run"
    assert (
        main(["masks", "image", "--model", str(checkpoint), *data, "--config", cfg, "--out", str(run), "--quiet"]) == 0
    )
    assert "median 7 steps" in capsys.readouterr().out


# --- replay: a colleague's run.json gives the same tables ---------------------------------------------

TINY = """
preset = "quick"
dataset = "builtin"
image_size = 16
train_per_class = 20
val_per_class = 6
augmentations = ["none", "adversarial"]
images_per_class = 2
stability_seeds = [1]
bands = 4
examples = 2
seed = 3
[train]
epochs = 1
batch_size = 16
[train.pgd]
steps = 1
[set_mask]
batch_size = 12
max_epochs = 1
[image_mask]
max_steps = 10
check_every = 5
[attack]
steps = 1
"""

# Columns that are wall-clock times: they differ between any two runs of the same study.
TIME_COLUMNS = {"time [s]"}


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    keep = [i for i, name in enumerate(rows[0]) if name not in TIME_COLUMNS]
    return [[row[i] for i in keep] for row in rows]


@pytest.mark.slow
def test_a_study_rerun_from_a_colleagues_run_json_gives_identical_tables(tmp_path, capsys, monkeypatch):
    """The tables are compared; the figures (drawn from the same tables and masks) are not made,
    as drawing them takes most of a tiny study's time."""
    monkeypatch.setattr("fourier_masks.core.study.report.write_figures", lambda *args, **kwargs: [])
    colleague, mine = tmp_path / "colleague", tmp_path / "mine"
    cfg = _write(tmp_path, TINY)
    assert main(["study", "--config", cfg, "--out", str(colleague), "--device", "cpu", "--quiet"]) == 0
    assert (
        main(["study", "--config", str(colleague / "run.json"), "--out", str(mine), "--device", "cpu", "--quiet"]) == 0
    )
    capsys.readouterr()
    theirs = json.loads((colleague / "run.json").read_text())["study"]
    assert json.loads((mine / "run.json").read_text())["study"] == theirs
    assert theirs["seed"] == 3 and theirs["train"]["epochs"] == 1  # the file's settings, not a preset's
    tables = sorted(p.name for p in (colleague / "tables").glob("*.csv"))
    assert "table1.csv" in tables and "table2.csv" in tables and "training-N.csv" in tables
    assert tables == sorted(p.name for p in (mine / "tables").glob("*.csv"))
    for name in tables:
        a, b = colleague / "tables" / name, mine / "tables" / name
        if TIME_COLUMNS & set(a.read_text(encoding="utf-8").splitlines()[0].split(",")):
            assert _rows(a) == _rows(b), name  # row for row, without the times (training-*.csv)
        else:
            assert a.read_bytes() == b.read_bytes(), name
