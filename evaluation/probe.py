"""`facegrid eval probe`: how linearly separable a face model's vectors make people (a linear probe).

Protocol: a person-labelled folder (DIR/person/*.jpg; default LFW, people with at least 10 photos). Each
person's photos are shuffled (seeded) and split by photo: a share `test_share` (at least one) held out,
the rest train; people with fewer than `min_photos` photos are skipped and counted. The frozen vectors
(the face nearest the centre, else a centred guess, through the evaluation cache) are standardised on the
training photos, and a multinomial logistic regression (softmax, L2 penalty, bias) is fitted on them with
L-BFGS on the convex loss, in numpy: no scikit-learn. Reported: top-1 accuracy on
the held-out photos.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .datasets import DatasetMissing, lfw_dir
from facegrid.encoder.models import model_folder

from .lfw import embed_images, encoder_settings
from .lfw_people import stack

MIN_PHOTOS = 10  # LFW's people with at least 10 photos: 158 people, 4,324 photos
TEST_SHARE = 0.3
L2 = 1e-4  # on standardised vectors: enough to make the optimum unique, too little to change the ranking
MAX_ITERATIONS = 2000  # LFW 10+, 512-d random-weight vectors: converged at 509
_PHOTOS = (".jpg", ".jpeg", ".png")


@dataclass
class ProbeReport:
    """Figures of one linear-probe run (the JSON `facegrid eval probe --json` prints)."""

    model: str
    data: str
    people: int
    train_photos: int
    test_photos: int
    accuracy: float  # top-1 on the held-out photos
    majority_accuracy: float  # always answering the person with the most training photos: the floor to beat
    skipped_people: int  # fewer than min_photos photos
    min_photos: int
    test_share: float
    seed: int
    no_face: int  # photos embedded from a centred guess (no face found), kept
    train_accuracy: float
    iterations: int
    converged: bool  # the gradient fell below the tolerance within MAX_ITERATIONS
    embedded_now: int
    seconds: float

    def as_json(self) -> dict:
        """The report as plain JSON data, the figures rounded for reading."""
        report = asdict(self)
        for key in ("accuracy", "majority_accuracy", "train_accuracy"):
            report[key] = round(report[key], 6)
        report["seconds"] = round(self.seconds, 1)
        return report


def labelled_photos(root: Path) -> dict[str, list[str]]:
    """Person -> photo paths relative to root (DIR/person/*.jpg|png), in file-name order."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.glob("*/*")):
        if path.suffix.lower() in _PHOTOS and path.is_file() and not path.parent.name.startswith((".", "_")):
            found[path.parent.name].append(f"{path.parent.name}/{path.name}")
    return dict(found)


def probe_root(data: str | Path | None) -> Path:
    """The labelled folder: DIR itself, DIR/lfw where DIR is the faces/ folder, LFW by default."""
    if data is None:
        return lfw_dir(None)
    root = Path(data).expanduser()
    if (root / "lfw" / "_meta" / "pairs.txt").is_file():
        return (root / "lfw").resolve()
    if not root.is_dir():
        raise DatasetMissing(f"{root}: no such folder (expected DIR/person/*.jpg)")
    return root.resolve()


def split_by_photo(by_person: dict[str, list[str]], min_photos: int, test_share: float, seed: int):
    """(train, test) lists of (photo, class number) and the people skipped: each kept person's photos shuffled
    with the seed and split, at least one on each side."""
    rng = np.random.default_rng(seed)
    train, test, skipped, number = [], [], 0, 0
    for person in sorted(by_person):
        photos = by_person[person]
        if len(photos) < max(min_photos, 2):
            skipped += 1
            continue
        order = rng.permutation(len(photos))
        held = min(max(1, int(round(test_share * len(photos)))), len(photos) - 1)
        test += [(photos[i], number) for i in order[:held]]
        train += [(photos[i], number) for i in order[held:]]
        number += 1
    return train, test, skipped


def fit_softmax(x: np.ndarray, y: np.ndarray, classes: int, l2: float = L2, max_iter: int = MAX_ITERATIONS,
                tol: float = 1e-6) -> tuple[np.ndarray, int]:
    """Weights (dim + 1, classes) of an L2-penalised multinomial logistic regression (last row: bias, not
    penalised) and the iterations taken: L-BFGS (10 pairs) with a backtracking line search on the convex loss,
    until the largest gradient entry is below `tol` (or max_iter: then the count returned is max_iter)."""
    n = len(x)
    features = np.hstack([x, np.ones((n, 1), x.dtype)]).astype(np.float64)
    penalty = np.ones((features.shape[1], 1))
    penalty[-1] = 0.0
    rows = np.arange(n)

    def loss_and_gradient(w: np.ndarray) -> tuple[float, np.ndarray]:
        logits = features @ w
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        total = p.sum(axis=1, keepdims=True)
        loss = float((np.log(total[:, 0]) - logits[rows, y]).mean()) + 0.5 * l2 * float(((w * penalty) ** 2).sum())
        p /= total
        p[rows, y] -= 1.0
        return loss, features.T @ p / n + l2 * w * penalty

    w = np.zeros((features.shape[1], classes))
    loss, grad = loss_and_gradient(w)
    pairs: list[tuple[np.ndarray, np.ndarray, float]] = []  # (s, y, 1 / y.s)
    for iteration in range(1, max_iter + 1):
        if np.abs(grad).max() < tol:
            return w, iteration
        direction = -_two_loop(grad, pairs)
        slope = float((direction * grad).sum())
        if slope >= 0:  # not a descent direction (curvature pairs gone stale): start again from the gradient
            pairs, direction, slope = [], -grad, -float((grad * grad).sum())
        step = 1.0 if pairs else 1.0 / max(np.abs(grad).max(), 1e-12) * 1e-2
        while True:  # Armijo backtracking
            candidate = w + step * direction
            new_loss, new_grad = loss_and_gradient(candidate)
            if new_loss <= loss + 1e-4 * step * slope or step < 1e-12:
                break
            step *= 0.5
        s_k, y_k = candidate - w, new_grad - grad
        curvature = float((s_k * y_k).sum())
        if curvature > 1e-12:
            pairs = (pairs + [(s_k, y_k, 1.0 / curvature)])[-10:]
        w, loss, grad = candidate, new_loss, new_grad
    return w, max_iter


def _two_loop(grad: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    """L-BFGS's product of the inverse-Hessian estimate with the gradient."""
    q = grad.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        alpha = rho * float((s * q).sum())
        alphas.append(alpha)
        q -= alpha * y
    if pairs:
        s, y, _ = pairs[-1]
        q *= float((s * y).sum()) / float((y * y).sum())
    for (s, y, rho), alpha in zip(pairs, reversed(alphas)):
        q += s * (alpha - rho * float((y * q).sum()))
    return q


def predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Class numbers of vectors under fitted weights."""
    return np.argmax(np.hstack([x, np.ones((len(x), 1), x.dtype)]) @ w, axis=1)


def linear_probe(data: str | Path | None = None, model: str = "fused", min_photos: int = MIN_PHOTOS,
                 test_share: float = TEST_SHARE, seed: int = 0, workers: int | None = None, progress=None,
                 models_dir: str | Path | None = None, detector: str = "cascade") -> ProbeReport:
    """Top-1 accuracy of a linear classifier on a model's frozen face vectors, split by photo."""
    if not 0 < test_share < 1:
        raise ValueError(f"test share {test_share}: use a fraction between 0 and 1")
    if min_photos < 2:
        raise ValueError(f"min photos {min_photos}: a person needs at least 2 (one to train on, one to test)")
    started = time.perf_counter()
    model_folder(model, encoder_settings(models_dir))  # an unknown model fails before the photos are read
    root = probe_root(data)
    by_person = labelled_photos(root)
    train, test, skipped = split_by_photo(by_person, min_photos, test_share, seed)
    people = len({c for _, c in train})
    if people < 2:
        raise DatasetMissing(f"{root}: {people} people with at least {min_photos} photos (DIR/person/*.jpg); a probe needs 2 or more")
    images = sorted({p for p, _ in train} | {p for p, _ in test})
    vectors, detectors, embedded = embed_images(root, images, model, detector, None, workers, progress, models_dir)
    x_train, y_train = stack(vectors, [p for p, _ in train]), np.array([c for _, c in train])
    x_test, y_test = stack(vectors, [p for p, _ in test]), np.array([c for _, c in test])
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6  # fitted on the training photos only
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    w, iterations = fit_softmax(x_train, y_train, people)
    return ProbeReport(
        model=model, data=str(root), people=people, train_photos=len(train), test_photos=len(test),
        accuracy=float((predict(w, x_test) == y_test).mean()),
        majority_accuracy=float((y_test == np.bincount(y_train, minlength=people).argmax()).mean()),
        skipped_people=skipped, min_photos=min_photos,
        test_share=test_share, seed=seed, no_face=sum(1 for d in detectors.values() if d == "centre_guess"),
        train_accuracy=float((predict(w, x_train) == y_train).mean()), iterations=iterations,
        converged=iterations < MAX_ITERATIONS,
        embedded_now=embedded, seconds=time.perf_counter() - started,
    )
