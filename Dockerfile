# One image for the portal (gunicorn) and the worker; docker-compose.yml runs both.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tiertrace tiertrace
COPY schemas schemas
COPY portal portal
COPY worker worker
COPY cli cli
COPY migrations migrations
RUN pip install --no-cache-dir . && useradd --system tiertrace
USER tiertrace
ENV TIERTRACE_DATA_DIR=/tmp/tiertrace
EXPOSE 8000
CMD ["tiertrace", "serve", "--host", "0.0.0.0", "--port", "8000"]
