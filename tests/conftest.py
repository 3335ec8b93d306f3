"""Shared fixtures: small random networks for fast unit tests, real files in temporary folders."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from netviz.models import Classifier

# No test downloads anything: missing pretrained weights fail at once, in this process and in the
# `python run.py` subprocesses that inherit the environment.
os.environ["NETVIZ_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parent.parent
COURSE_NPZ = ROOT.parent / "shared" / "data" / "imagenet_val_25.npz"


def tiny_net(num_classes: int = 10, final_relu: bool = False) -> nn.Module:
    """A small CNN with batch norm, dropout and in-place ReLUs (the cases a frozen model must handle).

    With ``final_relu`` its head is SqueezeNet's: conv -> ReLU -> global average pool.
    """
    layers: list[nn.Module] = [
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Dropout(0.5),
    ]
    if final_relu:
        layers += [nn.Conv2d(8, num_classes, 1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    else:
        layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(8 * 16, num_classes)]
    net = nn.Sequential(*layers)
    with torch.no_grad():  # non-trivial running statistics, so train/eval mode would differ
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    return net


def tiny_classifier(num_classes: int = 10, final_relu: bool = False, score: str = "logits", seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    return Classifier(
        tiny_net(num_classes, final_relu),
        name="tiny",
        categories=[f"class{i}" for i in range(num_classes)],
        mean=(0.5, 0.4, 0.3),
        std=(0.2, 0.25, 0.3),
        input_size=16,
        score=score,
    )


@pytest.fixture
def classifier() -> Classifier:
    return tiny_classifier()


@pytest.fixture
def pixels() -> torch.Tensor:
    return torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def npz_file(tmp_path) -> Path:
    """A small file in the course's format, with a pickled label_map that must never be loaded."""
    rng = np.random.default_rng(0)
    path = tmp_path / "images.npz"
    np.savez(
        path,
        X=rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8),
        y=np.array([1, 2, 3, 4, 5]),
        label_map=np.array([{"would": "unpickle"}], dtype=object),
    )
    return path


@pytest.fixture
def tracking_uri(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def run_cli(*args: str, cwd: Path = ROOT, timeout: int = 600):
    """``python run.py <args>`` in a subprocess, as a user would type it."""
    import subprocess

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def one_line_error(done) -> str:
    """Check that a finished ``run_cli`` failed as bad input should: exit 2, one ``netviz: error:`` line,
    no traceback. Returns that line."""
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = [line for line in done.stderr.splitlines() if line.startswith("netviz: error:")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return lines[0]


def runs_of(uri: str, experiment: str):
    """``(client, runs)`` of an experiment in the store at ``uri`` (no runs if it does not exist)."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    return client, ([] if found is None else client.search_runs([found.experiment_id]))


# ----- servers on loopback ports, bounded in time and always stopped ------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def server(command: list[str], ready, timeout: float = 120.0):
    """Start a server process, wait until ``ready()``, and always stop it (and its children)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, text=True)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                raise AssertionError(f"server exited: {process.stderr.read()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("server did not start in time")
            time.sleep(0.5)
        yield process
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)


def answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def mlflow_server(folder: Path):
    """A real ``mlflow server`` on a free loopback port with its store and artifacts in ``folder``;
    yields its tracking URI."""
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{folder / 'server.db'}", "--artifacts-destination", str(folder / "artifacts"),
    ]
    uri = f"http://127.0.0.1:{port}"
    with server(command, lambda: answers(f"{uri}/health")):
        yield uri
