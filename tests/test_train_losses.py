"""The training losses against their definitions, computed the slow way on small batches."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch", reason="the training losses need torch (the train extra)")

from facegrid.encoder.train.losses import info_nce, nt_xent, triplet_semi_hard  # noqa: E402


def _unit(x):
    return x / x.norm(dim=1, keepdim=True)


def test_nt_xent_is_the_mean_cross_entropy_of_each_view_against_its_partner():
    torch.manual_seed(1)
    a, b, t = torch.randn(5, 8), torch.randn(5, 8), 0.3
    z = _unit(torch.cat([a, b]))
    total = 0.0
    for i in range(10):
        partner = (i + 5) % 10
        others = [j for j in range(10) if j != i]
        denominator = sum(math.exp(float(z[i] @ z[j]) / t) for j in others)
        total += -math.log(math.exp(float(z[i] @ z[partner]) / t) / denominator)
    assert nt_xent(a, b, t).item() == pytest.approx(total / 10, rel=1e-5)


def test_nt_xent_is_low_for_matching_views_and_high_for_unrelated_ones():
    torch.manual_seed(2)
    a = torch.randn(16, 32)
    assert nt_xent(a, a + 0.01 * torch.randn(16, 32)) < 0.5 < 2.0 < nt_xent(a, torch.randn(16, 32))
    with pytest.raises(ValueError):
        nt_xent(a, a[:4])


def test_info_nce_is_symmetric_and_follows_its_definition():
    torch.manual_seed(3)
    x, y, t = torch.randn(4, 6), torch.randn(4, 6), 0.1
    logits = _unit(x) @ _unit(y).T / t
    rows = -torch.log_softmax(logits, dim=1).diag().mean()
    cols = -torch.log_softmax(logits, dim=0).diag().mean()
    assert info_nce(x, y, t).item() == pytest.approx(((rows + cols) / 2).item(), rel=1e-5)
    assert info_nce(x, y, t).item() == pytest.approx(info_nce(y, x, t).item(), rel=1e-6)


def _reference_triplet(points, labels, margin: float) -> tuple[float, int]:
    """FaceNet's rule, one anchor-positive pair at a time: the closest negative farther than the positive
    (semi-hard when inside the margin), else the farthest negative."""
    d = lambda i, j: float(((points[i] - points[j]) ** 2).sum())  # noqa: E731
    total, pairs, semi = 0.0, 0, 0
    for a in range(len(labels)):
        for p in range(len(labels)):
            if a == p or labels[a] != labels[p]:
                continue
            negatives = [d(a, n) for n in range(len(labels)) if labels[n] != labels[a]]
            farther = [x for x in negatives if x > d(a, p)]
            chosen = min(farther) if farther else max(negatives)
            semi += bool(farther) and chosen < d(a, p) + margin
            total += max(d(a, p) - chosen + margin, 0.0)
            pairs += 1
    return total / pairs, semi


def test_triplet_takes_the_semi_hard_negative_and_counts_it():
    # Person 0 at angles 0 and 0.3 rad; person 1 at 0.5 and at pi. For anchor 0 the photo at 0.5 is semi-hard
    # (farther than its positive, inside the margin); for anchor 0.3 it is hard (closer than the positive), so
    # FaceNet's rule takes the next negative out, at pi.
    angles = torch.tensor([0.0, 0.3, 0.5, math.pi])
    points = torch.stack([angles.cos(), angles.sin()], dim=1)
    labels = torch.tensor([0, 0, 1, 1])
    loss, counts = triplet_semi_hard(points, labels, margin=0.2)
    expected, semi = _reference_triplet(points, labels, 0.2)
    assert loss.item() == pytest.approx(expected, abs=1e-6) and counts["semi_hard"] == semi >= 1
    assert counts["triplets"] == 4
    # Anchor 0.3's triplet costs nothing; person 1's photos lie farther apart than any negative, so both
    # of theirs cost, with the farthest negative.
    assert counts["active"] == 3


def test_triplet_matches_the_rule_on_random_batches():
    torch.manual_seed(4)
    for _ in range(5):
        points = torch.nn.functional.normalize(torch.randn(12, 3), dim=1)
        labels = torch.arange(4).repeat_interleave(3)
        loss, counts = triplet_semi_hard(points, labels, margin=0.3)
        expected, semi = _reference_triplet(points, labels, 0.3)
        assert loss.item() == pytest.approx(expected, abs=1e-5) and counts["semi_hard"] == semi


def test_triplet_needs_a_positive_and_a_negative_in_the_batch():
    with pytest.raises(ValueError):
        triplet_semi_hard(torch.randn(3, 4), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError):
        triplet_semi_hard(torch.randn(3, 4), torch.tensor([0, 0, 0]))
