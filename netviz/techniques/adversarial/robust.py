"""Robust accuracy over a whole image source: an untargeted attack in mini-batches, resumable.

As torchattacks' ``Attack.save(loader)`` reports it (Kim 2020): the share of images the model still
classifies as their label after the attack leaves that label, next to its clean accuracy. Each batch's
counts go to a JSON progress file as soon as the batch is done, keyed by a hash of everything that
decides the outcome, so an interrupted run resumes where it stopped and gives the same totals.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from netviz import live
from netviz.data import ImageSet
from netviz.errors import NetvizError, check_int
from netviz.models import Classifier
from netviz.results import Result
from netviz.techniques.adversarial.make import TRAINER_KEYS, make_fooling_images
from netviz.techniques.adversarial.options import AttackOptions, attack_options
from netviz.techniques.base import Loops

log = logging.getLogger(__name__)
DATASET = "all images"  # the one "sample" of the run's curves


@dataclass
class RobustAccuracyResult(Result):
    """Clean and robust accuracy of one model under one attack over ``images`` images in ``batches`` batches.

    ``batch_counts`` holds each batch's ``{"images", "clean_correct", "robust_correct"}``.
    """

    method: str
    images: int
    clean_accuracy: float
    robust_accuracy: float
    batch_counts: list[dict] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        return {
            "images": float(self.images),
            "batches": float(len(self.batch_counts)),
            "clean_accuracy": self.clean_accuracy,
            "robust_accuracy": self.robust_accuracy,
        }

    def rows(self) -> list[dict]:
        return [{"batch": i, **counts} for i, counts in enumerate(self.batch_counts)]

    def figure(self):
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure

        figure = Figure(figsize=(4, 3))
        ax = figure.subplots()
        ax.bar(["clean", "robust"], [self.clean_accuracy, self.robust_accuracy], color=["tab:blue", "tab:red"])
        ax.set_ylim(0, 1)
        ax.set_ylabel("top-1 accuracy")
        ax.set_title(f"{self.model} under {self.method}, {self.images} images", fontsize=9)
        figure.tight_layout()
        return figure


def config_hash(classifier: Classifier, images: ImageSet, method: str, batch_size: int, options: AttackOptions) -> str:
    """A short hash of what decides a robust-accuracy run's counts (model, images, attack, batches)."""
    described = {
        "model": classifier.name, "score": classifier.score, "images": images.names, "labels": images.labels.tolist(),
        "method": method, "batch_size": batch_size, "options": dataclasses.asdict(options),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def robust_accuracy(
    classifier: Classifier,
    images: ImageSet,
    *,
    method: str = "fgsm",
    batch_size: int = 32,
    progress_file: str | os.PathLike | None = None,
    ensemble=(),
    options: AttackOptions | None = None,
    **settings,
) -> RobustAccuracyResult:
    """Attack every image (untargeted, leaving its label) in batches of ``batch_size``; resumable.

    Args:
        classifier, images: the model and the labelled images (every image needs a label).
        method: the attack (:func:`~.make.make_fooling_images`'s ``method``).
        batch_size: images per attack (``trainer.batch_size``).
        progress_file: a JSON file of per-batch counts: read (if it exists and was made with the same
            settings) to skip the batches it holds, and written after every batch. ``None``: none.
        ensemble: more models attacked with ``classifier`` (Liu et al. 2017).
        options: the attack's options already made, instead of keywords in ``settings``.
        **settings: the attack's and the trainer's options (``targeted``, ``untargeted_from`` and
            ``png_check`` are set: untargeted from the label, no PNG check).
    """
    check_int("trainer.batch_size", batch_size, minimum=1)
    loops = Loops(**{key: settings.pop(key) for key in TRAINER_KEYS if key in settings})  # one Trainer for every batch
    given = attack_options(settings) if options is None else options
    options = dataclasses.replace(given, targeted=False, untargeted_from="label", png_check=False)
    if (images.labels < 0).any():
        raise NetvizError("adversarial.report=robust_accuracy needs a label for every image (data.labels= for a folder)")
    key = config_hash(classifier, images, method, batch_size, options)
    path = None if progress_file is None else Path(progress_file)
    done = read_progress(path, key)
    starts = list(range(0, len(images), batch_size))
    for number, start in enumerate(starts):
        if str(number) not in done:
            batch = images.select(list(range(start, min(start + batch_size, len(images)))))
            result = make_fooling_images(classifier, batch, None, method=method, ensemble=ensemble, options=options, loops=loops)
            labels = batch.labels
            done[str(number)] = {
                "images": len(batch),
                "clean_correct": int((result.original_class == labels).sum()),
                "robust_correct": int((~result.valid_image_fooled).sum()),
            }
            write_progress(path, key, done)
        so_far = [done[str(n)] for n in range(number + 1)]
        seen = sum(c["images"] for c in so_far)
        robust = sum(c["robust_correct"] for c in so_far) / seen
        log.info("robust accuracy: batch %d/%d, %d images, clean %.3f, robust %.3f", number + 1, len(starts), seen,
                 sum(c["clean_correct"] for c in so_far) / seen, robust)
        live.emit_step(number, {"robust_accuracy_so_far": torch.tensor([robust])}, [DATASET])
    counts = [done[str(n)] for n in range(len(starts))]
    total = sum(c["images"] for c in counts)
    curve, seen, correct = [], 0, 0
    for number, c in enumerate(counts):
        seen, correct = seen + c["images"], correct + c["robust_correct"]
        curve.append((number, torch.tensor([correct / seen])))
    return RobustAccuracyResult(
        technique="adversarial",
        model=classifier.name,
        sample_names=[DATASET],
        history={"robust_accuracy_so_far": curve},
        method=method,
        images=total,
        clean_accuracy=sum(c["clean_correct"] for c in counts) / total,
        robust_accuracy=sum(c["robust_correct"] for c in counts) / total,
        batch_counts=counts,
    )


def read_progress(path: Path | None, key: str) -> dict:
    """The batches already counted in ``path`` (none if it does not exist); another run's file is an error."""
    if path is None or not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise NetvizError(f"cannot read the robust-accuracy progress file {path}: {error}") from None
    if saved.get("config") != key:
        raise NetvizError(f"{path} holds the progress of a run with other settings; delete it or give another adversarial.resume_from")
    return dict(saved.get("batches", {}))


def write_progress(path: Path | None, key: str, batches: dict) -> None:
    """Write the counts so far, atomically (an interruption never leaves half a file)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps({"config": key, "batches": batches}, indent=1))
    partial.replace(path)
