# facegrid server image: encoder + gate services; Redis runs as its own service (docker-compose.yml).
# RUNTIME=cpu (default) or gpu: which extra brings ONNX Runtime and FAISS (docker-compose.yml's gpu profile builds gpu;
# the CUDA libraries come as NVIDIA wheels, the host's driver through the NVIDIA container toolkit).
FROM python:3.11-slim
ARG RUNTIME=cpu

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 FACEGRID_DATA_DIR=/data FACEGRID_TLS_DIR=/certs
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY encoder encoder
COPY index index
COPY server server
COPY clients clients
COPY proto proto
COPY evaluation evaluation
COPY bench bench
RUN pip install --no-cache-dir ".[${RUNTIME},milvus]" \
    && python -c "from facegrid.encoder.models import load_model; load_model('fused')"  # build converted graphs once

VOLUME /data
EXPOSE 50051
# Health needs no key; over TLS (mutual TLS too) when the image serves TLS from the certificates mounted in /certs.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD python -m facegrid.server.healthcheck localhost:50051 --tls-dir /certs
CMD ["facegrid", "serve", "--address", "0.0.0.0:50051"]
