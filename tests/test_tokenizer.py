"""The pure-Python CLIP tokenizer gives open_clip's ids, from its BPE file and from a tokenizer.json we write."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facegrid.encoder.errors import BadModelFolder, BadText
from facegrid.encoder.towers.tokenizer import ClipTokenizer

open_clip = pytest.importorskip("open_clip", reason="open_clip (with torch) is the reference tokenizer")
BPE = Path(open_clip.tokenizer.default_bpe())
EOT = 49407

HAND_PICKED = [
    "", " ", "   \t\n  ", "\u3000\u00a0\u2028", "a", "A", "a photo of a cat", "A PHOTO OF A DOG.",
    "It's a dog's life, isn't it? We'll see; they'd've ... I'M HERE", "don’t — “quotes” ‘single’",
    "<start_of_text>", "<END_OF_TEXT> after", "x<start_of_text>y", "<|startoftext|> hf spelling <|endoftext|>",
    "Tom &amp; Jerry", "it&#39;s", "&lt;b&gt;bold&lt;/b&gt;", "&amp;amp; twice", "&amp;amp;amp; thrice", "&quot;q&quot;",
    "&nbsp;x&nbsp;", "&#x1F600;", "&copy; 2024", "&bogus; &", "&#0; &#99999999;",
    "cafÃ©", "naÃ¯ve rÃ©sumÃ©", "â€œquotedâ€\x9d", "Ã¢â‚¬Å“doubleÃ¢â‚¬Â", "The Mona Lisa doesnÃ¢â‚¬â„¢t have eyebrows.",
    "\x00\x01\x02 ctrl \x07\x08\x1b[31m red \x7f\x85 end", "zero\u200bwidth\u200d\ufeffbom", "\r\n\r\nlines\r",
    "soft\u00adhyphen", "rtl \u202eevil\u202c", "\ud800 lone \udc00 surrogates", "\U0001f600\ud83d\ude00",
    "日本語のテキストです。", "中文，标点符号！", "한국어 문장입니다", "Русский текст, Ёё", "Ελληνικά κείμενα",
    "العربية: مرحبا بالعالم", "עברית שלום", "हिन्दी पाठ नमस्ते", "ภาษาไทย สวัสดี", "ქართული", "ᚠᚢᚦᚨᚱᚲ",
    "e\u0301 vs é", "Å Å Å", "z̴̢̛͓̮a̵̡͕l̸̳͝g̷̛o̶", "ﬁ ligature ﬀ", "ＦＵＬＬＷＩＤＴＨ １２３", "İstanbul ıi ẞ ß ſ K",
    "😀", "👨‍👩‍👧‍👦 family", "👍🏽 tone", "🇫🇷🇯🇵🇺🇸", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 scotland", "1️⃣ keycap", "❤️‍🔥", "🧑🏿‍🚀",
    "3.14159 1,000,000 -42 +7 1e10 0x1F", "٣٤٥ ٠١٢ ४२ 〇一二", "½ ² ⅷ", "!!!??? ... --- *** ### @@@",
    "$100 €50 £20 ¥1000 ₹", "email@example.com https://example.com/path?q=1&r=2#frag", "C++ C# .NET node.js",
    "a" * 300, "ab" * 400, "supercalifragilisticexpialidocious" * 20, "日" * 200, "😀" * 100,
    " ".join(["word"] * 100), " ".join(f"token{i}" for i in range(200)), "a " * 75, "a " * 74, "a " * 76,
    "ab " * 75, "1" * 80, "one two three " * 30,
]

ASCII_WORDS = ("a photo of the cat dog man woman child car tree house beach sunset mountain river city night "
               "day red blue green big small old new running sitting happy smiling portrait landscape "
               "Hello WORLD Photo JPEG IMG_2024 don't it's we're they've I'm you'll he'd").split()
SCRIPTS = ["日本語のテキスト", "中文字符串", "한국어", "Кириллица", "Ελληνικά", "العربية", "עברית", "हिन्दी", "தமிழ்",
           "ภาษาไทย", "ગુજરાતી", "Tiếng Việt", "Dansk æøå", "Ñandú", "Straße", "Ångström"]
EMOJI = ["😀", "🐱", "👨‍👩‍👧", "👍🏻", "🇩🇪", "🇧🇷", "❤️", "🏳️‍🌈", "👩🏽‍💻", "✨", "🎉", "#️⃣", "🫠"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["…", "—", "«", "»", "¿", "¡", "·", "•", "©", "™"]
ENTITIES = ["&amp;", "&#39;", "&lt;", "&gt;", "&quot;", "&nbsp;", "&#8212;", "&#x263A;", "&eacute;", "&amp;lt;"]
CONTROL = ["\x00", "\x01", "\t", "\n", "\r", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u200b", "\u200d", "\ufeff",
           "\u2028", "\u00a0", "\u3000", "\u202e"]


def _mojibake(rng: random.Random) -> str:
    """Accented text decoded with the wrong codec, as ftfy is built to fix."""
    word = rng.choice(["café", "naïve", "résumé", "Ærøskøbing", "façade", "“smart quotes”", "niño — ok", "über"])
    return word.encode("utf-8").decode(rng.choice(["latin-1", "cp1252"]), errors="replace")


def _random_piece(rng: random.Random) -> str:
    """One piece of a random text: a word of some kind, whitespace, an entity, a control character ..."""
    kind = rng.randrange(12)
    if kind < 3:
        word = rng.choice(ASCII_WORDS)
        return word.upper() if rng.random() < 0.1 else word
    if kind == 3:
        return rng.choice(SCRIPTS)
    if kind == 4:
        return rng.choice(EMOJI)
    if kind == 5:
        return "".join(rng.choice(PUNCT) for _ in range(rng.randrange(1, 4)))
    if kind == 6:
        return str(rng.randrange(10 ** rng.randrange(1, 8)))
    if kind == 7:
        return rng.choice(ENTITIES)
    if kind == 8:
        return rng.choice(CONTROL)
    if kind == 9:
        return _mojibake(rng)
    if kind == 10:  # a letter with combining marks
        return rng.choice("aeoinuAEZ") + "".join(chr(rng.randrange(0x300, 0x370)) for _ in range(rng.randrange(1, 4)))
    # any code point of the BMP or the first astral planes (lone surrogates included: ftfy replaces them)
    return "".join(chr(rng.randrange(0x20, 0x30000)) for _ in range(rng.randrange(1, 6)))


def _random_text(rng: random.Random) -> str:
    """A random text; some run far past the context length."""
    count = rng.choice([0, 1, 2, 3, 5, 8, 13, 40, 100])
    glue = rng.choice([" ", " ", " ", "", "  ", "\t", "\n"])
    return glue.join(_random_piece(rng) for _ in range(count))


def _long_word(rng: random.Random) -> str:
    """One word far longer than the context (many BPE rounds: a small alphabet merges a lot)."""
    alphabet = rng.choice(["ab", "abc", "etaoinshrdlu", "abcdefghijklmnopqrstuvwxyz", "日本語", "аб"])
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(50, 1500)))


def corpus() -> list[str]:
    """The hand-picked texts plus 1,100 seeded random ones."""
    rng = random.Random(20261202)
    texts = list(HAND_PICKED)
    texts += [_random_text(rng) for _ in range(1060)]
    texts += [_long_word(rng) for _ in range(40)]
    return texts


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus()


def _open_clip_reference(texts: list[str], context_length: int) -> tuple[np.ndarray, list[bool]]:
    """open_clip's ids, and whether each text had more tokens than fit (so open_clip cut it).

    A text's full length is where its (last) end token lands when tokenised with room to spare.
    """
    ids = open_clip.tokenize(texts, context_length=context_length).numpy()
    roomy = open_clip.tokenize(texts, context_length=2048).numpy()  # the corpus's longest is ~1,500 tokens
    assert (roomy[:, -1] == 0).all()
    ends = [int(np.flatnonzero(row == EOT)[-1]) for row in roomy]
    return ids, [end + 1 > context_length for end in ends]


@pytest.fixture(scope="module")
def reference(texts: list[str]) -> tuple[np.ndarray, list[bool]]:
    return _open_clip_reference(texts, 77)


@pytest.fixture(scope="module")
def tokenizer() -> ClipTokenizer:
    return ClipTokenizer.from_bpe_vocab(BPE)


def _assert_matches(tok: ClipTokenizer, texts: list[str], reference: tuple[np.ndarray, list[bool]]) -> None:
    ids, cut = reference
    got = tok.encode(texts)
    assert got.ids.dtype == np.int64 and got.ids.shape == (len(texts), 77)
    wrong = [i for i in range(len(texts)) if not np.array_equal(got.ids[i], ids[i])]
    assert not wrong, f"{len(wrong)} texts differ from open_clip, first {texts[wrong[0]]!r}"
    assert got.truncated == cut
    assert 20 < sum(cut) < len(texts) - 100  # the corpus really has both kinds


def test_corpus_is_large_and_varied(texts: list[str]) -> None:
    assert len(texts) >= 1000
    assert "" in texts and any(t.isspace() for t in texts) and any(len(t) > 1000 and " " not in t for t in texts)


def test_ids_equal_open_clip_from_bpe_vocab(tokenizer, texts, reference) -> None:
    _assert_matches(tokenizer, texts, reference)


def test_plain_and_gzip_vocab_load_the_same(tokenizer, tmp_path: Path) -> None:
    plain = tmp_path / "bpe.txt"
    plain.write_bytes(gzip.decompress(BPE.read_bytes()))
    assert ClipTokenizer.from_bpe_vocab(plain) == tokenizer


def test_other_context_length_cuts_as_open_clip(texts) -> None:
    short = ClipTokenizer.from_bpe_vocab(BPE, context_length=16)
    sample = texts[::7]
    ids, cut = _open_clip_reference(sample, 16)
    got = short.encode(sample)
    np.testing.assert_array_equal(got.ids, ids)
    assert got.truncated == cut and any(cut) and not all(cut)


def test_tokenizer_json_round_trip(tokenizer, texts, reference, tmp_path: Path) -> None:
    path = tmp_path / "textual" / "tokenizer.json"
    tokenizer.write_tokenizer_json(path)
    again = ClipTokenizer.from_tokenizer_json(path)
    assert again == tokenizer
    _assert_matches(again, texts, reference)
    # Newer `tokenizers` write merges as ["a", "b"] pairs; such a file reads the same.
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["model"]["merges"] = [m.split(" ") for m in doc["model"]["merges"]]
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps(doc), encoding="utf-8")
    assert ClipTokenizer.from_tokenizer_json(pairs) == tokenizer


def test_hugging_face_tokenizers_loads_the_written_file(tokenizer, tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    path = tmp_path / "tokenizer.json"
    tokenizer.write_tokenizer_json(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    assert hf.token_to_id("<|startoftext|>") == 49406 and hf.token_to_id("<|endoftext|>") == 49407
    # Plain ASCII sentences (what ftfy and html.unescape leave alone) get open_clip's ids, cut and zero
    # padding included. Elsewhere they may differ (about half of the random corpus does): Hugging Face
    # has no ftfy (curly quotes, mojibake, control characters) and no html.unescape, it reads a typed
    # "<|startoftext|>" as the special token where open_clip reads a typed "<start_of_text>", and it
    # refuses lone surrogates that ftfy replaces.
    rng = random.Random(7)
    sentences = [" ".join(rng.choice(ASCII_WORDS) for _ in range(rng.choice([1, 3, 8, 20, 90])))
                 + rng.choice(["", ".", "!", " 42", ", ok?"]) for _ in range(200)]
    sentences += ["", "a photo of a cat", "HELLO, World! It's 3:45 p.m. -- 100% ok..."]
    got = np.array([e.ids for e in hf.encode_batch(sentences)], dtype=np.int64)
    np.testing.assert_array_equal(got, open_clip.tokenize(sentences).numpy())


def test_serving_import_needs_no_torch() -> None:
    code = ("import sys, facegrid.encoder.towers.tokenizer as t; "
            "assert not {'torch', 'open_clip'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_not_text_is_bad_text(tokenizer) -> None:
    for bad in ([None], ["ok", b"bytes"], [3], "a bare string"):
        with pytest.raises(BadText):
            tokenizer.encode(bad)
    assert tokenizer.encode([]).ids.shape == (0, 77)


def _gz(data: bytes) -> bytes:
    return gzip.compress(data)


@pytest.mark.parametrize("name, content", [
    ("garbage.txt.gz", b"\x1f\x8b\x08\x00 not really gzip"),
    ("truncated.txt.gz", None),  # the real file cut in half
    ("binary.txt", bytes(range(256)) * 4),
    ("no_header.txt", b"i n\nt h\n"),
    ("three.txt", b"#version: 0.2\ni n\nt h e\n"),
    ("empty.txt.gz", _gz(b"")),
    ("unknown_symbol.txt", "#version: 0.2\ni n\nin \u4e00\n".encode()),
])
def test_bad_bpe_vocabulary_names_the_file(name: str, content: bytes | None, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(content if content is not None else BPE.read_bytes()[: BPE.stat().st_size // 2])
    with pytest.raises(BadModelFolder, match=name):
        ClipTokenizer.from_bpe_vocab(path)


def test_missing_vocabulary_names_the_file(tmp_path: Path) -> None:
    for load in (ClipTokenizer.from_bpe_vocab, ClipTokenizer.from_tokenizer_json):
        with pytest.raises(BadModelFolder, match="nowhere"):
            load(tmp_path / "nowhere" / "tokenizer.json")


def test_bad_tokenizer_json_names_the_file(tokenizer, tmp_path: Path) -> None:
    good = tokenizer.tokenizer_json()

    def variant(change) -> dict:
        """A copy of the good document, its model, vocab and merges copied (the rest shared), then changed."""
        doc = {**good, "model": {**good["model"]}}
        doc["model"]["vocab"] = dict(good["model"]["vocab"])
        doc["model"]["merges"] = list(good["model"]["merges"])
        change(doc)
        return doc

    cases = {
        "not_json": "{ nope",
        "unigram": variant(lambda d: d["model"].update(type="Unigram")),
        "gpt2_style": variant(lambda d: d["model"].update(end_of_word_suffix=None)),
        "no_merges": variant(lambda d: d["model"].update(merges=[])),
        "bad_merge": variant(lambda d: d["model"]["merges"].append("only_one")),
        "unknown_merge": variant(lambda d: d["model"]["merges"].append("zzz qqq")),
        "no_specials": variant(lambda d: (d.update(added_tokens=[]), d["model"]["vocab"].pop("<|startoftext|>"))),
        "no_bytes": variant(lambda d: d["model"]["vocab"].pop("!")),
        "list": [1, 2, 3],
    }
    for name, doc in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
        with pytest.raises(BadModelFolder, match=name):
            ClipTokenizer.from_tokenizer_json(path)
