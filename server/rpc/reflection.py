"""Server reflection under both names clients use: grpc.reflection.v1 (grpcurl, Postman) and v1alpha.

grpcio-reflection implements v1alpha only; v1's messages are the same on the wire (the protocol was renamed,
not changed), so the one servicer answers both.
"""

from __future__ import annotations

import grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

V1 = "grpc.reflection.v1.ServerReflection"


def enable_reflection(server: grpc.Server, services: tuple[str, ...]) -> None:
    """Reflection of `services` (and of itself, under both names) on `server`."""
    servicer = reflection.ReflectionServicer(services + (reflection.SERVICE_NAME, V1))
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(V1, {"ServerReflectionInfo": handler}),))
