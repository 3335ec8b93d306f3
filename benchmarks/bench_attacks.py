"""Attacks at torchattacks' speed: the whole ``make_fooling_images`` call against torchattacks' own call.

Same process, same network and inputs (efficientnet_lite0, 8 of the course's images with their labels,
eps 8/255, step 2/255, 10 steps, untargeted from the label, 1 thread), run in alternation. netviz's
call includes what torchattacks leaves to the user: the clean and final verdicts, the 8-bit PNG round
trip (``png_check``) and the result's tensors. The "information" rows put torchattacks' call next to
the checks a user adds: one verdict pass over its images (the least, to know whether the attack
worked), or the verdicts netviz gives (the clean images, the final ones and their 8-bit PNG round trip,
through the same :func:`predict`). On a CPU netviz's loop feeds the network cache-sized chunks of 4
images (:data:`netviz.techniques.base.CPU_CHUNK_PIXELS`); the last PGD row gives torchattacks the same
chunks, so that its ratio is netviz's own overhead. The targets (<= 1.05, <= 1.3) hold torchattacks'
bare call, which makes none of these passes.
"""

from __future__ import annotations

import torch

from benchmarks.common import interleaved, report
from netviz.data import load_images
from netviz.models import load_model
from netviz.techniques.adversarial import PixelModel, make_fooling_images, png_round_trip, predict

EPS, STEP, STEPS, IMAGES = 8, 2, 10, 8
COURSE_NPZ = "../shared/data/imagenet_val_25.npz"


def main() -> None:
    import torchattacks

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = load_model("efficientnet_lite0")
        images = load_images("npz", COURSE_NPZ, indices=list(range(IMAGES)), size=model.input_size)
        pixels, labels = images.pixels, images.labels
        common = {"targeted": False, "untargeted_from": "label", "eps": EPS, "accelerator": "cpu", "progress": False}

        def netviz(method: str, **extra):
            return lambda: make_fooling_images(model, images, None, method=method, **common, **extra)

        def with_checks(attack):
            """torchattacks' call, then the clean, final and PNG verdicts in one batched pass, as netviz's."""

            def run():
                adversarial = attack(pixels, labels)
                return predict(model, torch.cat([pixels, adversarial, png_round_trip(adversarial)]))

            return run

        def in_chunks(attack, size=4):
            """``attack`` on chunks of ``size`` images, as netviz's loop feeds the network on a CPU."""
            return lambda x, y: torch.cat([attack(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)])

        pgd = torchattacks.PGD(PixelModel(model), eps=EPS / 255, alpha=STEP / 255, steps=STEPS)
        fgsm = torchattacks.FGSM(PixelModel(model), eps=EPS / 255)
        times = interleaved(
            {
                "netviz pgd": netviz("pgd", step_size=STEP, iterations=STEPS),
                "netviz pgd no png": netviz("pgd", step_size=STEP, iterations=STEPS, png_check=False),
                "torchattacks pgd": lambda: pgd(pixels, labels),
                "torchattacks pgd + verdict": lambda: predict(model, pgd(pixels, labels)),
                "torchattacks pgd + checks": with_checks(pgd),
                "torchattacks pgd in chunks + checks": with_checks(in_chunks(pgd)),
                "netviz fgsm": netviz("fgsm"),
                "torchattacks fgsm": lambda: fgsm(pixels, labels),
                "torchattacks fgsm + verdict": lambda: predict(model, fgsm(pixels, labels)),
                "torchattacks fgsm + checks": with_checks(fgsm),
            },
            rounds=5,
        )
    finally:
        torch.set_num_threads(threads)
    report(
        f"attacks vs torchattacks (efficientnet_lite0, {IMAGES} images, eps {EPS}/255, {STEPS} steps, CPU, 1 thread)",
        [
            ("pgd: whole make_fooling_images call (with PNG check) vs torchattacks.PGD", times["netviz pgd"], times["torchattacks pgd"], "<= 1.05"),
            ("pgd: the same without the PNG check (png_check=false)", times["netviz pgd no png"], times["torchattacks pgd"], "<= 1.05"),
            ("pgd: whole call vs torchattacks.PGD + one verdict pass", times["netviz pgd"], times["torchattacks pgd + verdict"], "information"),
            ("pgd: whole call vs torchattacks.PGD + clean, final, PNG verdicts", times["netviz pgd"], times["torchattacks pgd + checks"], "information"),
            ("pgd: whole call vs torchattacks.PGD on chunks of 4 images + the same verdicts", times["netviz pgd"], times["torchattacks pgd in chunks + checks"], "information"),
            ("fgsm: whole make_fooling_images call (with PNG check) vs torchattacks.FGSM", times["netviz fgsm"], times["torchattacks fgsm"], "<= 1.3"),
            ("fgsm: whole call vs torchattacks.FGSM + one verdict pass", times["netviz fgsm"], times["torchattacks fgsm + verdict"], "information"),
            ("fgsm: whole call vs torchattacks.FGSM + clean, final, PNG verdicts", times["netviz fgsm"], times["torchattacks fgsm + checks"], "information"),
        ],
    )


if __name__ == "__main__":
    main()
