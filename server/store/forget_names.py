"""A forgotten subject's id taken out of the photo collections that named one of their groups after it.

Naming a group (IndexService Correct) pins the group's faces to the subject id and keeps the
correction, with the pins it replaced, for Undo. After the subject's Forget those pins and
records would still name it, so they are relabelled with its pseudonym: the faces stay one
anonymous person (pins starting with `~` are anonymous), Undo of the naming finds no subject to
take templates from, and the id is in no collection any more. The faces themselves belong to the
photo library (its operator's photos, indexed from their paths) and stay; the library stores no
photos or thumbnails, only paths, boxes and vectors.
"""

from __future__ import annotations

import json

import redis

from .schema import COLLECTIONS, corrections_key, pins_key


def unname_subject(client: redis.Redis, subject_id: str, label: str) -> int:
    """Replace the subject id by `label` in every collection's pins and corrections; how many values changed."""
    changed = 0
    for raw in client.hkeys(COLLECTIONS):
        changed += _unname_in(client, raw.decode(), subject_id, label)
    return changed


def _unname_in(client: redis.Redis, collection: str, subject_id: str, label: str) -> int:
    pins, corrections = pins_key(collection), corrections_key(collection)  # one slot: the collection's
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(pins, corrections)
                named = [face for face, pin in pipe.hgetall(pins).items() if pin.decode() == subject_id]
                records = {i: _relabelled(value, subject_id, label) for i, value in enumerate(pipe.lrange(corrections, 0, -1))}
                records = {i: value for i, value in records.items() if value is not None}
                if not named and not records:
                    pipe.unwatch()
                    return 0
                pipe.multi()
                if named:
                    pipe.hset(pins, mapping={face: label for face in named})
                for index, value in records.items():
                    pipe.lset(corrections, index, value)
                pipe.execute()
                return len(named) + len(records)
            except redis.WatchError:
                continue


def _relabelled(value: bytes, subject_id: str, label: str) -> str | None:
    """A correction record (JSON) with the subject id replaced wherever it stands as a value; None if it has none."""
    record = json.loads(value)
    found = False

    def swap(item):
        nonlocal found
        if isinstance(item, str) and item == subject_id:
            found = True
            return label
        if isinstance(item, list):
            return [swap(i) for i in item]
        if isinstance(item, dict):
            return {k: swap(v) for k, v in item.items()}
        return item

    relabelled = swap(record)
    return json.dumps(relabelled) if found else None
