"""Typed errors of the encoder library; server/ maps them to gRPC status codes in one place."""


class EncoderError(Exception):
    """Base class: something the caller sent or asked for cannot be served."""


class ImageError(EncoderError):
    """The bytes given are not an image we can use."""


class UnreadableImage(ImageError):
    """Empty, corrupt, truncated or not an image format we read."""


class ImageTooLarge(ImageError):
    """Over the byte-size or pixel-count limit; refused before full decoding."""


class ModelError(EncoderError):
    """A model cannot be used."""


class UnknownModel(ModelError):
    """No model is registered under the name asked for."""


class ModelWeightsMissing(ModelError):
    """The model's weight file is not installed or not where the operator said."""


class WorkerDied(EncoderError):
    """An embedding worker process died (out of memory, or a decoder crash) with this work in flight."""


class QueueFull(EncoderError):
    """A model's batching queue holds as many items as it may: the caller should back off and retry."""
