"""The built wheel and sdist carry the page templates (authsvc/web/templates), not only code.

Built in-process with hatchling, the project's own build backend, from the working tree.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import pytest
from hatchling.builders.sdist import SdistBuilder
from hatchling.builders.wheel import WheelBuilder

from authsvc.web.pages import PARTS, SAMPLES

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted({*SAMPLES, *PARTS})


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dist")
    wheel = next(iter(WheelBuilder(str(ROOT)).build(directory=str(out), versions=["standard"])))
    sdist = next(iter(SdistBuilder(str(ROOT)).build(directory=str(out), versions=["standard"])))
    return Path(wheel), Path(sdist)


def test_the_wheel_holds_every_template(built: tuple[Path, Path]) -> None:
    with zipfile.ZipFile(built[0]) as wheel:
        names = set(wheel.namelist())
    missing = [t for t in TEMPLATES if f"authsvc/web/templates/{t}" not in names]
    assert not missing, f"templates missing from the wheel: {missing}"
    assert "authsvc/py.typed" in names


def test_the_sdist_holds_every_template(built: tuple[Path, Path]) -> None:
    with tarfile.open(built[1]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    missing = [t for t in TEMPLATES if f"authsvc/web/templates/{t}" not in names]
    assert not missing, f"templates missing from the sdist: {missing}"
