"""A small CLIP-style BPE vocabulary learned from a pivot's own texts, served by facegrid's ClipTokenizer.

A tiny CLIP trained here cannot use open_clip's 49k-token vocabulary (it is open_clip's file, and most of it
would never be trained). Learned instead: byte-level BPE merges over the training texts, split and cleaned
exactly as ClipTokenizer splits them, so the tokenizer.json written beside the text tower encodes served
texts with the ids the tower was trained on. Words never seen fall back to their bytes.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from ..towers.tokenizer import _PATTERN, _SUFFIX, ClipTokenizer, _byte_alphabet, _byte_to_unicode, _clean


def learn_bpe(texts: Sequence[str], merges: int = 256, context_length: int = 32) -> ClipTokenizer:
    """A tokenizer with up to `merges` merges, most frequent pair first (ties: the smaller pair), deterministic."""
    to_char = _byte_to_unicode()
    words: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        for token in _PATTERN.findall(_clean(text)):
            chars = [to_char[b] for b in token.encode("utf-8")]
            words[tuple(chars[:-1] + [chars[-1] + _SUFFIX])] += 1
    learned: list[tuple[str, str]] = []
    for _ in range(merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        if pairs[best] < 2:
            break
        learned.append(best)
        words = Counter({_merge(word, best): count for word, count in words.items()})
    if not learned:  # tokenizer.json readers want at least one merge: the commonest letter ending a word
        learned.append(("e", "s" + _SUFFIX))
    alphabet = _byte_alphabet()
    vocab = [*alphabet, *(c + _SUFFIX for c in alphabet), *(a + b for a, b in learned)]
    encoder = {token: i for i, token in enumerate(vocab)}
    return ClipTokenizer(encoder, learned, len(vocab), len(vocab) + 1, context_length)


def _merge(word: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def vocab_size(tokenizer: ClipTokenizer) -> int:
    """Ids run from 0 to the end token's."""
    return max(tokenizer.sot_id, tokenizer.eot_id) + 1
