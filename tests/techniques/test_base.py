"""The shared loop: per-sample stopping, masking, frozen network, history, on a tiny network."""

import pytest
import torch

from netviz.techniques.base import InputOptimizer, optimize
from tests.conftest import tiny_classifier


class Ascent(InputOptimizer):
    """Plain gradient ascent on the target score that stops a sample once it is predicted as its target."""

    def __init__(self, *args, lr=0.5, **kwargs):
        super().__init__(*args, **kwargs)
        self.lr = lr

    def objective(self, x, logits, scores, step):
        return scores.gather(1, self.targets[:, None]).squeeze(1)

    def update(self, x, grad, step):
        return x + self.lr * grad

    def finished(self, logits, step):
        return logits.argmax(1) == self.targets


def test_loop_matches_a_plain_pytorch_loop_and_stops_each_sample_on_its_own(pixels):
    model = tiny_classifier()
    targets = torch.tensor([0, 1, 2, 3])
    module = optimize(Ascent(model, pixels, targets, iterations=25), accelerator="cpu", progress=False)

    # Oracle: the same ascent written as a plain loop, one sample at a time.
    for i in range(len(targets)):
        x = model.normalize(pixels[i : i + 1]).clone()
        steps = 0
        for _ in range(25):
            x.requires_grad_(True)
            logits = model(x)
            if logits.argmax(1).item() == targets[i]:
                break
            (grad,) = torch.autograd.grad(logits[0, targets[i]], x)
            x = (x + 0.5 * grad).detach()
            steps += 1
        x = x.detach()
        assert module.steps_taken[i].item() == steps
        torch.testing.assert_close(module.x[i : i + 1], x, rtol=1e-4, atol=1e-5)


def test_network_gets_no_gradients_and_stays_in_eval_mode(pixels):
    model = tiny_classifier()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    module = optimize(Ascent(model, pixels, torch.tensor([0, 1, 2, 3]), iterations=3), accelerator="cpu", progress=False)
    assert not module.classifier.training and not any(m.training for m in module.classifier.modules())
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())
    for key, value in model.state_dict().items():  # BN running stats untouched
        torch.testing.assert_close(value, before[key])
    model.train()
    assert not model.training


def test_history_is_recorded_every_log_every_steps_and_at_the_last(pixels):
    module = Ascent(tiny_classifier(), pixels, torch.tensor([9, 9, 9, 9]), iterations=7, log_every=3, lr=1e-6)
    optimize(module, accelerator="cpu", progress=False)
    assert [step for step, _ in module.history["objective"]] == [0, 3, 6]
    assert all(values.shape == (4,) for _, values in module.history["objective"])


def test_all_samples_done_stops_the_loop_early(pixels):
    model = tiny_classifier()
    with torch.no_grad():
        predicted = model(model.normalize(pixels)).argmax(1)
    module = optimize(Ascent(model, pixels, predicted, iterations=50), accelerator="cpu", progress=False)
    assert module.steps_taken.tolist() == [0, 0, 0, 0]
    torch.testing.assert_close(module.x, model.normalize(pixels))


class RecordsTeardown(Ascent):
    """Notes whether the final evaluation was done when Lightning moves the module to the CPU."""

    def cpu(self):
        self.evaluated_before_teardown = self.final_logits is not None
        return super().cpu()


def test_final_evaluation_runs_before_lightning_moves_the_module_to_the_cpu(pixels):
    # On a GPU, Lightning's teardown moves the module to the CPU before `on_fit_end`: the final
    # evaluation must come earlier, on the loop's device, and `optimize` moves the module back there.
    module = optimize(RecordsTeardown(tiny_classifier(), pixels, torch.tensor([0, 1, 2, 3]), iterations=2), accelerator="cpu", progress=False)
    assert module.evaluated_before_teardown
    with torch.no_grad():
        torch.testing.assert_close(module.final_logits, module.classifier(module.x))


def test_more_than_one_device_is_refused_in_one_line(pixels):
    from netviz.errors import NetvizError

    module = Ascent(tiny_classifier(), pixels, torch.tensor([0, 1, 2, 3]), iterations=1)
    with pytest.raises(NetvizError, match="trainer.devices=2: a job runs on one device"):
        optimize(module, accelerator="cpu", devices=2)
