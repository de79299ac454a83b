"""The package installs as a package: a wheel built from the repository, installed into a
fresh virtual environment, runs ``wuye-eval demo`` in an empty folder with every report
item written (an empty ``failures`` list in both rounds' manifests).

The fresh environment gets the wheel alone (``--no-deps``); its dependencies come from the
test's own environment through a ``.pth`` line naming that environment's site-packages
(what ``--system-site-packages`` does for a base interpreter), and ``JUPYTER_PATH`` names its
Jupyter data (nbconvert's templates), as pip would have installed them beside the package.
Nothing of the repository is on the path: the notebooks, Typst templates, questionnaires and
fonts must come from the installed wheel.

The build, the install and the demo run in the background (``wheel_job`` in ``conftest.py``,
started when the session begins, after the shared demo run), beside the other tests; the
test waits for them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DATA = (
    "evaluation/report/notebooks/district_report.ipynb",
    "evaluation/report/notebooks/estate_report.ipynb",
    "evaluation/report/templates/district.typ",
    "evaluation/report/templates/card.typ",
    "evaluation/questionnaire/default.toml",
    "evaluation/round_template/round.toml",
)


RUNNING: list[subprocess.Popen] = []
"""The background build's current subprocess (killed if the session ends first)."""


def _run(
    cmd: list[str], timeout: float | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    with subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    ) as proc:
        RUNNING[:] = [proc]
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    done = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_wheel_installs_and_runs_the_demo(wheel_job) -> None:
    wheel_job.wait()


def wheel_and_demo(tmp_path: Path) -> None:
    """Build the wheel, install it into a fresh virtual environment, run its demo and check
    what it wrote (the body of the test, run in the background)."""
    dist = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        timeout=600,
    )
    wheel = next(dist.glob("wuye_eval-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert set(PACKAGE_DATA) <= names
    assert not any(n.startswith(("tests/", "notebooks/", "benchmarks/")) for n in names)

    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    deps = Path(sysconfig.get_paths()["purelib"])
    (site / "_wuye_test_dependencies.pth").write_text(f"{deps}\n", encoding="utf-8")
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        timeout=300,
    )  # fmt: skip

    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    where = _run(
        [str(python), "-c", "import evaluation, sys; print(evaluation.__file__)"],
        cwd=work,
        env=env,
    ).stdout.strip()
    assert Path(where).is_relative_to(site), where  # the wheel's package, not the repository
    script = python.parent / ("wuye-eval.exe" if os.name == "nt" else "wuye-eval")
    done = _run([str(script), "demo", "--estates", "5"], cwd=work, env=env, timeout=900)
    assert "示例运行完成" in done.stdout
    manifests = sorted((work / "reports").glob("*/manifest.json"))
    assert len(manifests) == 2
    for path in manifests:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        assert manifest["failures"] == [], manifest["failures"]
        kinds = {f["kind"] for f in manifest["files"]}
        assert {"notebook", "html", "pdf"} <= kinds, kinds
