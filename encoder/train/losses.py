"""The three losses the recipes train with, as plain functions of embedding batches.

- `nt_xent` (SimCLR): 2N views of N items; each view's positive is the other view of its item, every other
  view in the batch a negative; cross-entropy over cosine similarities divided by a temperature.
- `info_nce` (CLIP, ImageBind): N paired rows of two modalities; row i of one matches row i of the other;
  the symmetric cross-entropy of the N x N similarity matrix.
- `triplet_semi_hard` (FaceNet): max(|a-p|^2 - |a-n|^2 + margin, 0) over every anchor-positive pair of a
  labelled batch, each with a semi-hard negative mined in the batch (farther than the positive, inside the
  margin; where none is, the hardest negative farther than the positive, else the farthest one).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(views_a: torch.Tensor, views_b: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """SimCLR's loss for two (n, d) batches of views, row i of each from the same item (need not be unit length)."""
    if views_a.shape != views_b.shape or views_a.dim() != 2 or len(views_a) < 2:
        raise ValueError(f"nt_xent needs two (n, d) batches of the same shape with n >= 2, got {tuple(views_a.shape)} and {tuple(views_b.shape)}")
    n = len(views_a)
    z = F.normalize(torch.cat([views_a, views_b]), dim=1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))  # a view is not its own positive
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, targets)


def info_nce(left: torch.Tensor, right: torch.Tensor, temperature: float | torch.Tensor = 0.07) -> torch.Tensor:
    """CLIP's symmetric loss for (n, d) paired batches: row i of `left` belongs with row i of `right`."""
    if left.shape[0] != right.shape[0] or left.dim() != 2 or right.dim() != 2 or len(left) < 2:
        raise ValueError(f"info_nce needs two (n, d) batches of n >= 2 paired rows, got {tuple(left.shape)} and {tuple(right.shape)}")
    logits = F.normalize(left, dim=1) @ F.normalize(right, dim=1).T / temperature
    targets = torch.arange(len(left), device=left.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def triplet_semi_hard(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.2) -> tuple[torch.Tensor, dict]:
    """FaceNet's loss with semi-hard negatives mined in the batch; also counts of the triplets used.

    `embeddings` (n, d) are L2-normalised here (FaceNet's unit hypersphere, so the margin has a fixed scale);
    `labels` (n,) integer identities. Returns (mean loss over anchor-positive pairs, {"triplets", "active",
    "semi_hard"}): active triplets have a non-zero loss. A batch without any anchor-positive pair or without
    negatives is a ValueError: the sampler must give P people x K photos.
    """
    if embeddings.dim() != 2 or labels.shape != (len(embeddings),):
        raise ValueError(f"triplet_semi_hard needs (n, d) embeddings and (n,) labels, got {tuple(embeddings.shape)} and {tuple(labels.shape)}")
    z = F.normalize(embeddings, dim=1)
    distances = (2 - 2 * z @ z.T).clamp_min(0)  # squared Euclidean distances of unit vectors
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positives = same & ~eye
    negatives = ~same
    if not positives.any() or not negatives.any():
        raise ValueError("a triplet batch needs at least two photos of one person and one photo of another")
    anchor, positive = positives.nonzero(as_tuple=True)
    d_ap = distances[anchor, positive]  # (t,)
    d_an = distances[anchor]  # (t, n): the anchor's distance to every photo
    is_negative = negatives[anchor]
    inf = torch.tensor(float("inf"), device=z.device)
    # Semi-hard: farther than the positive but within the margin; take the closest such (the hardest of them).
    semi = is_negative & (d_an > d_ap[:, None]) & (d_an < d_ap[:, None] + margin)
    semi_choice = torch.where(semi, d_an, inf).min(dim=1).values
    # Fallbacks: the closest negative farther than the positive (easy: zero loss), else the farthest negative.
    farther = torch.where(is_negative & (d_an > d_ap[:, None]), d_an, inf).min(dim=1).values
    farthest = torch.where(is_negative, d_an, -inf).max(dim=1).values
    d_neg = torch.where(torch.isfinite(semi_choice), semi_choice, torch.where(torch.isfinite(farther), farther, farthest))
    losses = (d_ap - d_neg + margin).clamp_min(0)
    counts = {"triplets": int(len(losses)), "active": int((losses > 0).sum()), "semi_hard": int(torch.isfinite(semi_choice).sum())}
    return losses.mean(), counts
