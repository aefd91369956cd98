FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cairn cairn
COPY gateway gateway
COPY blockstore blockstore
COPY meta meta
RUN pip install --no-cache-dir .
EXPOSE 9000
CMD ["cairn", "serve", "--data", "/data", "--host", "0.0.0.0"]
