"""Everything about the package is in pyproject.toml; this only adds the app's files that live
outside the Python packages (templates/, the built canvas in static/, examples/, the Procfile)
to the wheel, as the package ``flowbuilder_assets`` (orchestrator/assets.py finds them).

Build the canvas first (static/app/ is built, not committed):

    (cd frontend && npm ci && npm run build) && pip wheel --no-deps -w dist .
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ASSETS = ("templates", "static", "examples")
FILES = ("Procfile",)
CANVAS = HERE / "static" / "app" / "index.html"


class BuildWithAssets(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install runs from the checkout, which has them
        if not CANVAS.is_file():
            raise SystemExit(
                "error: the canvas is not built (static/app/index.html is missing): run "
                "`cd frontend && npm ci && npm run build` first"
            )
        target = Path(self.build_lib) / "flowbuilder_assets"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        (target / "__init__.py").write_text(
            '"""The app\'s templates, built canvas, example flows and Procfile (see setup.py)."""\n'
        )
        for name in ASSETS:
            shutil.copytree(HERE / name, target / name, ignore=shutil.ignore_patterns(".*"))
        for name in FILES:
            shutil.copy2(HERE / name, target / name)


setup(cmdclass={"build_py": BuildWithAssets})
