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


class MissingModality(ModelError):
    """The model has no tower for the modality asked for (a face model asked for text, say)."""


class BadModelFolder(ModelError):
    """A model folder's card, preprocessing, tokenizer or ONNX file is missing or cannot be read."""


class BadText(EncoderError):
    """Text that cannot be embedded: not a string, or not valid UTF-8."""


class QueueFull(EncoderError):
    """The batcher's queue is full: the server is past what it can take; try again shortly."""


class ImportFailed(ModelError):
    """A checkpoint cannot be turned into a model folder (wrong architecture, unreadable file, unsupported family)."""


class AudioError(EncoderError):
    """The bytes given are not audio we can use."""


class UnreadableAudio(AudioError):
    """Empty, corrupt or truncated, or not a 16-bit PCM WAV file (mono or stereo)."""


class AudioTooLarge(AudioError):
    """Over the byte-size or duration limit; refused from the header, before the samples are read."""
