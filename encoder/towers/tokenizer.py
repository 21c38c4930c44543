"""CLIP byte-level BPE tokenizer in pure Python, id-for-id equal to open_clip 3.3's SimpleTokenizer.

Serving needs no torch: this re-implements `open_clip.tokenizer.SimpleTokenizer` with clean="lower"
and no reduction mask (what `open_clip.tokenize` uses): ftfy.fix_text, html.unescape twice, strip,
whitespace collapse, lower-casing, CLIP's pre-token regex (the `regex` package, IGNORECASE, the two
special tokens as first alternatives), byte-to-unicode mapping and rank-ordered BPE with "</w>" ends,
then <start_of_text> + tokens + <end_of_text>, cut to context_length with the end token kept last,
zero padded.
"""

from __future__ import annotations

import gzip
import heapq
import html
import json
import os
import tempfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import ftfy
import numpy as np
import regex

from ..errors import BadModelFolder, BadText

DEFAULT_CONTEXT_LENGTH = 77
# open_clip keeps exactly this many merges from its vocabulary file (49152 - 256 - 2 lines after the header).
_OPEN_CLIP_MERGES = 49152 - 256 - 2
# The special tokens as open_clip spells them: literal occurrences in a text become the special ids.
_SOT_TEXT, _EOT_TEXT = "<start_of_text>", "<end_of_text>"
# The same tokens as Hugging Face's CLIP tokenizer.json (what Immich ships) spells them.
_HF_SOT, _HF_EOT = "<|startoftext|>", "<|endoftext|>"
_PATTERN = regex.compile(
    _SOT_TEXT + "|" + _EOT_TEXT + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)
# The same split without the special alternatives, for Hugging Face's Split pre-tokenizer (Oniguruma).
_HF_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
_SUFFIX = "</w>"
# Bounded (open_clip's cache grows without limit, which a server fed arbitrary words cannot afford).
_BPE_CACHE_SIZE = 1 << 16


@dataclass(frozen=True)
class Tokens:
    """Token ids of a batch of texts, and which texts were cut to fit."""

    ids: np.ndarray  # int64 (n, context_length), zero-padded
    truncated: list[bool]  # True where a text had more tokens than fit (cut as open_clip cuts)


@lru_cache(maxsize=1)
def _byte_to_unicode() -> dict[int, str]:
    """CLIP's (GPT-2's) reversible map of the 256 byte values to printable characters.

    Insertion order is open_clip's vocabulary order: the printable bytes as themselves, then the others
    (ascending) mapped to chr(256 + n).
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {b: chr(b) for b in printable}
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + len(mapping) - len(printable))
    return mapping


def _byte_alphabet() -> list[str]:
    """The 256 byte characters in open_clip's vocabulary order (printable ones first, then the rest)."""
    return list(_byte_to_unicode().values())


def _clean(text: str) -> str:
    """open_clip's clean="lower": ftfy, html.unescape twice, strip, collapse whitespace, lower-case."""
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split()).strip().lower()


class ClipTokenizer:
    """Tokenises texts exactly as `open_clip.tokenize` does, from a BPE vocabulary or a tokenizer.json."""

    def __init__(self, encoder: dict[str, int], merges: Sequence[tuple[str, str]], sot_id: int, eot_id: int,
                 context_length: int = DEFAULT_CONTEXT_LENGTH) -> None:
        """Build from a token->id map (special tokens excluded), ranked merges and the two special ids."""
        if context_length < 1:
            raise ValueError(f"context_length must be at least 1, got {context_length}")
        self.context_length = context_length
        self._encoder = dict(encoder)
        self._merges = tuple(merges)
        self._ranks = {pair: rank for rank, pair in enumerate(self._merges)}
        self.sot_id = sot_id
        self.eot_id = eot_id
        self._specials = {_SOT_TEXT: sot_id, _EOT_TEXT: eot_id}
        self._bytes = _byte_to_unicode()
        self._bpe = lru_cache(maxsize=_BPE_CACHE_SIZE)(self._bpe_uncached)

    # ---- loading -------------------------------------------------------------------------------

    @classmethod
    def from_bpe_vocab(cls, path: Path, context_length: int = DEFAULT_CONTEXT_LENGTH) -> ClipTokenizer:
        """Load open_clip's merges file (bpe_simple_vocab_16e6.txt.gz, gzip or plain text)."""
        path = Path(path)
        try:
            raw = path.read_bytes()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            lines = raw.decode("utf-8").split("\n")
        except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:  # BadGzipFile is an OSError
            raise BadModelFolder(f"{path}: cannot read BPE vocabulary: {exc}") from exc
        if "#version" not in lines[0]:
            raise BadModelFolder(f"{path}: not a BPE merges file (no '#version' header line)")
        body = lines[1:_OPEN_CLIP_MERGES + 1]
        while body and not body[-1].strip():  # a short file's trailing newline
            body.pop()
        merges: list[tuple[str, str]] = []
        for number, line in enumerate(body, start=2):
            parts = line.split()
            if len(parts) != 2:
                raise BadModelFolder(f"{path}: line {number} is not a merge of two symbols: {line[:60]!r}")
            merges.append((parts[0], parts[1]))
        if not merges:
            raise BadModelFolder(f"{path}: no merges")
        alphabet = _byte_alphabet()
        vocab = [*alphabet, *(c + _SUFFIX for c in alphabet), *(a + b for a, b in merges)]
        # dict() over the list, as open_clip does: a repeated token keeps its last id.
        encoder = {token: i for i, token in enumerate(vocab)}
        cls._check_merges(path, encoder, merges)
        sot_id, eot_id = len(vocab), len(vocab) + 1
        return cls(encoder, merges, sot_id, eot_id, context_length)

    @classmethod
    def from_tokenizer_json(cls, path: Path, context_length: int = DEFAULT_CONTEXT_LENGTH) -> ClipTokenizer:
        """Load a Hugging Face tokenizer.json of CLIP's BPE (model.vocab + model.merges), as Immich ships."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise BadModelFolder(f"{path}: cannot read tokenizer.json: {exc}") from exc
        model = doc.get("model") if isinstance(doc, dict) else None
        if not isinstance(model, dict) or model.get("type", "BPE") != "BPE":
            raise BadModelFolder(f"{path}: not a BPE tokenizer.json (model.type must be 'BPE')")
        if model.get("end_of_word_suffix") != _SUFFIX or model.get("continuing_subword_prefix") not in (None, ""):
            raise BadModelFolder(f"{path}: not CLIP's BPE (end_of_word_suffix must be '</w>', no subword prefix)")
        vocab, raw_merges = model.get("vocab"), model.get("merges")
        if not isinstance(vocab, dict) or not isinstance(raw_merges, list) or not raw_merges:
            raise BadModelFolder(f"{path}: model.vocab must be an object and model.merges a non-empty list")
        if not all(isinstance(t, str) and isinstance(i, int) and not isinstance(i, bool) for t, i in vocab.items()):
            raise BadModelFolder(f"{path}: model.vocab must map token strings to integer ids")
        merges: list[tuple[str, str]] = []
        for number, merge in enumerate(raw_merges):
            # tokenizers < 0.20 writes "a b", newer versions ["a", "b"]; both are read.
            parts = merge.split(" ") if isinstance(merge, str) else merge
            if not isinstance(parts, list) or len(parts) != 2 or not all(isinstance(p, str) and p for p in parts):
                raise BadModelFolder(f"{path}: model.merges[{number}] is not a pair of symbols: {str(merge)[:60]!r}")
            merges.append((parts[0], parts[1]))
        specials = {t.get("content"): t.get("id") for t in doc.get("added_tokens") or [] if isinstance(t, dict)}
        sot_id = cls._special_id(path, vocab, specials, (_HF_SOT, _SOT_TEXT))
        eot_id = cls._special_id(path, vocab, specials, (_HF_EOT, _EOT_TEXT))
        encoder = {t: i for t, i in vocab.items() if t not in (_HF_SOT, _HF_EOT, _SOT_TEXT, _EOT_TEXT)}
        missing = [c for c in _byte_alphabet() for t in (c, c + _SUFFIX) if t not in encoder]
        if missing:
            raise BadModelFolder(f"{path}: model.vocab lacks byte symbols such as {missing[:3]!r}")
        cls._check_merges(path, encoder, merges)
        return cls(encoder, merges, sot_id, eot_id, context_length)

    @staticmethod
    def _special_id(path: Path, vocab: dict[str, int], added: dict, names: tuple[str, str]) -> int:
        """The id of a special token under either spelling, from added_tokens or the vocabulary."""
        for name in names:
            for table in (added, vocab):
                if isinstance(table.get(name), int):
                    return table[name]
        raise BadModelFolder(f"{path}: no special token {names[0]!r} (or {names[1]!r})")

    @staticmethod
    def _check_merges(path: Path, encoder: dict[str, int], merges: Iterable[tuple[str, str]]) -> None:
        """Every merge must join known symbols into a known token, or encoding would fail later."""
        for a, b in merges:
            if a not in encoder or b not in encoder or a + b not in encoder:
                raise BadModelFolder(f"{path}: merge {a!r} {b!r} uses or makes a token not in the vocabulary")

    # ---- writing -------------------------------------------------------------------------------

    def tokenizer_json(self) -> dict:
        """This tokenizer as a Hugging Face tokenizer.json document (the layout of openai/clip-vit-*)."""
        vocab = dict(sorted(self._encoder.items(), key=lambda item: item[1]))
        vocab[_HF_SOT], vocab[_HF_EOT] = self.sot_id, self.eot_id
        special = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": True, "special": True}
        return {
            "version": "1.0",
            # open_clip's cut and zero padding, so `Tokenizer.from_file(...).encode_batch` gives its ids (for
            # text ftfy/html.unescape leave alone); consumers such as Immich override both on load anyway.
            "truncation": {"direction": "Right", "max_length": self.context_length, "strategy": "LongestFirst",
                           "stride": 0},
            "padding": {"strategy": {"Fixed": self.context_length}, "direction": "Right", "pad_to_multiple_of": None,
                        "pad_id": 0, "pad_type_id": 0, "pad_token": self._token_of(0)},
            "added_tokens": [{"id": self.sot_id, "content": _HF_SOT, **special},
                             {"id": self.eot_id, "content": _HF_EOT, **special}],
            # Hugging Face has no ftfy or html.unescape; NFC + whitespace collapse + lower-case is the rest.
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "NFC"},
                {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "},
                {"type": "Lowercase"}]},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": _HF_SPLIT}, "behavior": "Removed", "invert": True},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
            "post_processor": {"type": "RobertaProcessing", "sep": [_HF_EOT, self.eot_id],
                               "cls": [_HF_SOT, self.sot_id], "trim_offsets": False, "add_prefix_space": False},
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": _HF_EOT, "continuing_subword_prefix": "",
                      "end_of_word_suffix": _SUFFIX, "fuse_unk": False, "byte_fallback": False,
                      "vocab": vocab,
                      # "a b" strings: read by every tokenizers version (CLIP's symbols hold no spaces).
                      "merges": [f"{a} {b}" for a, b in self._merges]},
        }

    def write_tokenizer_json(self, path: Path) -> None:
        """Write a Hugging Face tokenizer.json that `tokenizers` loads and from_tokenizer_json reads back."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(self.tokenizer_json(), out, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _token_of(self, token_id: int) -> str:
        """The token string of an id (for the padding entry)."""
        return next((t for t, i in self._encoder.items() if i == token_id), _HF_EOT)

    # ---- encoding ------------------------------------------------------------------------------

    def encode(self, texts: Sequence[str]) -> Tokens:
        """Token ids (n, context_length) of the texts, and which of them were cut."""
        if isinstance(texts, (str, bytes)):
            raise BadText("encode takes a sequence of texts, not a single string")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise BadText(f"text {i} is {type(text).__name__}, not str")
        length = self.context_length
        ids = np.zeros((len(texts), length), dtype=np.int64)
        truncated: list[bool] = []
        for row, text in enumerate(texts):
            tokens = [self.sot_id, *self._content_ids(text, limit=length - 1), self.eot_id]
            cut = len(tokens) > length
            if cut:  # open_clip's cut: keep the first context_length ids, then put the end token last
                tokens = tokens[:length]
                tokens[-1] = self.eot_id
            ids[row, :len(tokens)] = tokens
            truncated.append(cut)
        return Tokens(ids=ids, truncated=truncated)

    def _content_ids(self, text: str, limit: int) -> list[int]:
        """The ids of a text's tokens, stopping once more than `limit` are known (the rest would be cut)."""
        out: list[int] = []
        for match in _PATTERN.finditer(_clean(text)):
            piece = match.group()
            special = self._specials.get(piece)
            if special is not None:
                out.append(special)
            else:
                try:
                    symbols = "".join(self._bytes[b] for b in piece.encode("utf-8"))
                except UnicodeEncodeError as exc:  # ftfy replaces lone surrogates; this is a safety net
                    raise BadText(f"text is not encodable as UTF-8: {exc}") from exc
                out.extend(self._bpe(symbols))
            if len(out) > limit:
                break
        return out

    def _bpe_uncached(self, token: str) -> tuple[int, ...]:
        """Merge a byte-mapped pre-token as CLIP does; return the ids.

        CLIP's rule, in rounds: take the adjacent pair of lowest merge rank, merge all its
        non-overlapping occurrences left to right, repeat until no pair has a rank. open_clip rescans
        the word every round (quadratic: a 20,000-letter word takes seconds); here a heap of
        (rank, position) finds each round's pair and its occurrences, so a round costs what it merges.
        Stale heap entries (their symbols have changed) are dropped when popped.
        """
        symbols: list[str | None] = [*token[:-1], token[-1] + _SUFFIX]
        n = len(symbols)
        following = list(range(1, n + 1))  # index of the next live symbol (n: none)
        preceding = list(range(-1, n - 1))  # index of the previous live symbol (-1: none)
        ranks = self._ranks
        heap = [(rank, i) for i in range(n - 1) if (rank := ranks.get((symbols[i], symbols[i + 1]))) is not None]
        heapq.heapify(heap)
        while heap:
            rank = heap[0][0]
            first, second = self._merges[rank]
            positions = set()
            while heap and heap[0][0] == rank:
                positions.add(heapq.heappop(heap)[1])
            for i in sorted(positions):  # left to right, as CLIP's scan
                j = following[i]
                # Still this pair? (an earlier merge of this round may have taken one of its symbols)
                if symbols[i] != first or j >= n or symbols[j] != second:
                    continue
                symbols[i] = first + second
                symbols[j] = None
                following[i] = k = following[j]
                if k < n:
                    preceding[k] = i
                    if (right := ranks.get((symbols[i], symbols[k]))) is not None:
                        heapq.heappush(heap, (right, i))
                h = preceding[i]
                if h >= 0 and (left := ranks.get((symbols[h], symbols[i]))) is not None:
                    heapq.heappush(heap, (left, h))
        return tuple(self._encoder[s] for s in symbols if s is not None)

    # ---- comparison ----------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        """Same vocabulary, merges, special ids and context length (so the same ids for every text)."""
        if not isinstance(other, ClipTokenizer):
            return NotImplemented
        return (self._encoder, self._merges, self.sot_id, self.eot_id, self.context_length) == (
            other._encoder, other._merges, other.sot_id, other.eot_id, other.context_length)

    __hash__ = None  # type: ignore[assignment]  # mutable cache inside; equality is by content
