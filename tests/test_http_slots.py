"""HTTP requests of capped methods (Cluster, KMeans, SimilarPhotos, IndexPhotos) take the same slots as gRPC's
calls: beyond the cap a request is refused at once with 429, reason OVERLOADED, and the slot comes back after it.

The app is the real FastAPI frame (routes.needs, ProblemRoute, problems) with a real keyring on a real redis-server,
served by the real HttpServer over a socket; only the route's body is the test's (it waits to be let go)."""

from __future__ import annotations

import threading

import requests
from fastapi import Depends, FastAPI, Request

from facegrid.server.domain.call_slots import LONG_CALLS, CallClass
from facegrid.server.domain.keys import KeyRing
from facegrid.server.http.access import HttpAccess
from facegrid.server.http.routes import needs, router
from facegrid.server.http.server import HttpServer
from facegrid.server.store.api_keys import KeyStore


def test_a_long_call_beyond_the_shared_cap_is_refused_as_overloaded_and_its_slot_comes_back(external_redis):
    slots = CallClass("Cluster, KMeans or SimilarPhotos calls", 1, "FACEGRID_MAX_LONG_CALLS")
    entered, let_go = threading.Event(), threading.Event()
    routes = router("library")

    @routes.post("/kmeans")
    def kmeans(request: Request, caller=Depends(needs("library", "IndexService/KMeans"))) -> dict:
        entered.set()
        let_go.wait(30)
        return {"running": slots.running}

    app = FastAPI()
    app.state.access = HttpAccess(KeyRing(KeyStore(external_redis.client())), open_without_keys=True)
    app.state.call_classes = {LONG_CALLS: slots}
    app.include_router(routes)
    server = HttpServer(app, "127.0.0.1:0").start()
    url = f"http://127.0.0.1:{server.port}/v1/kmeans"
    try:
        first: list = []
        holder = threading.Thread(target=lambda: first.append(requests.post(url, timeout=30)))
        holder.start()
        assert entered.wait(30)
        refused = requests.post(url, timeout=30)  # the one slot is held
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "RESOURCE_EXHAUSTED" and refused.json()["reason"] == "OVERLOADED"
        assert "FACEGRID_MAX_LONG_CALLS" in refused.json()["detail"] and refused.headers["Retry-After"] == "1"
        assert slots.running == 1
        let_go.set()
        holder.join(30)
        assert first[0].status_code == 200 and first[0].json() == {"running": 1}
        for _ in range(100):  # given back once the request has ended (the dependency's exit may follow the answer)
            if slots.running == 0:
                break
            threading.Event().wait(0.05)
        assert slots.running == 0
        assert requests.post(url, timeout=30).status_code == 200
    finally:
        let_go.set()
        server.stop()
