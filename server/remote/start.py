"""The index role's start-up check of its encoders, and the encoder role's stand-in for keys when it has none."""

from __future__ import annotations

import logging
import time

from facegrid.encoder.models import is_shipped, model_dim, model_folder
from facegrid.encoder.runtime import EncoderSettings
from facegrid.v1 import encoder_pb2

from ..rpc.listen import StartRefused
from .encoders import EncoderPool

log = logging.getLogger("facegrid.server")


class NoKeys:
    """The encoder role without a keys file: no key exists (loopback serves without keys, as today)."""

    def lookup(self, key: str):
        """No key is ever found: there are none."""
        return None

    def any_keys(self) -> bool:
        """Whether any key exists: never, so the auth layer serves loopback without keys."""
        return False

    def forget_cached(self, digest: str) -> None:
        """Nothing cached."""


NO_KEYS = NoKeys()


def expected_dim(model: str, settings: EncoderSettings) -> int:
    """The vector length the gate expects of its face model: a shipped one's is known; a folder model's is its
    card's (the folder is in this server's models directory for its calibration table anyway)."""
    if is_shipped(model):
        return model_dim(model)
    from facegrid.encoder.towers.card import read_card

    return read_card(model_folder(model, settings)).dim


def check_encoders(pool: EncoderPool, model: str, dim: int, wait_s: float) -> encoder_pb2.ModelInfo:
    """The gate's face model as the encoders serve it, once one answers (waiting up to wait_s for a first).

    Refuses (StartRefused) when an encoder that answers lacks the model, gives another dimension, or refuses
    this server's key: a deployment mistake is better found at start than on the first Verify. An encoder down
    now is only logged: it is called once it is back (health checks), as long as one answers now.
    """
    deadline = time.monotonic() + wait_s
    while True:
        answers = pool.list_models()
        wrong = [a for a in answers if a.not_an_encoder]
        if wrong:
            raise StartRefused(f"{wrong[0].address} serves no EncoderService: it is not an encoder server (an index "
                               "server?); point --encoder at servers started with --role encoder or --role all")
        refused = [a for a in answers if a.key_refused]
        if refused:
            raise StartRefused(f"encoder {refused[0].address} refuses this server's key ({refused[0].error}): set "
                               "FACEGRID_ENCODER_API_KEY to a key the encoders take (their FACEGRID_ENCODER_KEYS_FILE)")
        answered = [a for a in answers if not a.error]
        if answered or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if not answered:
        raise StartRefused("no encoder server answered within FACEGRID_ENCODER_START_TIMEOUT "
                           f"({wait_s:g} s): " + "; ".join(f"{a.address} ({a.error})" for a in answers))
    for answer in answers:
        if answer.error:
            log.warning("encoder %s does not answer now (%s): it is called once it is back", answer.address, answer.error)
            continue
        info = answer.by_name.get(model)
        if info is None or "face" not in info.modalities:
            raise StartRefused(f"encoder {answer.address} does not serve the face model {model!r} the gate uses (it serves: "
                               f"{', '.join(sorted(answer.by_name))}): start it with FACEGRID_MODEL={model}, or its folder")
        if info.dim != dim:
            raise StartRefused(f"encoder {answer.address} serves {model!r} with {info.dim}-d vectors; this server expects "
                               f"{dim}-d: the two hold different versions of the model")
    first = next(a for a in answers if not a.error)
    return first.by_name[model]
