# CX Journey Lab for a team: one container, the workspace on a volume (docs/deploy.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The package (the app's files are inside it) with sign-in support; the source is not kept.
COPY . /tmp/src
RUN pip install "/tmp/src[auth]" && rm -rf /tmp/src

# A user without privileges owns the workspace folder and runs the app.
RUN useradd --create-home --uid 10001 cx && mkdir -p /data && chown cx:cx /data

# The workspace (datasets, rejected rows, journey maps and their versions) lives on the
# volume; XSRF protection stays on; uploads up to 1 GB (MB below), and a compressed upload
# may expand to at most 10 GB.
ENV CXDATA_WORKSPACE=/data/workspace.duckdb \
    STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION=true \
    STREAMLIT_SERVER_MAX_UPLOAD_SIZE=1024 \
    CXDATA_MAX_BYTES=10G \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
VOLUME ["/data"]

USER cx
WORKDIR /home/cx
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status == 200 else 1)"]

CMD ["cxdata", "app", "--server.address", "0.0.0.0", "--server.port", "8501", "--server.headless", "true"]
