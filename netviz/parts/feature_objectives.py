"""Objectives inside the network: channel, neuron, layer (DeepDream) and diversity (Olah et al. 2017).

They read the activations of named layers (``features.7``, as in ``named_modules()``), which the loop
captures for them (:func:`layers_of` lists what an objective needs; :mod:`netviz.capture` hooks them
and always removes the hooks). Like the class objectives they return one value per row ``(M,)`` to
maximize and compose with ``+ - *``. :func:`parse_objective` reads the text form
``"channel(features.7:12) - 1e-2 * diversity(features.7)"``; :func:`objective_from_terms` the
structured one, ``[{kind: channel, layer: features.7, channel: 12}, {kind: diversity, layer:
features.7, weight: -1e-2}]``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from netviz.errors import NetvizError, did_you_mean
from netviz.parts.objectives import ClassScore, Evaluation, LogProbability, Objective


class LayerObjective(Objective):
    """An objective on the activations ``(M, C, H, W)`` (or ``(M, C)``) of one layer."""

    def __init__(self, layer: str) -> None:
        super().__init__()
        self.layer = str(layer)

    def activation(self, evaluation: Evaluation) -> torch.Tensor:
        if self.layer not in evaluation.activations:
            raise NetvizError(f"layer {self.layer!r} was not captured; run the objective in a loop that captures layers_of(objective)")
        return evaluation.activations[self.layer]

    def extra_repr(self) -> str:
        return self.layer


class Channel(LayerObjective):
    """The mean activation of channel ``channel`` of ``layer`` over its positions (Olah et al. 2017)."""

    def __init__(self, layer: str, channel: int) -> None:
        super().__init__(layer)
        self.channel = int(channel)

    def forward(self, evaluation):
        values = self.activation(evaluation)[:, self.channel]
        return values.flatten(1).mean(dim=1) if values.dim() > 1 else values

    def extra_repr(self) -> str:
        return f"{self.layer}:{self.channel}"


class Neuron(Channel):
    """The activation of channel ``channel`` of ``layer`` at the centre position ``(H // 2, W // 2)``
    (Lucent's ``neuron`` with its default position)."""

    def forward(self, evaluation):
        values = self.activation(evaluation)[:, self.channel]
        if values.dim() == 1:
            return values
        return values[:, values.shape[1] // 2, values.shape[2] // 2]


class DeepDream(LayerObjective):
    """The mean squared activation of ``layer`` (DeepDream, Mordvintsev et al. 2015; Lucent's ``deepdream``)."""

    def forward(self, evaluation):
        return self.activation(evaluation).flatten(1).square().mean(dim=1)


def gram_similarity(activations: torch.Tensor) -> torch.Tensor:
    """``(N, N)`` cosine similarities of the Gram matrices of activations ``(N, C, H, W)``."""
    flat = activations.flatten(2)
    grams = F.normalize((flat @ flat.transpose(1, 2)).flatten(1), dim=1)
    return grams @ grams.T


class Diversity(LayerObjective):
    """How alike the batch's images are at ``layer``: for sample ``i``, ``sum_{j != i} cos(G_i, G_j) / N``
    of the Gram matrices' cosine similarities (Olah et al. 2017; summed over the batch it is Lucent's
    ``diversity`` up to the sign). Subtract it to push a batch's images apart; 0 for a batch of one.
    With a transform's copies, each copy's batch is compared within itself."""

    def forward(self, evaluation):
        activations = self.activation(evaluation)
        copies = evaluation.copies
        groups = activations.view(copies, -1, *activations.shape[1:])
        values = []
        for group in groups:
            similarity = gram_similarity(group)
            values.append((similarity.sum(dim=1) - similarity.diagonal()) / len(group))
        return torch.cat(values)


class PerSample(Objective):
    """One objective per sample: row ``c * N + i`` takes objective ``i``'s value (a batch of channels)."""

    def __init__(self, objectives: Sequence[Objective]) -> None:
        super().__init__()
        self.parts = torch.nn.ModuleList(objectives)

    def forward(self, evaluation):
        values = torch.stack([part(evaluation) for part in self.parts])  # (K, M)
        rows = torch.arange(values.shape[1], device=values.device)
        return values[rows % len(self.parts), rows]


def layers_of(objective: Objective) -> list[str]:
    """The layers whose activations ``objective`` reads, in order, without repeats."""
    return list(dict.fromkeys(m.layer for m in objective.modules() if isinstance(m, LayerObjective)))


# ----- the text and structured forms --------------------------------------------------------------------

KINDS = {"channel": Channel, "neuron": Neuron, "layer": DeepDream, "deepdream": DeepDream, "diversity": Diversity,
         "score": ClassScore, "log_probability": LogProbability}
CHANNEL_KINDS = ("channel", "neuron")

_TOKEN = re.compile(r"\s*(?:(?P<number>\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|(?P<call>[A-Za-z_]\w*)\s*\((?P<args>[^()]*)\)|(?P<op>[-+*()]))")


def term(kind: str, layer: str | None = None, channel: int | None = None, text: str | None = None) -> Objective:
    """One objective by kind (``channel``, ``neuron``, ``layer``/``deepdream``, ``diversity``, ``score``,
    ``log_probability``), checked: a one-line error naming what is wrong."""
    where = f" in {text!r}" if text else ""
    if kind not in KINDS:
        raise NetvizError(f"unknown objective {kind!r}{did_you_mean(kind, KINDS)}{where}; choose one of {', '.join(KINDS)}")
    if kind in ("score", "log_probability"):
        return KINDS[kind]()
    if not layer:
        raise NetvizError(f"objective {kind} needs a layer{where}: {kind}(features.7{':12' if kind in CHANNEL_KINDS else ''})")
    if kind in CHANNEL_KINDS:
        if channel is None:
            raise NetvizError(f"objective {kind} needs layer:channel{where}, for example {kind}({layer}:0)")
        if int(channel) < 0:
            raise NetvizError(f"objective {kind}({layer}:{channel}){where}: the channel must be >= 0")
        return KINDS[kind](layer, int(channel))
    if channel is not None:
        raise NetvizError(f"objective {kind} takes a layer, not layer:channel{where}: {kind}({layer})")
    return KINDS[kind](layer)


def _call(kind: str, args: str, text: str) -> Objective:
    args = args.strip()
    layer, channel = args, None
    if ":" in args:
        layer, _, index = args.rpartition(":")
        if not index.strip().isdigit():
            raise NetvizError(f"{kind}({args}) in {text!r}: the channel after ':' must be a whole number")
        channel = int(index)
    return term(kind, layer.strip() or None, channel, text)


def parse_objective(text: str) -> Objective:
    """The objective written as ``text``: calls ``kind(layer[:channel])`` combined with numbers, ``+ - *``
    and parentheses, e.g. ``"channel(features.7:12) - 1e-2 * diversity(features.7)"``."""
    tokens: list[tuple[str, Any]] = []
    position = 0
    text = str(text)
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise NetvizError(f"cannot read objective {text!r} at {text[position:].strip()!r}; write e.g. channel(features.7:12) - 1e-2 * diversity(features.7)")
        if match["number"]:
            tokens.append(("number", float(match["number"])))
        elif match["call"]:
            tokens.append(("objective", _call(match["call"], match["args"], text)))
        else:
            tokens.append(("op", match["op"]))
        position = match.end()
    parser = _Parser(tokens, text)
    value = parser.expression()
    if parser.position != len(tokens):
        raise NetvizError(f"cannot read objective {text!r}: unexpected {tokens[parser.position][1]!r}")
    if not isinstance(value, Objective):
        raise NetvizError(f"objective {text!r} is a number; it needs at least one objective, e.g. channel(features.7:12)")
    return value


class _Parser:
    """Recursive descent over the tokens: expression = term (+|- term)*, term = factor (* factor)*."""

    def __init__(self, tokens, text):
        self.tokens, self.text, self.position = tokens, text, 0

    def peek(self):
        return self.tokens[self.position] if self.position < len(self.tokens) else (None, None)

    def expression(self):
        value = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.tokens[self.position][1]
            self.position += 1
            right = self.term()
            value = _combine(value, right, op, self.text)
        return value

    def term(self):
        value = self.factor()
        while self.peek() == ("op", "*"):
            self.position += 1
            value = _combine(value, self.factor(), "*", self.text)
        return value

    def factor(self):
        kind, value = self.peek()
        self.position += 1
        if kind in ("number", "objective"):
            return value
        if (kind, value) == ("op", "-"):
            return _combine(-1.0, self.factor(), "*", self.text)
        if (kind, value) == ("op", "("):
            inner = self.expression()
            if self.peek() != ("op", ")"):
                raise NetvizError(f"cannot read objective {self.text!r}: a '(' is not closed")
            self.position += 1
            return inner
        raise NetvizError(f"cannot read objective {self.text!r}: expected an objective or a number, got {value!r}")


def _combine(left, right, op: str, text: str):
    numbers = not isinstance(left, Objective) and not isinstance(right, Objective)
    if numbers:
        return {"+": left + right, "-": left - right, "*": left * right}[op]
    if op == "*":
        return left * right if isinstance(left, Objective) else right * left
    if not (isinstance(left, Objective) and isinstance(right, Objective)):
        raise NetvizError(f"objective {text!r} adds a number to an objective; weight it instead: 0.1 * layer(features.7)")
    return left + right if op == "+" else left - right


def objective_from_terms(terms: Sequence[dict]) -> Objective:
    """The structured form: the sum of ``weight * kind(layer:channel)`` over ``terms`` (dicts with
    ``kind``, ``layer``, ``channel``, ``weight``, the last defaulting to 1)."""
    if not terms:
        raise NetvizError("the objective's terms are empty; give at least one, e.g. [{kind: channel, layer: features.7, channel: 12}]")
    total = None
    for entry in terms:
        entry = dict(entry)
        unknown = set(entry) - {"kind", "layer", "channel", "weight"}
        if unknown or "kind" not in entry:
            raise NetvizError(f"objective term {entry} needs kind, and takes only kind, layer, channel, weight (not {sorted(unknown)})")
        part = float(entry.get("weight", 1.0)) * term(str(entry["kind"]), entry.get("layer"), entry.get("channel"))
        total = part if total is None else total + part
    return total


def objective_from_config(value: Any) -> tuple[Objective, int]:
    """``(objective, samples it defines)`` from a config value: a text, a list of terms (dicts: one
    objective), or a list of texts (one objective per sample, :class:`PerSample`; samples = their
    count; otherwise 0, the job's own number)."""
    if isinstance(value, str):
        return parse_objective(value), 0
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return PerSample([parse_objective(v) for v in value]), len(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, dict) for v in value):
        return objective_from_terms(value), 0
    raise NetvizError(f"objective={value!r}: give a text like channel(features.7:12), a list of such texts (one per image), or a list of terms")
