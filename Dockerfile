FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY newsletter ./newsletter
COPY workers ./workers
COPY samples ./samples
RUN pip install --no-cache-dir -e .
RUN useradd --create-home newsletter && mkdir -p /app/var && chown newsletter /app/var
USER newsletter
CMD ["newsletter", "--help"]
