"""What every record store of the photo libraries shares: the Redis client, the change feed, and id counters."""

from __future__ import annotations

import redis

from .feed import ChangeFeed


class LibraryRecords:
    """The base of one kind of photo-library record in Redis: each change it makes goes into the collection's feed."""

    def __init__(self, client: redis.Redis, feed: ChangeFeed | None = None) -> None:
        self.redis = client
        self.feed = feed or ChangeFeed(client)

    def _publish(self, pipe, kind: str, collection: str, **fields) -> None:
        """A feed entry of a change of the collection's own keys: into its stream, in its slot."""
        self.feed.publish(pipe, kind, stream=self.feed.collection_stream(collection), collection=collection, **fields)

    def _take_ids(self, counter: str, count: int) -> int:
        """The first of `count` new ids from a counter (0 for none).

        In a transaction of its own: the counters live in the gate's slot, the records made with the ids in
        the collection's, so on a cluster the transaction's WAIT is what keeps a failover of the gate's master
        from handing out ids again that committed records already hold."""
        if not count:
            return 0
        pipe = self.redis.pipeline(transaction=True)
        pipe.incrby(counter, count)
        return int(pipe.execute()[0]) - count + 1


def chunks(items, size: int):
    """`items` in lists of `size` (the last one shorter)."""
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
