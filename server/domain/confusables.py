"""Subject ids that look like another one: the skeleton two ids share when a person cannot tell them apart, and the
scripts an id is written in (Unicode TR39, "Security Mechanisms", in the small).

Why: a gate operator, a card printer or a roster import sees `аlice` (Cyrillic а) and `alice` as one person, the gate
sees two. An `enroll` key could add an attacker's face under a look-alike of a student's id, and a desk reading the
id aloud would admit them as the student. So a new subject id is refused when

- it mixes scripts (Latin with Cyrillic, Greek with Latin, ...): INVALID_ARGUMENT. Digits and `. _ - @ : +` belong
  to every script; Japanese (Han + Hiragana + Katakana), Chinese (Han + Bopomofo) and Korean (Han + Hangul) ids may
  mix those, with Latin, as TR39's "highly restrictive" level allows;
- its skeleton is that of an enrolled subject: it names that subject. The skeleton is TR39's: NFKC (fullwidth
  letters and digits, mathematical letters, ligatures to their plain forms), then each character to the prototype
  it is confused with (Cyrillic and Greek look-alikes of Latin letters, `0` as `O`, `1` and `I` as `l`, `rn` as `m`),
  then NFC. Case is kept, as TR39 keeps it: `Alice` and `alice` differ in how they look.

The map is the common part of TR39's confusables.txt (the letters of Latin, Cyrillic and Greek that render alike in
ordinary fonts), not all of its 6,000 lines: an id in another script is compared as written.
"""

from __future__ import annotations

import hashlib
import unicodedata

# Character -> the prototype it is confused with (TR39's confusables.txt, the common cases).
CONFUSABLES: dict[str, str] = {
    # Cyrillic small letters that look like Latin ones
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d",
    "һ": "h", "ԛ": "q", "ԝ": "w", "ӏ": "l", "ɡ": "g", "ү": "y",
    # Cyrillic capitals
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X",
    "У": "Y", "Ѕ": "S", "І": "l", "Ј": "J", "Ԛ": "Q", "Ԝ": "W", "Ү": "Y", "Ӏ": "l", "З": "3",
    # Greek small letters
    "α": "a", "ο": "o", "ν": "v", "ρ": "p", "ι": "i", "υ": "u", "χ": "x", "γ": "y", "ϲ": "c", "ϳ": "j", "κ": "k",
    # Greek capitals
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "l", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P",
    "Τ": "T", "Υ": "Y", "Χ": "X",
    # Latin letters and digits confused with each other
    "0": "O", "1": "l", "I": "l", "ı": "i", "ɑ": "a",
}
SEQUENCES = (("rn", "m"),)  # pairs of characters read as one

# Scripts that TR39's "highly restrictive" level lets one identifier mix (with Common characters such as digits).
_MIXES = ({"Latin", "Han", "Hiragana", "Katakana"}, {"Latin", "Han", "Bopomofo"}, {"Latin", "Han", "Hangul"})
# First words of Unicode character names that are not a script's name.
_NAMED = {"CJK": "Han", "IDEOGRAPHIC": "Han", "KATAKANA-HIRAGANA": "Katakana", "HALFWIDTH": "", "FULLWIDTH": "",
          "MODIFIER": "", "SUPERSCRIPT": "", "SUBSCRIPT": "", "DIGIT": "", "LOW": "", "MATHEMATICAL": ""}


def skeleton(subject_id: str) -> str:
    """The form two ids share when they look alike (TR39 skeleton over the map above)."""
    text = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", subject_id))
    text = "".join(CONFUSABLES.get(character, character) for character in text)
    for sequence, prototype in SEQUENCES:
        text = text.replace(sequence, prototype)
    return unicodedata.normalize("NFC", text)


def skeleton_digest(subject_id: str) -> str:
    """The hex SHA-256 of an id's skeleton: what Redis keys the skeleton by (store/subjects.py)."""
    return hashlib.sha256(skeleton(subject_id).encode("utf-8")).hexdigest()


def script_of(character: str) -> str:
    """The script of one character ("" for digits, punctuation and marks, which go with any script)."""
    category = unicodedata.category(character)
    if not (category.startswith("L") or (category == "Nd" and not character.isascii())):
        return ""
    name = unicodedata.name(character, "")
    first = name.split(" ", 1)[0]
    script = _NAMED.get(first, first.title())
    if script == "Katakana" and first == "KATAKANA-HIRAGANA":
        return ""  # the prolonged sound mark: either kana
    return script


def scripts(subject_id: str) -> set[str]:
    """The scripts an id is written in, after NFKC (fullwidth Latin is Latin)."""
    return {s for s in map(script_of, unicodedata.normalize("NFKC", subject_id)) if s}


def mixed_scripts(subject_id: str) -> set[str]:
    """The scripts of an id that mixes scripts no single writing system mixes; empty when it does not."""
    found = scripts(subject_id)
    if len(found) <= 1 or any(found <= allowed for allowed in _MIXES):
        return set()
    return found
