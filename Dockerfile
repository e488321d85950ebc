# One image for the API, the CPU worker and the GPU worker; the command picks the process.
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
RUN pip install .
RUN useradd --create-home comfyloom
USER comfyloom
EXPOSE 8000
CMD ["comfyloom", "api", "--host", "0.0.0.0", "--port", "8000"]
