"""A non-editable install runs jobs: the configs ship inside the package, the store is ./mlflow.db."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_a_non_editable_install_into_a_fresh_venv_runs_a_job(tmp_path):
    # A fresh venv that sees the machine's torch, MLflow, ... (installing those again takes minutes)
    # but gets its own, non-editable copy of netviz, built from a copy of the checkout.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(".git", "mlflow.db*", "mlartifacts", "outputs", "multirun", "figures", "__pycache__", "*.egg-info", "build"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    wheels = tmp_path / "wheels"
    quiet = ["--quiet", "--no-deps", "--disable-pip-version-check"]
    subprocess.run([sys.executable, "-m", "pip", "wheel", *quiet, "--no-build-isolation", "-w", str(wheels), str(source)], check=True, timeout=300)
    (wheel,) = wheels.glob("netviz-*.whl")
    subprocess.run([str(python), "-m", "pip", "install", *quiet, str(wheel)], check=True, timeout=300)
    shutil.rmtree(source)  # nothing may read the checkout any more
    work = tmp_path / "work"
    work.mkdir()
    where = subprocess.run([str(python), "-c", "import netviz; print(netviz.__file__)"], cwd=work, capture_output=True, text=True, check=True)
    assert str(venv) in where.stdout, where.stdout
    done = subprocess.run(
        [str(venv / "bin" / "netviz"), "run", "technique=saliency", "model=efficientnet_lite0", "trainer.accelerator=cpu"],
        cwd=work, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (work / "mlflow.db").is_file()  # the default store is the current folder's, like MLflow's
    from tests.conftest import runs_of

    _, runs = runs_of(f"sqlite:///{work / 'mlflow.db'}", "saliency")
    assert [r.info.status for r in runs] == ["FINISHED"]
