"""Machine-readable error details for the typed errors that carry them.

Sent the standard gRPC way, as a google.rpc.Status in the `grpc-status-details-bin` trailer, so any
client (grpc-js, grpc-go, ...) can read them: an ErrorInfo whose `reason` is a constant name
(domain "facegrid.v1"), then our own message with the particulars.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from facegrid.v1 import encoder_pb2, gate_pb2

from ..domain.errors import EnrollmentRefused, NoUsableFace
from . import messages

DOMAIN = "facegrid.v1"
NO_USABLE_PHOTO = "NO_USABLE_PHOTO"  # ErrorInfo.reason of an Enroll call with no photo accepted


def details_of(error: BaseException) -> list[message.Message]:
    """The detail messages of an error ([] for one that has none)."""
    if isinstance(error, EnrollmentRefused):
        info = error_details_pb2.ErrorInfo(reason=NO_USABLE_PHOTO, domain=DOMAIN, metadata={"photos": str(len(error.outcomes))})
        return [info, messages.enroll_response(error.subject_id, error.outcomes, error.templates)]
    if isinstance(error, NoUsableFace) and error.issue is not None:
        refusal = gate_pb2.PhotoRefusal(issue=messages.photo_issue(error.issue), reason=error.reason)
        if error.box is not None:
            x, y, w, h = error.box
            refusal.face.CopyFrom(encoder_pb2.Box(x=x, y=y, width=w, height=h))
        if error.quality is not None:
            refusal.quality.CopyFrom(messages.quality(error.quality))
        return [error_details_pb2.ErrorInfo(reason=error.issue.value, domain=DOMAIN), refusal]
    return []


def status_with(code: grpc.StatusCode, text: str, details: list[message.Message]) -> grpc.Status:
    """A status carrying detail messages, for `context.abort_with_status`."""
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=text, details=packed))
