# The API, the CPU worker or the GPU worker; the command picks the process, EXTRAS what is installed for it
# (pyproject.toml's groups: api, cpu, gpu, or all). Compose builds each service with its own.
FROM python:3.12-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY cli ./cli
COPY comfyloom ./comfyloom
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY comfy_templates ./comfy_templates
COPY worker_cpu ./worker_cpu
COPY worker_gpu ./worker_gpu
ARG EXTRAS=all
RUN pip install ".[${EXTRAS}]"
RUN useradd --create-home comfyloom
USER comfyloom
EXPOSE 8000
CMD ["comfyloom", "api", "--host", "0.0.0.0", "--port", "8000"]
