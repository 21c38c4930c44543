"""The seams the domain depends on (encoder/ports.py) are met by both sides: the models here and the encoder servers."""

from __future__ import annotations

import inspect

import pytest

from facegrid.encoder import ports
from facegrid.encoder.pipeline import FacePipeline
from facegrid.encoder.towers.model import TowerModel
from facegrid.encoder.towers.registry import ModelRegistry
from facegrid.encoder.worker_pools import BulkWorkers
from facegrid.server.domain.pipelines import Pipelines
from facegrid.server.remote.bulk import RemoteBulk
from facegrid.server.remote.models import RemoteFacePipeline, RemotePipelines, RemoteRegistry, RemoteTowerModel

IMPLEMENTATIONS = [
    (ports.FaceEncoder, [FacePipeline, RemoteFacePipeline]),
    (ports.FrameEncoder, [FacePipeline]),  # a door's Pass runs where the models are
    (ports.FaceEncoders, [Pipelines, RemotePipelines]),
    (ports.TowerEncoder, [TowerModel, RemoteTowerModel]),
    (ports.TowerEncoders, [ModelRegistry, RemoteRegistry]),
    (ports.BulkEncoder, [BulkWorkers, RemoteBulk]),
]


def methods(protocol: type) -> dict[str, inspect.Signature]:
    """The protocol's methods (its own and its bases'), by name."""
    found = {}
    for cls in reversed(protocol.__mro__):
        if getattr(cls, "_is_protocol", False) and cls.__module__ == ports.__name__:
            found.update({name: inspect.signature(value) for name, value in vars(cls).items() if inspect.isfunction(value) and not name.startswith("_")})
    return found


@pytest.mark.parametrize("protocol, implementation",
                         [(protocol, cls) for protocol, classes in IMPLEMENTATIONS for cls in classes],
                         ids=lambda value: value.__name__)
def test_each_implementation_takes_every_call_of_its_port(protocol, implementation):
    declared = methods(protocol)
    assert declared, protocol
    for name, signature in declared.items():
        assert callable(getattr(implementation, name, None)), f"{implementation.__name__} has no {name}"
        wanted = [p for p in signature.parameters.values() if p.name != "self"]
        actual = inspect.signature(getattr(implementation, name)).parameters
        for parameter in wanted:  # every argument the domain may pass, by position and by name
            assert parameter.name in actual, f"{implementation.__name__}.{name} takes no {parameter.name!r}"
        required = [p.name for p in actual.values()
                    if p.name != "self" and p.default is inspect.Parameter.empty and p.kind is not p.VAR_POSITIONAL]
        assert set(required) <= {p.name for p in wanted}, f"{implementation.__name__}.{name} needs more than the port gives"
