"""The one error table (server/domain/error_kinds.py): complete, and true to google.rpc's code <-> HTTP mapping."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import grpc
import pytest
import redis

from facegrid.server.domain.error_kinds import ERROR_KINDS, ErrorKind, kind_of
from facegrid.server.domain.errors import EncoderRefused, EncodersBusy
from facegrid.server.rpc.errors import status_code, status_of

# https://cloud.google.com/apis/design/errors, "Handling errors": each canonical code's HTTP status.
GOOGLE_HTTP = {
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400, "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "ABORTED": 409, "ALREADY_EXISTS": 409, "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499, "DATA_LOSS": 500, "UNKNOWN": 500, "INTERNAL": 500, "UNIMPLEMENTED": 501, "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
# The packages whose errors reach callers; encoder.train (the training recipes, a torch extra) is never served.
PACKAGES = ("facegrid.encoder", "facegrid.index", "facegrid.server.domain")
NOT_SERVED = ("facegrid.encoder.train",)


def error_classes() -> set[type[BaseException]]:
    """Every public exception class defined in the served packages' modules."""
    found = set()
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            if info.name.startswith(NOT_SERVED):
                continue
            try:
                module = importlib.import_module(info.name)
            except ImportError as missing:  # an optional dependency (pymilvus, ...): its module cannot raise anything here
                if (missing.name or "").startswith("facegrid"):
                    raise
                continue
            for attribute, value in vars(module).items():
                if (inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__
                        and not attribute.startswith("_")):
                    found.add(value)
    return found


def test_every_error_class_has_its_own_entry():
    classes = error_classes()
    assert len(classes) > 40  # the walk found the modules
    missing = sorted(f"{c.__module__}.{c.__qualname__}" for c in classes
                     if c not in ERROR_KINDS and not issubclass(c, EncoderRefused))
    assert not missing, f"add these to ERROR_KINDS in server/domain/error_kinds.py: {missing}"


def test_kinds_agree_with_google_rpc_and_grpc():
    assert {kind.name for kind in ErrorKind} == set(GOOGLE_HTTP) == {c.name for c in grpc.StatusCode} - {"OK"}
    for kind in ErrorKind:
        assert kind.http_status == GOOGLE_HTTP[kind.name], kind
        assert status_code(kind).value[0] == kind.code and status_code(kind).name == kind.name
    for cls, kind in ERROR_KINDS.items():  # every entry, so also each one's gRPC code and HTTP status
        assert isinstance(kind, ErrorKind), cls
        assert status_of(cls.__new__(cls)).name == kind.name


@pytest.mark.parametrize("error, kind", [
    (EncoderRefused("NOT_FOUND", "an encoder's own answer"), ErrorKind.NOT_FOUND),
    (EncodersBusy("every encoder is busy"), ErrorKind.RESOURCE_EXHAUSTED),
    (redis.BusyLoadingError("loading"), ErrorKind.UNAVAILABLE),  # a subclass takes its nearest listed base's kind
    (ValueError("a bug"), ErrorKind.INTERNAL),  # not a typed error: the server's fault
    (None, ErrorKind.INTERNAL),
])
def test_kind_of(error, kind):
    assert kind_of(error) is kind
