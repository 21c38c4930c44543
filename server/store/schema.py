"""Every Redis key name facegrid uses, in one place (subject ids are NFC-normalised UTF-8).

Redis is the system of record; FAISS collections are rebuilt from it. Writes of one
operation go in one MULTI/EXEC transaction, and with AOF `appendfsync always` Redis
answers only once they are on disk.

Hash tags (Redis Cluster). A MULTI/EXEC on a Redis Cluster may only touch keys of one
hash slot, and Redis hashes only the part of a name inside its first `{…}`. So every
name starts with a tag naming its domain, and each transaction stays inside one:

    {fg}:…           the gate (subjects, templates, subject numbers, the subject list), API keys,
                     the collection registry, id counters, and the change feed of those
    {fg:c:<c>}:…     everything of one photo collection <c>, with its own change stream and sequence
    {fg:audit}       the audit stream (appended alone, never in a transaction with other keys)

Why not one slot per subject: an enrollment also writes the subject list (fg:subjects,
read in lexical order to list and to rebuild), the subject number's key, the change
sequence and the change feed entry that tells other servers, all in the one transaction
that makes it atomic and crash-safe. Per-subject slots would split that into several
writes with repair on crash, for data that does not need spreading: 60,000 people with
5 templates of 2.5 KiB are about 0.7 GiB, a fraction of one master. The load that does
outgrow a machine is photo libraries (millions of faces), and each collection gets a slot
of its own, so collections spread over the masters; one collection is one slot (one
master), which is the trade-off: a single library larger than a master's memory would
need splitting into several collections. On a single Redis (embedded or external) the
tags are plain characters of the names and change nothing.

Data written before the tags (names starting `fg:`) is renamed at start by migrate.py
(`legacy_name_map`).

Gate:
    {fg}:seq                       int     change sequence number, +1 per change of the gate, keys and registry
    {fg}:next:subject, {fg}:next:template  int  id counters
    {fg}:subjects                  zset    subject ids, all score 0 (listed in lexical order)
    {fg}:subject:<id>              hash    number, display_name, created_at; groups (comma-separated, sorted; absent:
                                           none), status (suspended; absent: active), expires_at (Unix time; absent or
                                           0: never); skeleton (hex SHA-256 of the id's look-alike skeleton)
    {fg}:skeleton:<sha256>         string  the subject id holding a skeleton (domain/confusables.py): a new id whose
                                           skeleton is held by another is refused (set at start for older subjects)
    {fg}:subject_number:<n>        string  subject id of a subject number
    {fg}:subject:<id>:templates    set     template ids
    {fg}:subject:<id>:photos       hash    photo sha256 -> template ids, comma-separated: one per model
                                           the photo was enrolled with (re-enrolling is a no-op)
    {fg}:template:<tid>            hash    subject, model, vector (float32 bytes), photo_sha256,
                                           quality (JSON), created_at
    {fg}:layout                    int     the key layout of this Redis (LAYOUT: the tags above), set by migrate.py

Photo libraries, per collection <c>:
    {fg}:collections               hash    collection name -> JSON {model, dim, created_at, and where the
                                           collection has an image model: image_model, image_dim}
    {fg}:next:face                 int     face id counter (ids are unique across collections)
    {fg}:next:photo                int     photo id counter (ids of whole-photo vectors, unique across collections)
    {fg:c:<c>}:seq                 int     change sequence number of the collection
    {fg:c:<c>}:changes             stream  the collection's change feed (as {fg}:changes, for its own changes)
    {fg:c:<c>}:photos              hash    photo sha256 -> JSON {paths, faces: [face ids], indexed_at}
    {fg:c:<c>}:face:<id>           hash    photo_sha256, box (JSON), quality (JSON), vector (float32 bytes)
    {fg:c:<c>}:photo_ids           hash    photo sha256 -> photo id: the photos that have a whole-photo vector
                                           (HSETNX: one vector per photo, whoever writes first)
    {fg:c:<c>}:photo:<id>          hash    photo_sha256, vector (float32 bytes of the collection's image model)
    {fg:c:<c>}:reembed             hash    the background embedding of photos indexed before the collection had
                                           its image model: state (running | done), model, started_at, finished_at
    {fg:c:<c>}:reembed:missing     hash    photo sha256 -> why it could not be embedded again (no stored path
                                           still holds the photo)
    {fg:c:<c>}:reembed_lock        string  token of the server running the collection's re-embedding
    {fg:c:<c>}:groups              hash    face id -> group id (the last clustering, plus assignments)
    {fg:c:<c>}:clustering          hash    threshold, min_size, created_at
    {fg:c:<c>}:vectors             hash    id -> float32 bytes (collections of plain vectors, model "vectors")
    {fg:c:<c>}:pins                hash    face id -> person label from a user's correction
    {fg:c:<c>}:corrections         list    JSON of each correction with what it replaced (for undo)
    {fg:c:<c>}:grouping_version    int     +1 per clustering, correction or undo (cached group means
                                           of an older version are stale)
    {fg:c:<c>}:grouping_lock       string  token of the server regrouping or correcting the collection
                                           (SET NX PX, renewed while held)

Several servers on one Redis:
    {fg}:changes                   stream  the change feed of the gate, keys and registry: one entry per change
                                           (kind, origin server, the kind's fields), written in the change's own
                                           MULTI/EXEC, trimmed to about 100k entries (feed.py); each collection's
                                           own changes go to {fg:c:<c>}:changes, in its slot

Doors (who may pass where; read by every Pass, cached nowhere):
    {fg}:doors                     hash    door name -> JSON {groups, hours, timezone, fallback, updated_at}
    {fg}:doors:seen                hash    door name -> when its last Pass came (Unix time, to ~10 s; written in the
                                           background, only for doors that have a record; kept when one is deleted)
    {fg}:probe:<id>                string  a probe thumbnail: the JPEG (~96 px) of the face a Pass compared, only where
                                           FACEGRID_PROBE_THUMBNAILS_DAYS > 0; TTL the retention; <id> random, named by
                                           the Pass's audit entry (probe_thumbnails.py)
    {fg}:probes:<subject id>       set     the probe thumbnail ids of a recognised subject (TTL the retention, renewed
                                           by each new one), so Forget removes them

Access (API keys are random; only their SHA-256 is stored, never the key):
    {fg}:keys                      hash    key name -> hex SHA-256 of the key (revoked keys stay listed)
    {fg}:key:<sha256>              hash    name, scopes (JSON list), created_at, revoked_at (absent: live), door (the
                                           door a gate key is bound to; absent: none)
    {fg}:keys:used                 hash    key name -> when it was last used (Unix time, to the minute)
    {fg:audit}                     stream  one entry per gate decision and key change: key, rpc, subject (its
                                           pseudonym, never the id), decision, score, threshold, peer, detail, and
                                           for Pass door and reason; the entry id is its time; trimmed (MINID) to the
                                           retention period

Pseudonyms (pseudonyms.py; the audit log and Forget):
    {fg}:pseudonym_secret          string  32 random bytes: the HMAC key of subject pseudonyms (made once)
    {fg}:pseudonyms                hash    pseudonym -> subject id, for enrolled subjects only (Forget removes it)
    {fg}:forgotten                 zset    pseudonyms of forgotten subjects, scored by when they were forgotten
    {fg}:privacy                   int     PRIVACY once this Redis has pseudonyms (migrate.py: `upgrade_privacy`)
    {fg}:scrubbed_at               float   when the last append-only file rewrite after a Forget was asked for
                                           (forget_scrub.py: a start finds out whether one is owed)
"""

from __future__ import annotations

LAYOUT = 2  # 1: the untagged `fg:` names of before; 2: the hash tags above
LEGACY_PREFIX = "fg:"  # every name of layout 1 starts with it; no name of layout 2 does
PREFIX = "{fg}:"  # the gate's slot
SEQ = PREFIX + "seq"
NEXT_SUBJECT = PREFIX + "next:subject"
NEXT_TEMPLATE = PREFIX + "next:template"
SUBJECTS = PREFIX + "subjects"
COLLECTIONS = PREFIX + "collections"
NEXT_FACE = PREFIX + "next:face"
NEXT_PHOTO = PREFIX + "next:photo"
CHANGES = PREFIX + "changes"
LAYOUT_KEY = PREFIX + "layout"


def subject_key(subject_id: str) -> str:
    """The hash of one subject's fields (number, name, groups, status, expiry, skeleton)."""
    return f"{PREFIX}subject:{subject_id}"


def subject_templates_key(subject_id: str) -> str:
    """The set of one subject's template ids."""
    return f"{PREFIX}subject:{subject_id}:templates"


def subject_photos_key(subject_id: str) -> str:
    """One subject's enrolled photos: photo sha256 -> template ids."""
    return f"{PREFIX}subject:{subject_id}:photos"


def skeleton_key(digest: str) -> str:
    """Which subject holds a look-alike skeleton (a new id with the same one is refused)."""
    return f"{PREFIX}skeleton:{digest}"


def subject_number_key(number: int) -> str:
    """The subject id of a subject number."""
    return f"{PREFIX}subject_number:{number}"


def template_key(template_id: int) -> str:
    """The hash of one template: subject, model, vector, photo and quality."""
    return f"{PREFIX}template:{template_id}"


def _c(collection: str) -> str:
    """The prefix of a collection's keys: its own hash tag (collection names never hold braces)."""
    return f"{{fg:c:{collection}}}:"


def collection_seq_key(collection: str) -> str:
    """A collection's change sequence number."""
    return _c(collection) + "seq"


def collection_changes_key(collection: str) -> str:
    """A collection's own change feed stream."""
    return _c(collection) + "changes"


def photos_key(collection: str) -> str:
    """A collection's photos: sha256 -> paths, face ids and when indexed."""
    return _c(collection) + "photos"


def face_key(collection: str, face_id: int) -> str:
    """The hash of one face of a collection: photo, box, quality and vector."""
    return _c(collection) + f"face:{face_id}"


def photo_ids_key(collection: str) -> str:
    """A collection's photo sha256 -> photo id, for photos with a whole-photo vector."""
    return _c(collection) + "photo_ids"


def photo_key(collection: str, photo_id: int) -> str:
    """The hash of one whole-photo vector of a collection."""
    return _c(collection) + f"photo:{photo_id}"


def reembed_key(collection: str) -> str:
    """The state of a collection's background re-embedding."""
    return _c(collection) + "reembed"


def reembed_missing_key(collection: str) -> str:
    """A collection's photos that could not be embedded again, with why."""
    return _c(collection) + "reembed:missing"


def reembed_lock_key(collection: str) -> str:
    """The lock of the server running a collection's re-embedding."""
    return _c(collection) + "reembed_lock"


def groups_key(collection: str) -> str:
    """A collection's face id -> group id."""
    return _c(collection) + "groups"


def clustering_key(collection: str) -> str:
    """The settings of a collection's last clustering (threshold, min size, when)."""
    return _c(collection) + "clustering"


def vectors_key(collection: str) -> str:
    """A plain-vector collection's id -> float32 bytes."""
    return _c(collection) + "vectors"


def pins_key(collection: str) -> str:
    """A collection's face id -> person label pinned by a user's correction."""
    return _c(collection) + "pins"


def corrections_key(collection: str) -> str:
    """A collection's list of corrections, with what each replaced (for undo)."""
    return _c(collection) + "corrections"


def grouping_version_key(collection: str) -> str:
    """A collection's grouping version, +1 per clustering, correction or undo."""
    return _c(collection) + "grouping_version"


def grouping_lock_key(collection: str) -> str:
    """The lock of the server regrouping or correcting a collection."""
    return _c(collection) + "grouping_lock"


DOORS = PREFIX + "doors"
DOORS_SEEN = PREFIX + "doors:seen"


def probe_key(probe_id: str) -> str:
    """One probe thumbnail (a JPEG with a TTL)."""
    return f"{PREFIX}probe:{probe_id}"


def subject_probes_key(subject_id: str) -> str:
    """The set of a subject's probe thumbnail ids."""
    return f"{PREFIX}probes:{subject_id}"

API_KEYS = PREFIX + "keys"
API_KEYS_USED = PREFIX + "keys:used"
AUDIT = "{fg:audit}"


PSEUDONYM_SECRET = PREFIX + "pseudonym_secret"
PSEUDONYMS = PREFIX + "pseudonyms"
FORGOTTEN = PREFIX + "forgotten"
PRIVACY_KEY = PREFIX + "privacy"
SCRUBBED_AT = PREFIX + "scrubbed_at"
PRIVACY = 1  # audit entries name pseudonyms; the change feed names subjects by number


def api_key_key(digest: str) -> str:
    """The hash of one API key's record, by the key's SHA-256."""
    return f"{PREFIX}key:{digest}"


def legacy_name_map(name: str) -> str | None:
    """The layout-2 name of a layout-1 key (`fg:…`), or None for a name that is not one.

    Layout 1 had the same names without tags: `fg:X` for the gate, keys and registry,
    `fg:c:<c>:X` for a collection (collection names never hold a colon), `fg:audit`."""
    if not name.startswith(LEGACY_PREFIX):
        return None
    rest = name[len(LEGACY_PREFIX):]
    if rest == "audit":
        return AUDIT
    if rest.startswith("c:"):
        collection, colon, tail = rest[2:].partition(":")
        if colon and collection:
            return _c(collection) + tail
    return PREFIX + rest
