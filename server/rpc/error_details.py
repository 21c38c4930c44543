"""Machine-readable error details for the typed errors that carry them.

Sent the standard gRPC way, as a google.rpc.Status in the `grpc-status-details-bin` trailer, so any
client (grpc-js, grpc-go, ...) can read them: an ErrorInfo whose `reason` is a constant name
(domain "facegrid.v1"), then our own message with the particulars.

A refusal for load (a full model queue, every stream or long-call slot taken, the photo budget full) is
RESOURCE_EXHAUSTED with ErrorInfo reason OVERLOADED and a RetryInfo: the server is well, only busy, so a caller
may send the same call elsewhere or retry after the delay. RESOURCE_EXHAUSTED without them (a photo over its
size limits) is the input's fault: it would be refused anywhere.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2, message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from facegrid.v1 import encoder_pb2, gate_pb2

from ..domain.error_kinds import OVERLOADED, RETRY_AFTER_S, overloaded, reason_of
from ..domain.errors import EnrollmentRefused, NoUsableFace
from . import messages

DOMAIN = "facegrid.v1"  # ErrorInfo.domain; the reasons themselves are the core's (domain/error_kinds.py)


def overload_details() -> list[message.Message]:
    """The details of a refusal for load: ErrorInfo OVERLOADED and a RetryInfo."""
    delay = duration_pb2.Duration()
    delay.FromMilliseconds(int(RETRY_AFTER_S * 1000))
    return [error_details_pb2.ErrorInfo(reason=OVERLOADED, domain=DOMAIN), error_details_pb2.RetryInfo(retry_delay=delay)]


def is_overloaded(error: grpc.RpcError) -> bool:
    """Whether a failed call was refused for load (a facegrid server's OVERLOADED), not for its input."""
    if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
        return False
    try:
        status = rpc_status.from_call(error)
    except ValueError:  # a trailer that disagrees with the call's own status
        return False
    for holder in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if holder.Is(info.DESCRIPTOR) and holder.Unpack(info) and info.domain == DOMAIN and info.reason == OVERLOADED:
            return True
    return False


def details_of(error: BaseException) -> list[message.Message]:
    """The detail messages of an error ([] for one that has none)."""
    if overloaded(error):
        return overload_details()
    if isinstance(error, EnrollmentRefused):
        info = error_details_pb2.ErrorInfo(reason=reason_of(error), domain=DOMAIN, metadata={"photos": str(len(error.outcomes))})
        return [info, messages.enroll_response(error.subject_id, error.outcomes, error.templates)]
    if isinstance(error, NoUsableFace) and error.issue is not None:
        refusal = gate_pb2.PhotoRefusal(issue=messages.photo_issue(error.issue), reason=error.reason)
        if error.box is not None:
            x, y, w, h = error.box
            refusal.face.CopyFrom(encoder_pb2.Box(x=x, y=y, width=w, height=h))
        if error.quality is not None:
            refusal.quality.CopyFrom(messages.quality(error.quality))
        return [error_details_pb2.ErrorInfo(reason=reason_of(error), domain=DOMAIN), refusal]
    return []


def status_with(code: grpc.StatusCode, text: str, details: list[message.Message]) -> grpc.Status:
    """A status carrying detail messages, for `context.abort_with_status`."""
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=text, details=packed))
