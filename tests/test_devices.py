"""Which device a job's loop gets (``netviz.job.job_device``): one GPU per job of a sweep, never all on GPU 0.

No GPU runs here, so the machine's GPU count is set by hand (``torch.cuda.device_count``); the job's
config and its Hydra context are real compositions (a multirun job's ``hydra.job.num``).
"""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from netviz.config import CONF_DIR, register_configs
from netviz.errors import NetvizError
from netviz.job import job_device


@pytest.fixture
def gpus(monkeypatch):
    """Pretend this machine has ``n`` GPUs."""

    def have(n: int) -> None:
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)

    return have


@pytest.fixture
def hydra_context():
    """Compose ``overrides`` as Hydra does for job ``number`` of a multirun (``None``: a single run)
    and make it the current Hydra context; returns the job's config."""

    def job(number: int | None, *overrides: str):
        register_configs()
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=["trainer.accelerator=gpu", *overrides], return_hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.mode = "RUN" if number is None else "MULTIRUN"
            cfg.hydra.job.num = 0 if number is None else number
        HydraConfig.instance().set_config(cfg)
        return cfg

    yield job
    HydraConfig.instance().cfg = None
    GlobalHydra.instance().clear()


def test_the_jobs_of_a_sweep_go_one_per_gpu_by_their_number(gpus, hydra_context):
    gpus(4)
    assert [job_device(hydra_context(number))[1] for number in range(6)] == [[0], [1], [2], [3], [0], [1]]
    assert {job_device(hydra_context(number))[0] for number in range(6)} == {"gpu"}


def test_a_job_can_name_its_gpu_and_a_gpu_that_is_not_there_is_one_line(gpus, hydra_context):
    gpus(4)
    assert job_device(hydra_context(1, "trainer.device_index=3")) == ("gpu", [3])
    with pytest.raises(NetvizError, match=r"trainer.device_index=7: this machine has GPUs 0..3"):
        job_device(hydra_context(1, "trainer.device_index=7"))


def test_a_single_run_a_one_gpu_worker_and_a_cpu_job_keep_their_devices(gpus, hydra_context):
    gpus(4)
    single = hydra_context(None)
    assert job_device(single) == ("gpu", single.trainer.devices)  # a single run: Lightning's choice
    gpus(1)  # a Ray or SLURM worker sees only the GPU its launcher gave it (CUDA_VISIBLE_DEVICES)
    worker = hydra_context(5)
    assert job_device(worker) == ("gpu", worker.trainer.devices)
    gpus(4)
    on_cpu = hydra_context(3, "trainer.accelerator=cpu")
    assert job_device(on_cpu) == ("cpu", on_cpu.trainer.devices)
