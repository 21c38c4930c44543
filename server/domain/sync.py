"""What each kind of change-feed entry does to this server's derived state (FAISS, cached groups).

Wired once in main.py. Every handler re-reads the state from Redis, so an entry applied
twice or out of turn does no harm; after a gap in the feed everything is rebuilt.
"""

from __future__ import annotations

import logging

from ..store import feed as kinds
from ..store.feed import Change, ChangeFeed
from .collections import Collections
from .gate import Gate
from .group_assignment import GroupAssigner

log = logging.getLogger("facegrid.server")


def follow_changes(feed: ChangeFeed, gate: Gate, collections: Collections, assigner: GroupAssigner) -> None:
    """Subscribe the gate, the collections and the group assigner to other servers' changes."""

    def subject_changed(change: Change) -> None:
        number = int(change.fields["number"])
        subject_id = change.fields.get("subject") or gate.subject_store.subject_ids_of([number]).get(number)
        if subject_id is None:
            gate.drop(number)  # forgotten since: its number names no one any more
        else:
            gate.refresh(subject_id, number)

    def subject_forgotten(change: Change) -> None:
        gate.drop(int(change.fields["number"]))

    def subjects_imported(change: Change) -> None:
        log.info("change feed: %s subjects imported elsewhere; gate index rebuilt: %d subjects", change.fields.get("count"), gate.rebuild())

    def vectors_changed(change: Change) -> None:
        collections.follow_vectors(change.fields["collection"], change.ids())

    def rebuild() -> None:
        subjects = gate.rebuild()
        sizes = collections.rebuild()
        assigner.forget_all()
        log.info("rebuilt from Redis: %d subjects, collections %s", subjects, sizes)

    feed.subscribe(kinds.SUBJECT_CHANGED, subject_changed)
    feed.subscribe(kinds.SUBJECT_FORGOTTEN, subject_forgotten)
    feed.subscribe(kinds.SUBJECTS_IMPORTED, subjects_imported)
    feed.subscribe(kinds.COLLECTION_CREATED, lambda change: collections.follow_collection(change.fields["collection"]))
    feed.subscribe(kinds.COLLECTION_CHANGED, lambda change: collections.follow_changed(change.fields["collection"]))
    feed.subscribe(kinds.PHOTO_VECTORS_ADDED,
                   lambda change: collections.follow_photo_vectors(change.fields["collection"], change.ids()))
    feed.subscribe(kinds.FACES_ADDED, lambda change: collections.follow_faces(change.fields["collection"], change.ids()))
    feed.subscribe(kinds.VECTORS_ADDED, vectors_changed)
    feed.subscribe(kinds.VECTORS_REMOVED, vectors_changed)
    feed.subscribe(kinds.GROUPING_CHANGED, lambda change: assigner.forget(change.fields["collection"]))
    feed.on_resync(rebuild)
