# attnserve's TorchServe image: Python 3.11, Java 17, requirements.txt and the built archive.
# Build the archive first (`make models`), then `docker compose --profile cpu up -d --build`
# (or `--profile nvidia`); docs/deploy.md has the rest.
FROM python:3.11-slim-bookworm

# TorchServe's frontend runs on Java 17.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/attnserve
# From the package index, torch==2.13.0 is the CUDA build, which also runs on CPU-only hosts: one image
# serves both compose profiles; the NVIDIA runtime brings the driver on GPU hosts.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY attnserve/ attnserve/
COPY handlers/ handlers/
COPY deploy/ deploy/
COPY model_store/sentiment.mar model_store/

# The server config is rendered by the launcher `make run` uses, so the image serves the same settings.
# Only the container may then override them from TS_* variables (enable_envvars_config), which is how
# its inference and metrics listeners bind 0.0.0.0 below; the repo's default stays 127.0.0.1.
RUN mkdir -p var keys client-key logs \
    && python -c "from pathlib import Path; from deploy.launch import TorchServe; \
TorchServe(Path('var'), ['sentiment=sentiment.mar']).render_config()" \
    && printf '\n# Container only: TS_* environment variables override the settings above.\nenable_envvars_config=true\n' \
    >> var/config.properties \
    && useradd --system --uid 10001 --user-group --home-dir /srv/attnserve attnserve \
    && chown -R attnserve /srv/attnserve/keys /srv/attnserve/client-key /srv/attnserve/logs

# Management (REST and gRPC) stays on the container's loopback in every deployment: the one caller that
# needs it, the health check rotating the inference key, runs inside the container.
# PYTHONPATH: the health check (python -m deploy.healthcheck) runs from the keys directory.
# GOMP_SPINCOUNT: deploy/launch.py's SPIN_COUNT, so busy models on one host do not spin on each other's cores.
ENV TS_INFERENCE_ADDRESS=http://0.0.0.0:8080 \
    TS_MANAGEMENT_ADDRESS=http://127.0.0.1:8081 \
    TS_METRICS_ADDRESS=http://0.0.0.0:8082 \
    TS_GRPC_INFERENCE_ADDRESS=0.0.0.0 \
    TS_GRPC_MANAGEMENT_ADDRESS=127.0.0.1 \
    LOG_LOCATION=/srv/attnserve/logs \
    METRICS_LOCATION=/srv/attnserve/logs \
    PYTHONPATH=/srv/attnserve \
    GOMP_SPINCOUNT=1000

# REST inference, metrics, gRPC inference (management listens on loopback only).
EXPOSE 8080 8082 7070
# Numeric, so Kubernetes can verify runAsNonRoot.
USER 10001
# TorchServe writes key_file.json (all its keys) into its working directory, which no client mounts; the
# health check publishes the inference key alone to client-key/key_file.json, a volume clients can mount.
WORKDIR /srv/attnserve/keys
CMD ["torchserve", "--foreground", "--ncs", "--ts-config", "/srv/attnserve/var/config.properties", \
    "--model-store", "/srv/attnserve/model_store"]
