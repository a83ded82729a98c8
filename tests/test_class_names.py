"""Class names: ImageNet's for 1000-class models without names, and names read from a file
(core, and the CLI's ``--class-names``)."""

from __future__ import annotations

import json

import pytest

from fourier_masks.core.cli import main
from fourier_masks.core.errors import ConfigError
from fourier_masks.core.models.checkpoints import inspect_checkpoint, save_checkpoint
from fourier_masks.core.models.class_names import IMAGENET_CLASSES, imagenet_categories, read_class_names
from fourier_masks.core.models.classifier import ModelInfo


def tiny_info(classes: int = 6, class_names: tuple[str, ...] | None = None) -> ModelInfo:
    names = tuple(f"c{k}" for k in range(classes)) if class_names is None else class_names
    return ModelInfo("small_cnn", 1, classes, 16, (0.5,), (0.25,), class_names=names)


def test_a_1000_class_model_without_names_is_labelled_with_the_imagenet_categories():
    pytest.importorskip("torchvision")
    info = tiny_info(IMAGENET_CLASSES, class_names=())
    labels = info.labels()
    assert len(labels) == 1000 and labels[285] == "Egyptian cat" and labels[0] == "tench"
    assert labels == imagenet_categories()


def test_recorded_names_win_and_other_class_counts_get_placeholders():
    assert tiny_info(IMAGENET_CLASSES).labels()[285] == "c285"
    assert tiny_info(10, class_names=()).labels() == tuple(f"class {k}" for k in range(10))


def test_without_imagenet_categories_a_1000_class_model_gets_placeholders(monkeypatch):
    import fourier_masks.core.models.classifier as classifier_module

    monkeypatch.setattr(classifier_module, "imagenet_categories", lambda: ())
    assert tiny_info(IMAGENET_CLASSES, class_names=()).labels()[285] == "class 285"


def test_class_names_from_lines_skip_blanks_and_comments(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\ufeff# shapes, in class order\ncircle\n\n  square  \n# a comment\ncircle\nstar #1\n")
    assert read_class_names(path, 4) == ("circle", "square", "circle", "star #1")  # repeats are fine


def test_class_names_from_json_lists_and_index_objects(tmp_path):
    listed = tmp_path / "names.json"
    listed.write_text(json.dumps(["cat", "dog", "bird"]))
    assert read_class_names(listed, 3) == ("cat", "dog", "bird")
    indexed = tmp_path / "imagenet_class_index.json"
    indexed.write_text(json.dumps({"1": ["n02", "dog"], "0": ["n01", "cat"], "2": "bird"}))
    assert read_class_names(indexed, 3) == ("cat", "dog", "bird")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a\nb\n", "holds 2 class names, but the model has 3 classes"),
        ("", "holds 0 class names"),
        ('["a", "b"', "not valid JSON"),
        ('["a", 2, "c"]', "expected a JSON list of non-empty class names"),
        ('["a", "", "c"]', "expected a JSON list of non-empty class names"),
        ('{"0": "a", "2": "b", "3": "c"}', "must run from 0 without gaps"),
        ('{"x": "a"}', "class indices as keys"),
    ],
)
def test_bad_class_name_files_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "names.txt"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        read_class_names(path, 3)


def test_unreadable_class_name_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read class names"):
        read_class_names(tmp_path / "missing.txt", 3)
    binary = tmp_path / "names.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 8)
    with pytest.raises(ConfigError, match="cannot read class names"):
        read_class_names(binary, 3)
    with pytest.raises(ConfigError, match="cannot read class names"):
        read_class_names(tmp_path, 3)


def test_model_info_refuses_names_of_the_wrong_count():
    with pytest.raises(ConfigError, match="2 class names given for 6 classes"):
        tiny_info().replace(class_names=("a", "b"))


SMALL = ["--data", "builtin", "--size", "16", "--val-per-class", "1", "--per-class", "1"]


def test_cli_class_names_reach_the_model_kept_in_the_run(tmp_path, trained_shapes_model, capsys):
    checkpoint = save_checkpoint(trained_shapes_model, tmp_path / "shapes16.pt")
    names = [f"shape number {k}" for k in range(trained_shapes_model.info.num_classes)]
    (tmp_path / "names.txt").write_text("# my names\n" + "\n".join(names) + "\n")
    run = tmp_path / "run"
    arguments = ["heat-map", "--model", str(checkpoint), *SMALL, "--out", str(run), "--quiet"]
    assert main([*arguments, "--class-names", str(tmp_path / "names.txt")]) == 0
    assert inspect_checkpoint(run / "models" / "shapes16.safetensors").info.class_names == tuple(names)
    assert inspect_checkpoint(checkpoint).info.class_names == trained_shapes_model.info.class_names  # untouched
    (tmp_path / "short.txt").write_text("one\ntwo\n")
    capsys.readouterr()
    assert main([*arguments, "--class-names", str(tmp_path / "short.txt")]) == 2
    err = capsys.readouterr().err
    assert "error: short.txt holds 2 class names, but the model has 6 classes" in err and "Traceback" not in err
    # Naming the classes of the run's own model re-saves it with the names.
    (tmp_path / "other.txt").write_text("\n".join(f"other {k}" for k in range(len(names))))
    own = ["heat-map", "--model", "shapes16", *SMALL, "--out", str(run), "--quiet", "--force"]
    assert main([*own, "--class-names", str(tmp_path / "other.txt")]) == 0
    assert inspect_checkpoint(run / "models" / "shapes16.safetensors").info.class_names[0] == "other 0"
