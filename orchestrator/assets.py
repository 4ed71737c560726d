"""Where the app's files outside the Python packages are: templates/, static/ (the built canvas),
examples/ and the Procfile. In a checkout they sit beside the packages; an installed wheel
carries them as the package ``flowbuilder_assets`` (setup.py puts them there)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def assets_dir() -> Path:
    if (CHECKOUT / "templates").is_dir():
        return CHECKOUT
    spec = importlib.util.find_spec("flowbuilder_assets")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return CHECKOUT  # neither: pages say the canvas is missing, as in an unbuilt checkout
