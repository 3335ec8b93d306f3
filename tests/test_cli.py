"""``python run.py`` as a user runs it: real subprocesses, real images, a real MLflow store."""

import json

import pytest
from tests.conftest import one_line_error, run_cli, runs_of

pytestmark = pytest.mark.slow


def test_saliency_job_on_real_photos_with_the_offline_model(tracking_uri, tmp_path):
    figure = tmp_path / "fig.png"
    done = run_cli("model=efficientnet_lite0", f"tracking.uri={tracking_uri}", f"figure={figure}", "trainer.accelerator=cpu")
    assert done.returncode == 0, done.stderr
    assert figure.stat().st_size > 10_000
    client, runs = runs_of(tracking_uri, "saliency")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    rows = json.loads(open(client.download_artifacts(runs[0].info.run_id, "results.json")).read())
    predicted = {row["image"]: row["predicted"] for row in rows}
    assert 281 <= predicted["tabby"] <= 285  # a domestic cat
    assert predicted["espresso"] == 967
    assert {"config.yaml", "overrides.yaml", "hydra.yaml"} <= {
        a.path.split("/")[-1] for a in client.list_artifacts(runs[0].info.run_id, "hydra")
    }


def test_saliency_concentrates_on_the_object():
    import netviz

    model = netviz.load_model("efficientnet_lite0")
    images = netviz.load_images("samples", size=model.input_size)
    result = netviz.saliency_maps(model, images, accelerator="cpu")
    for name in ("coffee", "rocket"):  # the object sits in the middle of the photo
        saliency = result.map_predicted[images.names.index(name)]
        center = saliency[56:168, 56:168]
        border_mean = (saliency.sum() - center.sum()) / (saliency.numel() - center.numel())
        assert center.mean() > 1.2 * border_mean, name


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["model=vgg61"], "did you mean"),
        (["technique=saliencey"], "unknown technique"),
        (["lr=fast"], "lr=fast is not a number"),
        (["-m", "seed=1,2", "iteration=5"], "unknown option 'iteration'"),
        (["tracking.uri=sqlite:////no/such/folder/mlflow.db"], "does not exist"),
        (["technique=featureviz", "featureviz.objective=channel(features.3:1)"], "needs Hydra's quotes"),
    ],
)
def test_bad_command_lines_fail_fast_with_one_line(args, fragment):
    assert fragment in one_line_error(run_cli(*args))


def test_bad_input_found_before_the_model_leaves_no_run(tracking_uri, tmp_path):
    done = run_cli("model=efficientnet_lite0", "data=npz", f"data.path={tmp_path / 'missing.npz'}", f"tracking.uri={tracking_uri}")
    assert "does not exist" in one_line_error(done)
    _, runs = runs_of(tracking_uri, "saliency")
    assert runs == []  # a typo costs no model load and leaves no FAILED run behind


def test_bad_input_found_mid_job_marks_the_run_failed_with_the_reason(tracking_uri):
    # A class name can only be checked against the model's classes, after it loads.
    done = run_cli("technique=classviz", "target=notaclass", "model=squeezenet1_1", "model.weights=null", f"tracking.uri={tracking_uri}")
    assert "unknown class 'notaclass'" in one_line_error(done)
    _, runs = runs_of(tracking_uri, "classviz")
    assert [r.info.status for r in runs] == ["FAILED"]
    assert "notaclass" in runs[0].data.tags["netviz.failure"]


def test_missing_pretrained_weights_say_which_file_to_put_where(tracking_uri, tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch")}
    done = subprocess.run(
        [sys.executable, "run.py", "model=squeezenet1_1", f"tracking.uri={tracking_uri}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    line = one_line_error(done)
    assert "squeezenet1_1-b8a52dc0.pth" in line and str(tmp_path / "torch") in line
    _, runs = runs_of(tracking_uri, "saliency")
    assert [r.info.status for r in runs] == ["FAILED"]


def test_debug_shows_the_traceback(tmp_path):
    done = run_cli("model=efficientnet_lite0", "data=npz", f"data.path={tmp_path / 'x.npz'}", "tracking=none", "debug=true")
    assert done.returncode != 0 and "Traceback" in done.stderr + done.stdout


def test_list_models():
    done = run_cli("--list-models")
    names = done.stdout.split()
    assert done.returncode == 0 and {"squeezenet1_1", "vgg16", "efficientnet_lite0"} <= set(names)


def test_list_layers_names_each_layer_with_its_output_shape():
    done = run_cli("--list-layers", "model=squeezenet1_1")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("squeezenet1_1:")
    import torch
    import torchvision

    net, seen = torchvision.models.squeezenet1_1(weights=None), {}  # the oracle: torchvision's own network, hooked

    def record(name):
        def hook(_module, _inputs, output):
            seen[name] = tuple(output.shape[1:])

        return hook

    for name in ("features.3", "features.12"):
        net.get_submodule(name).register_forward_hook(record(name))
    net(torch.zeros(1, 3, 224, 224))
    for name, shape in seen.items():
        assert any(line.split()[0] == name and line.endswith(str(shape)) for line in lines), (name, shape)


def test_a_command_ends_without_the_final_collection_but_runs_every_exit_handler(tmp_path):
    # A process that calls skip_final_collection() first, as run_hydra does: an exit handler
    # registered after it still runs (and before it), and garbage left in a reference cycle is not
    # collected at exit (its finalizer never prints), where a plain process collects it.
    program = """
import atexit, sys
from pathlib import Path
if sys.argv[1] == "skip":
    from netviz.collector import skip_final_collection
    skip_final_collection()
atexit.register(lambda: Path(sys.argv[2]).write_text("handler ran"))
class Cycle:
    def __del__(self):
        print("collected", flush=True)
a, b = Cycle(), Cycle()
a.other, b.other = b, a
del a, b
"""
    import subprocess
    import sys

    outputs = {}
    for mode in ("skip", "plain"):
        marker = tmp_path / f"{mode}.txt"
        done = subprocess.run([sys.executable, "-c", program, mode, str(marker)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert marker.read_text() == "handler ran"
        outputs[mode] = done.stdout
    assert "collected" not in outputs["skip"] and "collected" in outputs["plain"]


def test_a_commands_start_up_runs_without_the_collector_and_its_loop_with_it(tmp_path):
    # Every collection the command makes after it starts comes once start-up is frozen (the model
    # loaded, netviz.collector), and the job's loop still collects; a plain process that only
    # imports netviz and resumes (netviz.run in someone else's) has its collector left as it was.
    import subprocess
    import sys

    program = """
import atexit, gc, sys
from netviz.cli import run_hydra
seen = []
gc.callbacks.append(lambda phase, info: phase == "start" and seen.append(gc.get_freeze_count() > 0))
atexit.register(lambda: print("collections", seen.count(False), seen.count(True)))
run_hydra(sys.argv[1:])
"""
    job = ["technique=classviz", "model=squeezenet1_1", "model.weights=null", "iterations=20", "tracking=none",
           "trainer.accelerator=cpu", "trainer.progress=false", f"hydra.run.dir={tmp_path / 'run'}"]
    done = subprocess.run([sys.executable, "-c", program, *job], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    before, after = map(int, done.stdout.split()[-2:])
    assert before == 0 and after > 0, done.stdout
    untouched = "import gc; from netviz import collector; collector.resume(); print(gc.isenabled(), gc.get_freeze_count())"
    done = subprocess.run([sys.executable, "-c", untouched], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["True", "0"], done.stderr
