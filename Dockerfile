# Ruptura: one image for the API and the workers (the command picks the role).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml setup.cfg README.md ./
COPY config.py run_api.py run_worker.py ./
COPY api ./api
COPY jobs ./jobs
COPY web ./web
COPY bench ./bench
RUN pip install . && useradd --create-home ruptura && mkdir -p /app/var && chown ruptura /app/var
USER ruptura

EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/healthz')"
CMD ["python", "run_api.py", "--host", "0.0.0.0", "--port", "5000"]
