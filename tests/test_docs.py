"""The API reference (docs/conf.py) documents every public name of the engine.

Building the site takes a minute (``python -m sphinx -W --keep-going -b html docs build/docs``,
run by CI); these checks run the page generator alone, without Sphinx, in well under a second.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

import fourier_masks.core

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def conf() -> ModuleType:
    """docs/conf.py, loaded without Sphinx (it writes nothing until Sphinx calls its setup)."""
    spec = importlib.util.spec_from_file_location("fourier_masks_docs_conf", DOCS / "conf.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pages(conf: ModuleType) -> dict[str, str]:
    return conf.reference_pages()


def documented(page: str, module: str) -> set[str]:
    """The names a reference page describes in full for ``module``."""
    auto = {m[1] for m in re.finditer(rf"^\.\. auto\w+:: {re.escape(module)}\.(\w+)$", page, re.M)}
    data = set(re.findall(rf"^\.\. py:data:: (\w+)\n   :module: {re.escape(module)}$", page, re.M))
    return auto | data


def test_every_engine_layer_has_a_page(conf: ModuleType, pages: dict[str, str]) -> None:
    expected = ["attacks", "beyond", "cli", "data", "masks", "models", "runs", "spectra", "study", "training"]
    expected += ["errors", "progress", "tables", "devices", "files", "figures"]
    modules = conf.public_modules()
    for name in expected:
        assert f"fourier_masks.core.{name}" in modules
    for name in modules:
        page = name.removeprefix("fourier_masks.core.")
        assert f"{page}.rst" in pages
        assert f"\n   {page}\n" in pages["index.rst"], f"{page} is missing from the reference's table of contents"


def test_every_public_name_is_documented(conf: ModuleType, pages: dict[str, str]) -> None:
    for name in conf.public_modules():
        public = set(importlib.import_module(name).__all__)
        page = pages[name.removeprefix("fourier_masks.core.") + ".rst"]
        assert documented(page, name) == public, name


def test_the_core_page_links_every_name_to_where_it_is_documented(pages: dict[str, str]) -> None:
    page = pages["core.rst"]
    linked = dict(re.findall(r"^- :py:obj:`(\w+) <([\w.]+)>`", page, re.M))
    for name in fourier_masks.core.__all__:
        if name in linked:
            module, _, member = linked[name].rpartition(".")
            target = getattr(importlib.import_module(module), member)
            assert target is getattr(fourier_masks.core, name)
            assert ".. auto" in pages[module.removeprefix("fourier_masks.core.") + ".rst"]
        else:
            assert name in documented(page, "fourier_masks.core"), name


def test_a_constant_is_described_by_its_docstring_or_the_comment_above_it(conf: ModuleType, tmp_path: Path) -> None:
    source = tmp_path / "constants.py"
    source.write_text(
        'A = 1\n"""What A is."""\n\n# What B is,\n# over two lines.\nB: int = 2\n\n# Not about C.\n\nC = 3\n',
        encoding="utf-8",
    )
    assert conf._attribute_doc(source, "A") == "What A is."
    assert conf._attribute_doc(source, "B") == "What B is,\nover two lines."
    assert conf._attribute_doc(source, "C") is None


def test_a_package_constant_gets_the_text_of_the_module_that_defines_it(pages: dict[str, str]) -> None:
    # fourier_masks.core.masks re-exports PUBLISHED_SCHEDULE_STEPS from masks/config.py.
    entry = pages["masks.rst"].split(".. py:data:: PUBLISHED_SCHEDULE_STEPS\n", 1)[1].split("\n.. ", 1)[0]
    assert "   :module: fourier_masks.core.masks\n" in entry
    assert "single-image one-cycle schedule" in entry
