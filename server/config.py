"""One settings object: environment variables FACEGRID_*, overridden by command-line flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from facegrid.encoder.assets import default_data_dir

from .tls_folder import calling_files, served_files

# The settings' own types are imported where they are made: reading the settings (the CLI, evaluation, bench) then
# loads no ONNX Runtime, FAISS or model code.
if TYPE_CHECKING:
    from facegrid.encoder.runtime import EncoderSettings
    from facegrid.index.settings import IndexSettings

    from .domain.liveness_mode import LivenessMode
    from .domain.probe_rules import ProbeRules


ROLES = ("all", "encoder", "index")


def _env(name: str, default: str) -> str:
    return os.environ.get(f"FACEGRID_{name}", default)


@dataclass(frozen=True)
class Settings:
    """Everything `facegrid serve` needs to know."""

    address: str = field(default_factory=lambda: _env("ADDRESS", "127.0.0.1:50051"))
    # Roles (issue 12): "all" runs everything in one process; "encoder" only the EncoderService (stateless: no
    # Redis); "index" everything else, its embedding done by the encoder servers at `encoders` (host:port, ...).
    role: str = field(default_factory=lambda: _env("ROLE", "all"))
    encoders: str = field(default_factory=lambda: _env("ENCODERS", ""))
    # The index role's calls to its encoders: the key it sends, TLS (the CA that signed the encoders' certificates;
    # a client certificate and key for mutual TLS), the time allowed per call before trying the next encoder, and
    # how long to wait at start for a first encoder to answer.
    encoder_api_key: str = field(default_factory=lambda: _env("ENCODER_API_KEY", ""))
    encoder_ca: str = field(default_factory=lambda: _env("ENCODER_CA", ""))
    encoder_cert: str = field(default_factory=lambda: _env("ENCODER_CERT", ""))
    encoder_key: str = field(default_factory=lambda: _env("ENCODER_KEY", ""))
    # Or a folder of TLS files shared with the encoders (docker-compose's /certs, server/tls_folder.py): when it holds
    # server.pem and server.key the encoders serve TLS, so they are called over TLS, trusting its ca.pem (else
    # server.pem) and presenting its client.pem and client.key. The files named one by one above win.
    encoder_tls_dir: str = field(default_factory=lambda: _env("ENCODER_TLS_DIR", ""))
    encoder_timeout_s: float = field(default_factory=lambda: float(_env("ENCODER_TIMEOUT_S", "30")))
    encoder_start_timeout: float = field(default_factory=lambda: float(_env("ENCODER_START_TIMEOUT", "60")))
    # The encoder role's keys (it has no Redis): a file of SHA-256 hex digests of the keys it accepts, one a line
    # (`facegrid keys digest KEY`; an optional name after it); empty: loopback without keys, as today.
    encoder_keys_file: str = field(default_factory=lambda: _env("ENCODER_KEYS_FILE", ""))
    data_dir: Path = field(default_factory=lambda: Path(_env("DATA_DIR", "") or default_data_dir()).expanduser())
    # Converted model graphs; empty: <data_dir>/cache. Servers on one machine may share one.
    cache_dir: str = field(default_factory=lambda: _env("CACHE_DIR", ""))
    # Model folders found at start (Immich's CLIP layout, `facegrid models import`); empty: <data_dir>/models.
    models_dir: str = field(default_factory=lambda: _env("MODELS_DIR", ""))
    # Empty: start the embedded Redis (Valkey) in the data directory.
    redis_url: str = field(default_factory=lambda: _env("REDIS_URL", ""))
    # Seconds to wait at start for a Redis that does not answer yet (one loading its data is waited for however long).
    redis_start_timeout: float = field(default_factory=lambda: float(_env("REDIS_START_TIMEOUT", "60")))
    model: str = field(default_factory=lambda: _env("MODEL", "fused"))
    detector: str = field(default_factory=lambda: _env("DETECTOR", "cascade"))
    target_far: float = field(default_factory=lambda: float(_env("TARGET_FAR", "0.001")))
    identify_margin: float = field(default_factory=lambda: float(_env("IDENTIFY_MARGIN", "0.02")))
    max_message_mb: int = field(default_factory=lambda: int(_env("MAX_MESSAGE_MB", "64")))
    max_photo_mb: int = field(default_factory=lambda: int(_env("MAX_PHOTO_MB", "20")))
    max_photo_megapixels: int = field(default_factory=lambda: int(_env("MAX_PHOTO_MEGAPIXELS", "40")))
    workers: int = field(default_factory=lambda: int(_env("WORKERS", "8")))  # gRPC threads
    index_workers: int = field(default_factory=lambda: int(_env("INDEX_WORKERS", "0")))  # embedding processes; 0: one per core
    device: str = field(default_factory=lambda: _env("DEVICE", "auto"))  # auto: CUDA when present; cpu
    threads: int = field(default_factory=lambda: int(_env("THREADS", "0")))  # inference threads of the serving models; 0: all cores
    # Which runtime runs each model, at what precision (encoder/sessions/): auto times the candidates once per CPU model
    # and model file (cached in the cache folder) and keeps the fastest; onnxruntime | openvino; f32 | bf16 (OpenVINO,
    # CPUs with AVX-512 BF16 or AMX, models whose card records bf16 keeping their accuracy; f32 elsewhere).
    runtime: str = field(default_factory=lambda: _env("RUNTIME", "auto"))
    precision: str = field(default_factory=lambda: _env("PRECISION", "auto"))
    # FAISS search and k-means on the GPU where faiss-gpu sees one; 0 keeps FAISS on the CPU (the GPU left to the models).
    index_gpu: bool = field(default_factory=lambda: _env("INDEX_GPU", "1").lower() not in ("0", "false", "no"))
    # The engine behind every vector collection: faiss (in this process) or milvus (a Milvus server at milvus_uri,
    # e.g. http://milvus:19530); either way Redis is the system of record and the vectors are rebuilt from it at start.
    vector_engine: str = field(default_factory=lambda: _env("VECTOR_ENGINE", "faiss"))
    milvus_uri: str = field(default_factory=lambda: _env("MILVUS_URI", ""))
    # Batching across callers (encoder/batcher.py): concurrent requests share model runs of up to batch_max items
    # (0: no batcher, each call runs the model itself), gathered for up to batch_wait_ms after the first; beyond
    # batch_queue items waiting a call is refused (RESOURCE_EXHAUSTED). Each model (part) has batch_workers batches
    # in flight on its session of batch_threads ONNX Runtime threads (0: all cores, shared out among the parts of
    # a fused model, whose batchers run side by side). Measured with `facegrid bench encoder` (docs/benchmarks.md).
    batch_max: int = field(default_factory=lambda: int(_env("BATCH_MAX", "16")))
    batch_wait_ms: float = field(default_factory=lambda: float(_env("BATCH_WAIT_MS", "0")))
    batch_queue: int = field(default_factory=lambda: int(_env("BATCH_QUEUE", "1024")))
    batch_workers: int = field(default_factory=lambda: int(_env("BATCH_WORKERS", "2")))
    batch_threads: int = field(default_factory=lambda: int(_env("BATCH_THREADS", "0")))
    # Prometheus endpoint, host:port (e.g. 127.0.0.1:9464; a port alone binds loopback); empty: no metrics endpoint.
    metrics_address: str = field(default_factory=lambda: _env("METRICS_ADDRESS", ""))
    # The REST API and the console (server/http/), host:port or a port alone on loopback; empty: off. Same keys,
    # scopes, TLS files and audit as gRPC.
    http_address: str = field(default_factory=lambda: _env("HTTP_ADDRESS", ""))
    # The folder under which the console may read indexed photos to show face thumbnails (docs/security.md): only a
    # file inside it (symbolic links resolved) whose SHA-256 is the one indexed. Empty: no thumbnails, only paths.
    library_root: str = field(default_factory=lambda: _env("LIBRARY_ROOT", ""))
    # A bearer token /metrics requires (`Authorization: Bearer <token>`, Prometheus's `authorization` setting);
    # without it a scrape gets 401. Empty: /metrics answers anyone who can reach it (keep it on loopback then).
    metrics_key: str = field(default_factory=lambda: _env("METRICS_KEY", ""))
    # TLS: PEM files; with client_ca, clients must present a certificate it signed (mutual TLS).
    tls_cert: str = field(default_factory=lambda: _env("TLS_CERT", ""))
    tls_key: str = field(default_factory=lambda: _env("TLS_KEY", ""))
    client_ca: str = field(default_factory=lambda: _env("CLIENT_CA", ""))
    # A folder where TLS files are picked up when present (the Docker image mounts /certs):
    # server.pem + server.key turn TLS on, client-ca.pem also requires client certificates.
    tls_dir: str = field(default_factory=lambda: _env("TLS_DIR", ""))
    # Serve beyond loopback while no API key exists (until the first key is made).
    insecure: bool = field(default_factory=lambda: _env("INSECURE", "").lower() in ("1", "true", "yes"))
    audit_retention_days: float = field(default_factory=lambda: float(_env("AUDIT_RETENTION_DAYS", "30")))
    # After a Forget, Redis's append-only file is rewritten so the subject leaves the disk: at most one rewrite per
    # this many seconds, however many Forgets (server/store/forget_scrub.py); 0: never (not recommended).
    forget_scrub_s: float = field(default_factory=lambda: float(_env("FORGET_SCRUB_S", "10")))
    # FAISS collections: searched exactly while their vectors take up to exact_max_mb, then by an IVF index tuned
    # to recall_target (recall@10 against exact search) within index_memory_gib each (index/approximate.py says why).
    exact_max_mb: float = field(default_factory=lambda: float(_env("EXACT_MAX_MB", "256")))
    recall_target: float = field(default_factory=lambda: float(_env("RECALL_TARGET", "0.95")))
    index_memory_gib: float = field(default_factory=lambda: float(_env("INDEX_MEMORY_GIB", "4")))
    # Isolation: streams and long calls have their own caps and threads, so gate calls always find one of `workers`.
    max_streams: int = field(default_factory=lambda: int(_env("MAX_STREAMS", "8")))  # concurrent IndexPhotos streams
    max_long_calls: int = field(default_factory=lambda: int(_env("MAX_LONG_CALLS", "2")))  # concurrent Cluster / KMeans calls
    stream_idle_s: float = field(default_factory=lambda: float(_env("STREAM_IDLE_S", "120")))  # a stream silent this long is ended
    inflight_mb: int = field(default_factory=lambda: int(_env("INFLIGHT_MB", "512")))  # photo bytes held by all streams together
    # Streams anyone may open without a key (health Watch, reflection): capped per peer host and in all, with
    # threads of their own, and ended when idle, so they can never take the gate's threads.
    max_open_streams: int = field(default_factory=lambda: int(_env("MAX_OPEN_STREAMS", "16")))
    max_open_streams_per_peer: int = field(default_factory=lambda: int(_env("MAX_OPEN_STREAMS_PER_PEER", "4")))
    open_stream_idle_s: float = field(default_factory=lambda: float(_env("OPEN_STREAM_IDLE_S", "300")))
    # Server reflection (grpcurl without .proto files): off unless asked; the .proto files are published.
    reflection: bool = field(default_factory=lambda: _env("REFLECTION", "").lower() in ("1", "true", "yes"))
    # Background re-embedding of photos indexed before their collection had an image model: photos per
    # step, and a pause between steps so it never crowds out indexing and searches.
    reembed_batch: int = field(default_factory=lambda: int(_env("REEMBED_BATCH", "8")))
    reembed_pause_s: float = field(default_factory=lambda: float(_env("REEMBED_PAUSE_S", "0")))
    # Failed authentications (server/domain/auth_failures.py): a peer host with more than auth_fail_threshold within
    # auth_fail_window_s has its failed calls refused with a RetryInfo for a delay doubling per failure, up to
    # auth_penalty_max_s; calls with a live key are never held back.
    auth_fail_threshold: int = field(default_factory=lambda: int(_env("AUTH_FAIL_THRESHOLD", "20")))
    auth_fail_window_s: float = field(default_factory=lambda: float(_env("AUTH_FAIL_WINDOW_S", "60")))
    auth_penalty_max_s: float = field(default_factory=lambda: float(_env("AUTH_PENALTY_MAX_S", "60")))
    # ... and audited one by one up to these per peer host and in all, each minute; the rest as summary entries.
    auth_fail_audited_per_peer: int = field(default_factory=lambda: int(_env("AUTH_FAIL_AUDITED_PER_PEER", "5")))
    auth_fail_audited_total: int = field(default_factory=lambda: int(_env("AUTH_FAIL_AUDITED_TOTAL", "100")))
    # Gate probes (Verify, Identify): off | report | refuse faces below these (server/domain/probe_rules.py says why).
    probe_quality: str = field(default_factory=lambda: _env("PROBE_QUALITY", "refuse"))
    probe_min_face_px: float = field(default_factory=lambda: float(_env("PROBE_MIN_FACE_PX", "40")))
    probe_min_sharpness: float = field(default_factory=lambda: float(_env("PROBE_MIN_SHARPNESS", "6")))
    probe_max_yaw: float = field(default_factory=lambda: float(_env("PROBE_MAX_YAW", "60")))
    # A door's Pass: require (score liveness, deny attacks; refused while no liveness model is imported), report
    # (score, never deny on it) or off (NOT_CHECKED). server/domain/door_pass.py says what each does.
    liveness: str = field(default_factory=lambda: _env("LIVENESS", "require"))
    # Door probe thumbnails, biometric data (docs/security.md): days a small JPEG (~96 px) of the face each Pass
    # compared is kept for the console's door view; 0: none is kept (the default). Forget removes a subject's.
    probe_thumbnails_days: float = field(default_factory=lambda: float(_env("PROBE_THUMBNAILS_DAYS", "0")))
    # The console shows a door as silent after this many minutes without a Pass while its hours say it is open.
    door_silent_min: float = field(default_factory=lambda: float(_env("DOOR_SILENT_MIN", "15")))
    # Not the server's: where `facegrid eval`, `facegrid bench` and the tests find the evaluation photos (the faces/
    # folder; the presentation-attack recordings); empty: shared/data beside the checkout (evaluation/datasets.py).
    faces_dir: str = field(default_factory=lambda: _env("FACES_DIR", ""))
    pad_dir: str = field(default_factory=lambda: _env("PAD_DIR", ""))

    def encoder_addresses(self) -> list[str]:
        """The index role's encoder servers, in the order given (ValueError when the role needs them and none is given)."""
        addresses = [a.strip() for a in self.encoders.split(",") if a.strip()]
        if self.role not in ROLES:
            raise ValueError(f"FACEGRID_ROLE must be one of {', '.join(ROLES)}, got {self.role!r}")
        if self.role == "index" and not addresses:
            raise ValueError("the index role embeds through encoder servers: give them with --encoder HOST:PORT[,HOST:PORT...] "
                             "(FACEGRID_ENCODERS)")
        return addresses

    def tls_files(self) -> tuple[str, str, str]:
        """(certificate, key, client CA) to serve with: the explicit ones, else those found in tls_dir."""
        if self.tls_cert or self.tls_key or not self.tls_dir:
            return self.tls_cert, self.tls_key, self.client_ca
        cert, key, client_ca = served_files(self.tls_dir)
        return cert, key, self.client_ca or client_ca

    def encoder_tls(self) -> tuple[str, str, str]:
        """(CA, client certificate, client key) for calling the encoders: the files named, else those of encoder_tls_dir;
        all empty for plaintext."""
        if self.encoder_ca or self.encoder_cert or self.encoder_key or not self.encoder_tls_dir:
            return self.encoder_ca, self.encoder_cert, self.encoder_key
        return calling_files(self.encoder_tls_dir)

    def encoder(self) -> EncoderSettings:
        """What the encoder needs: its cache under this data directory, the device, thread count and batching.

        With batching on, the serving models' sessions are run by their batchers only, with batch_threads each.
        """
        from facegrid.encoder.runtime import EncoderSettings

        cache = Path(self.cache_dir).expanduser() if self.cache_dir else self.data_dir / "cache"
        models = Path(self.models_dir).expanduser() if self.models_dir else self.data_dir / "models"
        threads = self.batch_threads if self.batch_max > 0 else self.threads
        from facegrid.encoder.sessions.base import check_names

        check_names(self.runtime, self.precision)
        return EncoderSettings(cache_dir=cache, device=self.device, threads=threads, models_dir=models,
                               runtime=self.runtime, precision=self.precision,
                               batch_max=self.batch_max, batch_wait_ms=self.batch_wait_ms, batch_queue=self.batch_queue,
                               batch_workers=self.batch_workers)

    def index(self) -> IndexSettings:
        """What the collections and k-means need: whether FAISS may use a GPU, when it leaves exact search, the engine."""
        from facegrid.index.approximate import ApproximateSettings
        from facegrid.index.settings import IndexSettings

        if not 0 < self.recall_target <= 1:
            raise ValueError(f"FACEGRID_RECALL_TARGET must be in (0, 1], got {self.recall_target}")
        return IndexSettings(gpu=self.index_gpu, approximate=ApproximateSettings(
            exact_max_mb=self.exact_max_mb, recall_target=self.recall_target, memory_gib=self.index_memory_gib),
            engine=self.vector_engine, milvus_uri=self.milvus_uri)

    def probe_rules(self) -> ProbeRules:
        """The rule gate probes are held to."""
        from .domain.probe_rules import ProbeCheck, ProbeRules

        choices = [c.value for c in ProbeCheck]
        if self.probe_quality not in choices:
            raise ValueError(f"FACEGRID_PROBE_QUALITY must be one of {', '.join(choices)}, got {self.probe_quality!r}")
        return ProbeRules(ProbeCheck(self.probe_quality), self.probe_min_face_px, self.probe_min_sharpness, self.probe_max_yaw)

    def liveness_mode(self) -> LivenessMode:
        """What Pass does with liveness."""
        from .domain.liveness_mode import LivenessMode

        choices = [m.value for m in LivenessMode]
        if self.liveness not in choices:
            raise ValueError(f"FACEGRID_LIVENESS must be one of {', '.join(choices)}, got {self.liveness!r}")
        return LivenessMode(self.liveness)

    def with_overrides(self, **overrides) -> "Settings":
        """A copy with the non-None overrides applied (command-line flags)."""
        known = {f.name for f in fields(self)}
        given = {k: v for k, v in overrides.items() if k in known and v is not None}
        if "data_dir" in given:
            given["data_dir"] = Path(given["data_dir"]).expanduser()
        return replace(self, **given)
