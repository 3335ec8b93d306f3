"""Objectives: values per row, composition with + - * (scalar and per-sample weights), averaging over copies."""

import pytest
import torch

from netviz.parts import ClassScore, Evaluation, L2Norm, LogProbability, SquaredL2, TotalVariation, total_variation


def evaluation(copies: int = 1) -> Evaluation:
    generator = torch.Generator().manual_seed(0)
    n = 3 * copies
    scores = torch.randn(n, 5, generator=generator)
    return Evaluation(
        input=torch.randn(n, 3, 6, 7, generator=generator),
        logits=scores,
        scores=scores,
        targets=torch.tensor([1, 4, 0] * copies),
        copies=copies,
    )


def test_each_objective_reads_its_value_per_row():
    ev = evaluation()
    rows = torch.arange(3)
    torch.testing.assert_close(ClassScore()(ev), ev.scores[rows, ev.targets])
    torch.testing.assert_close(LogProbability()(ev), torch.log(torch.softmax(ev.scores, 1)[rows, ev.targets]))
    flat = ev.input.reshape(3, -1)
    torch.testing.assert_close(SquaredL2()(ev), (flat**2).sum(1))
    torch.testing.assert_close(L2Norm()(ev), (flat**2).sum(1).sqrt())
    torch.testing.assert_close(TotalVariation(1.0)(ev), total_variation(ev.input, 1.0))


def test_objectives_compose_with_plus_minus_times_and_per_sample_weights():
    ev = evaluation()
    score, l2, tv = ClassScore()(ev), SquaredL2()(ev), TotalVariation()(ev)
    torch.testing.assert_close((ClassScore() - 1e-2 * SquaredL2() + TotalVariation() * 0.5)(ev), score - 1e-2 * l2 + 0.5 * tv)
    weights = torch.tensor([1.0, 0.0, -2.0])
    torch.testing.assert_close((weights * ClassScore())(ev), weights * score)
    torch.testing.assert_close((ClassScore() * SquaredL2())(ev), score * l2)
    torch.testing.assert_close((-ClassScore())(ev), -score)
    with pytest.raises(TypeError, match="objectives combine with objectives"):
        ClassScore() + 1.0


def test_a_per_sample_weight_repeats_over_copies_and_per_sample_averages_them():
    ev = evaluation(copies=2)
    weights = torch.tensor([1.0, 2.0, 3.0])
    value = (weights * ClassScore())(ev)
    torch.testing.assert_close(value, weights.repeat(2) * ClassScore()(ev))
    expected = torch.stack([value[:3], value[3:]]).mean(0)  # row c * N + i is copy c of sample i
    torch.testing.assert_close(ev.per_sample(value), expected)
