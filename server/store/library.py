"""A photo library's records in Redis, one store per kind of record, sharing one client and one change feed."""

from __future__ import annotations

import redis

from .collections import CollectionRegistry
from .faces import FaceStore
from .feed import ChangeFeed
from .grouping import GroupingStore
from .photo_vectors import PhotoVectorStore
from .photos import PhotoStore
from .plain_vectors import PlainVectorStore
from .reembed import ReembedStore


class LibraryStore:
    """Every record of the photo-library collections: the registry, photos, faces, photo vectors, plain vectors,
    groupings and re-embedding state."""

    def __init__(self, client: redis.Redis, feed: ChangeFeed | None = None) -> None:
        self.redis = client
        self.feed = feed or ChangeFeed(client)
        self.collections = CollectionRegistry(client, self.feed)
        self.photos = PhotoStore(client, self.feed)
        self.faces = FaceStore(client)
        self.photo_vectors = PhotoVectorStore(client, self.feed)
        self.plain_vectors = PlainVectorStore(client, self.feed)
        self.grouping = GroupingStore(client, self.feed)
        self.reembed = ReembedStore(client, self.feed)
