"""The small towers of the binding recipe (torch): a CNN over images, a text tower over BPE ids, a CNN over log-mels.

Each maps its served input (the ONNX input the card describes) to (n, dim) vectors; they are normalised
after (the loss and TowerModel both normalise), so a tower needs no normalising layer of its own.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv2d(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.GELU())


class ImageTower(nn.Module):
    """(n, 3, H, W) normalised pixels -> (n, dim): four stride-2 convolutions, global average pooling, a projection."""

    arch = "cnn4"

    def __init__(self, dim: int = 64, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(_conv2d(3, width), _conv2d(width, 2 * width), _conv2d(2 * width, 4 * width),
                                      _conv2d(4 * width, 4 * width))
        self.project = nn.Linear(4 * width, dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Embed a batch of images."""
        return self.project(self.features(image).mean(dim=(2, 3)))


class TextTower(nn.Module):
    """(n, context) int token ids -> (n, dim): embeddings, one convolution over neighbours, masked mean, a projection.

    The tokens that count run from the start token to the end token (CLIP's convention: the end token is
    found, padding after it is ignored), so padding never changes a text's vector.
    """

    arch = "bpe-conv"

    def __init__(self, vocab: int, eot_id: int, dim: int = 64, width: int = 128) -> None:
        super().__init__()
        self.eot_id = eot_id
        self.embed = nn.Embedding(vocab, width)
        self.mix = nn.Conv1d(width, width, 3, padding=1)
        self.project = nn.Sequential(nn.GELU(), nn.Linear(width, dim))

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        """Embed a batch of token ids, pooling only up to each text's end token."""
        ids = text.long()
        end = torch.argmax((ids == self.eot_id).to(torch.int32), dim=1, keepdim=True)  # (n, 1)
        positions = torch.arange(ids.shape[1], device=ids.device)[None, :]
        mask = (positions <= end).to(torch.float32)[:, :, None]  # (n, L, 1)
        x = self.embed(ids)
        x = x + self.mix(x.transpose(1, 2)).transpose(1, 2)
        pooled = (x * mask).sum(dim=1) / mask.sum(dim=1)
        return self.project(pooled)


def _conv1d(cin: int, cout: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False), nn.BatchNorm1d(cout), nn.GELU())


class AudioTower(nn.Module):
    """(n, n_mels, frames) log-mel -> (n, dim): 1-d convolutions over time (mel bands as channels), mean+max pooling."""

    arch = "mel-cnn1d"

    def __init__(self, n_mels: int = 64, dim: int = 64, width: int = 128) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(n_mels)
        self.features = nn.Sequential(_conv1d(n_mels, width, 5, 2), _conv1d(width, width, 5, 2), _conv1d(width, 2 * width, 5, 2),
                                      _conv1d(2 * width, 2 * width, 3, 1))
        self.project = nn.Linear(4 * width, dim)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Embed a batch of log-mel spectrograms."""
        h = self.features(self.norm(audio))
        return self.project(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))
