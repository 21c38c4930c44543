"""Every Redis key name facegrid uses, in one place (prefix `fg:`; subject ids are NFC-normalised UTF-8).

Redis is the system of record; FAISS collections are rebuilt from it. Writes of one
operation go in one MULTI/EXEC transaction, and with AOF `appendfsync always` Redis
answers only once they are on disk.

Gate:
    fg:seq                         int     change sequence number, +1 per change
    fg:next:subject, fg:next:template  int  id counters
    fg:subjects                    zset    subject ids, all score 0 (listed in lexical order)
    fg:subject:<id>                hash    number, display_name, created_at
    fg:subject_number:<n>          string  subject id of a subject number
    fg:subject:<id>:templates      set     template ids
    fg:subject:<id>:photos         hash    photo sha256 -> template ids, comma-separated: one per model
                                           the photo was enrolled with (re-enrolling is a no-op)
    fg:template:<tid>              hash    subject, model, vector (float32 bytes), photo_sha256,
                                           quality (JSON), created_at

Photo libraries, per collection <c>:
    fg:collections                 hash    collection name -> JSON {model, dim, created_at, and where the
                                           collection has an image model: image_model, image_dim}
    fg:next:face                   int     face id counter (ids are unique across collections)
    fg:next:photo                  int     photo id counter (ids of whole-photo vectors, unique across collections)
    fg:c:<c>:photos                hash    photo sha256 -> JSON {paths, faces: [face ids], indexed_at}
    fg:c:<c>:face:<id>             hash    photo_sha256, box (JSON), quality (JSON), vector (float32 bytes)
    fg:c:<c>:photo_ids             hash    photo sha256 -> photo id: the photos that have a whole-photo vector
                                           (HSETNX: one vector per photo, whoever writes first)
    fg:c:<c>:photo:<id>            hash    photo_sha256, vector (float32 bytes of the collection's image model)
    fg:c:<c>:reembed               hash    the background embedding of photos indexed before the collection had
                                           its image model: state (running | done), model, started_at, finished_at
    fg:c:<c>:reembed:missing       hash    photo sha256 -> why it could not be embedded again (no stored path
                                           still holds the photo)
    fg:c:<c>:reembed_lock          string  token of the server running the collection's re-embedding
    fg:c:<c>:groups                hash    face id -> group id (the last clustering, plus assignments)
    fg:c:<c>:clustering            hash    threshold, min_size, created_at
    fg:c:<c>:vectors               hash    id -> float32 bytes (collections of plain vectors, model "vectors")
    fg:c:<c>:pins                  hash    face id -> person label from a user's correction
    fg:c:<c>:corrections           list    JSON of each correction with what it replaced (for undo)
    fg:c:<c>:grouping_version      int     +1 per clustering, correction or undo (cached group means
                                           of an older version are stale)
    fg:c:<c>:grouping_lock         string  token of the server regrouping or correcting the collection
                                           (SET NX PX, renewed while held)

Several servers on one Redis:
    fg:changes                     stream  the change feed: one entry per change (kind, origin server,
                                           the kind's fields), written in the change's own MULTI/EXEC,
                                           trimmed to about 100k entries (feed.py)

Access (API keys are random; only their SHA-256 is stored, never the key):
    fg:keys                        hash    key name -> hex SHA-256 of the key (revoked keys stay listed)
    fg:key:<sha256>                hash    name, scopes (JSON list), created_at, revoked_at (absent: live)
    fg:keys:used                   hash    key name -> when it was last used (Unix time, to the minute)
    fg:audit                       stream  one entry per gate decision and key change: key, rpc, subject,
                                           decision, score, threshold, peer, detail; the entry id is its
                                           time; trimmed (MINID) to the retention period
"""

from __future__ import annotations

PREFIX = "fg:"
SEQ = PREFIX + "seq"
NEXT_SUBJECT = PREFIX + "next:subject"
NEXT_TEMPLATE = PREFIX + "next:template"
SUBJECTS = PREFIX + "subjects"
COLLECTIONS = PREFIX + "collections"
NEXT_FACE = PREFIX + "next:face"
NEXT_PHOTO = PREFIX + "next:photo"
CHANGES = PREFIX + "changes"


def subject_key(subject_id: str) -> str:
    return f"{PREFIX}subject:{subject_id}"


def subject_templates_key(subject_id: str) -> str:
    return f"{PREFIX}subject:{subject_id}:templates"


def subject_photos_key(subject_id: str) -> str:
    return f"{PREFIX}subject:{subject_id}:photos"


def subject_number_key(number: int) -> str:
    return f"{PREFIX}subject_number:{number}"


def template_key(template_id: int) -> str:
    return f"{PREFIX}template:{template_id}"


def photos_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:photos"


def face_key(collection: str, face_id: int) -> str:
    return f"{PREFIX}c:{collection}:face:{face_id}"


def photo_ids_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:photo_ids"


def photo_key(collection: str, photo_id: int) -> str:
    return f"{PREFIX}c:{collection}:photo:{photo_id}"


def reembed_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:reembed"


def reembed_missing_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:reembed:missing"


def reembed_lock_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:reembed_lock"


def groups_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:groups"


def clustering_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:clustering"


def vectors_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:vectors"


def pins_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:pins"


def corrections_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:corrections"


def grouping_version_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:grouping_version"


def grouping_lock_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:grouping_lock"
API_KEYS = PREFIX + "keys"
API_KEYS_USED = PREFIX + "keys:used"
AUDIT = PREFIX + "audit"


def api_key_key(digest: str) -> str:
    return f"{PREFIX}key:{digest}"
