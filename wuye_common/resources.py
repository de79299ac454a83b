"""Package data (notebooks, Typst templates, questionnaires, round templates, fonts) as
files on disk, found through :mod:`importlib.resources` so that an installed wheel finds
what it ships, wherever pip put it.

An installed package is a folder, so its resources already are files; a package imported
from a zip archive has its resources extracted once into a temporary folder kept until the
process exits (Typst, papermill and kernels need real paths).
"""

from __future__ import annotations

import atexit
import contextlib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from wuye_common.errors import Problem, WuyeError

_EXTRACTED = contextlib.ExitStack()
atexit.register(_EXTRACTED.close)


def package_file(resource: Traversable) -> Path:
    """``resource`` (from ``importlib.resources.files(...) / ...``) as a path on disk."""
    if isinstance(resource, Path):
        return resource
    return _EXTRACTED.enter_context(resources.as_file(resource))


def package_dir(package: str, *parts: str) -> Path:
    """The folder ``parts`` inside ``package`` (the package itself without ``parts``), as a
    path on disk; a located error names the missing package when it is not installed."""
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        raise WuyeError(
            Problem(
                f"缺少软件包 {package}",
                f"在项目环境中运行 pip install {package.replace('_', '-')}",
            )
        ) from exc
    target = root.joinpath(*parts) if parts else root
    return package_file(target)
