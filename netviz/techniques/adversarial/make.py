"""``make_fooling_images``: plan the pairs, run one attack, judge its images once, gather the result."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from netviz.data import ImageSet
from netviz.ensemble import Ensemble
from netviz.errors import NetvizError
from netviz.models import Classifier
from netviz.techniques.adversarial.attack import class_probability
from netviz.techniques.adversarial.eot import EOTAttack
from netviz.techniques.adversarial.evaluation import evaluate, predict, transform_success_rates
from netviz.techniques.adversarial.external import Attack, is_external, run_external, torchattacks_attack
from netviz.techniques.adversarial.options import AttackOptions, attack_options
from netviz.techniques.adversarial.pairs import check_targets, needs_clean_logits, plan_pairs
from netviz.techniques.adversarial.registry import attack_class
from netviz.techniques.adversarial.result import AdversarialResult
from netviz.techniques.base import Loops

TRAINER_KEYS = ("accelerator", "devices", "progress")


def make_fooling_images(
    classifier: Classifier,
    images: ImageSet,
    targets: Sequence[int | str] | int | str | None = None,
    *,
    method: str = "naive",
    attack: Attack | None = None,
    ensemble: Sequence[Classifier] = (),
    eval_models: Sequence[Classifier] = (),
    options: AttackOptions | None = None,
    loops: Loops | None = None,
    **settings,
) -> AdversarialResult:
    """Fool ``classifier`` on every (image, target) pair in one batch; each pair stops on its own.

    Args:
        classifier: the attacked model (:func:`netviz.load_model`).
        images: the source images.
        targets: one class or a list (names or indices; the pairs are every image with every target,
            image-major), ``"random"`` or ``"least_likely"`` (one target per image), or ``None`` with
            ``targeted=False``.
        method: a registered attack (``naive``, ``fgsm``, ``pgd``, ``eot``) or ``torchattacks:<Class>``.
        attack: instead of ``method``, any callable ``attack(model, pixels, labels) -> pixels`` (``model``
            maps pixels in [0, 1] to logits; ``labels`` are the targets, or the classes to leave).
        ensemble: more models to attack together with ``classifier`` (Liu et al. 2017), in pixel space.
        eval_models: models that classify every adversarial image (transfer).
        options: the attack's options already made (and checked), instead of keywords.
        loops: the job's held Trainer (:class:`~netviz.techniques.base.Loops`), instead of the trainer's keywords.
        **settings: the attack's options (:class:`~.options.AttackOptions`: ``iterations``, ``lr``,
            ``eps``, ``norm``, ``targeted``, ...; eps and step sizes in 0-255 pixel units) and the
            trainer's (``accelerator``, ``devices``, ``progress``).

    The attacked model makes the attack's steps and one pass over the final images together with
    their PNG round trip and, where the first step does not see them (a random start, EOT), the clean
    images; only pairs that need the prediction first (``untargeted_from=prediction``,
    ``least_likely``) get a clean pass of their own before the attack. Every other model makes one
    pass (clean and adversarial images together).

    Example:
        >>> import netviz
        >>> model = netviz.load_model("efficientnet_lite0")
        >>> images = netviz.load_images("samples", size=model.input_size, indices=[1])
        >>> result = netviz.make_fooling_images(model, images, ["goldfish", 6])  # 6: stingray
        >>> result.sample_names, result.fooled.tolist()
        (['chelsea→goldfish', 'chelsea→stingray'], [True, True])
    """
    trainer = {key: settings.pop(key) for key in TRAINER_KEYS if key in settings}
    if loops is None:
        loops = Loops(**trainer)
    elif trainer:
        raise NetvizError(f"give the trainer's options as loops= or as keywords, not both ({', '.join(trainer)})")
    if options is None:
        options = attack_options(settings)
    elif settings:
        raise NetvizError(f"give the attack's options as options= or as keywords, not both ({', '.join(settings)})")
    if attack is None:
        attack = torchattacks_attack(method, options.attack_args or {}, eps_255=options.eps, targeted=options.targeted) if is_external(method) else None
        builder = None if attack is not None else attack_class(method)
    else:
        method, builder = getattr(attack, "__name__", "custom"), None
    targets = check_targets(classifier, targets, options.targeted)
    attacked = with_ensemble(classifier, ensemble)

    # A clean pass of its own only where the pairs need the prediction; else the attack's first step
    # sees the clean images, or the final verdict's pass takes them too.
    from_loop = builder is not None and builder.starts_from_original(options)
    needed = needs_clean_logits(images, targets, targeted=options.targeted, untargeted_from=options.untargeted_from)
    clean_logits = predict(attacked, images.pixels) if needed else None
    pairs = plan_pairs(attacked, images, targets, clean_logits, targeted=options.targeted, untargeted_from=options.untargeted_from, seed=options.seed)
    pixels = images.pixels[pairs.image]
    module = None
    if builder is None:
        adversarial = run_external(attack, attacked, pixels, pairs.classes)
        description = f"{method} via its own implementation"
    else:
        module = loops.run(builder.build(attacked, pixels, pairs.classes, options))
        adversarial = module.pixels().cpu()
        description = builder.describe(options)
    if clean_logits is not None:
        known_clean = {attacked.name: clean_logits[pairs.image]}
    elif from_loop:
        known_clean = {attacked.name: module.start_logits.float().cpu()}
    else:
        known_clean = {}

    models = unique_models([attacked, *getattr(attacked, "members", []), *eval_models])
    evaluation = evaluate(
        images.pixels, adversarial, pairs.classes, models, targeted=options.targeted, pairs=pairs.image,
        png=options.png_check, clean_logits=known_clean,
    )
    pair_clean_logits = evaluation.logits[attacked.name]["clean"]
    final_logits = evaluation.logits[attacked.name]["as_is"]
    unknown = torch.full((len(pixels),), -1, dtype=torch.int64)
    if module is not None:
        module.conclude(final_logits)
    eot_success, naive_eot_success = (None, None)
    if builder is not None and issubclass(builder, EOTAttack):
        eot_success, naive_eot_success = eot_comparison(attacked, pixels, adversarial, pairs.classes, options, loops)

    source = pair_clean_logits.argmax(1)
    delta = (adversarial - pixels) * 255
    return AdversarialResult(
        technique="adversarial",
        model=attacked.name,
        sample_names=pairs.names,
        history={} if module is None else module.history_on_cpu(),
        method=method,
        description=description,
        targeted=options.targeted,
        image_names=[images.names[int(i)] for i in pairs.image],
        original=pixels,
        adversarial=adversarial,
        classes=pairs.classes,
        original_class=source,
        original_prob_start=class_probability(pair_clean_logits, source),
        original_prob_end=class_probability(final_logits, source),
        predicted=final_logits.argmax(1),
        target_prob_end=class_probability(final_logits, pairs.classes),
        fooled=evaluation.fooled(attacked.name, "as_is"),
        valid_image_fooled=evaluation.fooled(attacked.name, "valid"),
        png_fooled=evaluation.fooled(attacked.name, "png") if options.png_check else None,
        iterations=unknown if module is None else module.steps_taken.cpu(),
        iterations_to_fool=unknown if module is None else module.first_fooled.cpu(),
        l2=delta.flatten(1).norm(dim=1),
        linf=delta.flatten(1).abs().amax(dim=1),
        categories=attacked.categories,
        transfer={model.name: evaluation.transfer(model.name) for model in models[1:]},
        eot_success=eot_success,
        naive_eot_success=naive_eot_success,
    )


def eot_comparison(
    attacked: Classifier, pixels: torch.Tensor, adversarial: torch.Tensor, classes: torch.Tensor, options: AttackOptions, loops: Loops
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """EOT's success rates on fresh transformations: of its images, and (``eot_compare_naive``) of the
    naive images of the same pairs (a loop on the job's Trainer), scored on the same draws in one pass per draw."""
    compared = [adversarial]
    if options.eot_compare_naive:
        naive = attack_class("naive").build(attacked, pixels, classes, dataclasses.replace(options, log_every=options.iterations))
        compared.append(loops.run(naive).pixels().cpu())
    generator = torch.Generator(device=attacked.device).manual_seed(options.seed + 1)
    draws = options.eot.sample(options.eot_eval_samples, len(pixels), pixels.shape[-1], generator)
    rates = transform_success_rates(attacked, compared, classes, draws, options.targeted)
    return rates[0], (rates[1] if len(rates) > 1 else None)


def with_ensemble(classifier: Classifier, ensemble: Sequence[Classifier]) -> Classifier:
    """``classifier`` alone, or an :class:`~netviz.ensemble.Ensemble` of it and the other models."""
    members = unique_models([classifier, *ensemble])
    return classifier if len(members) == 1 else Ensemble(members)


def unique_models(models: Sequence[Classifier]) -> list[Classifier]:
    """``models`` with later ones of an already seen name left out."""
    seen: dict[str, Classifier] = {}
    for model in models:
        seen.setdefault(model.name, model)
    return list(seen.values())
