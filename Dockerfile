# Built from the wheel, run as a user without privileges. Build: docker build -t newsletter .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY newsletter ./newsletter
COPY workers ./workers
# The project's wheel and every dependency's, so the image installs from them alone.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels newsletter \
    && rm -rf /wheels \
    && useradd --create-home --uid 10001 newsletter
USER newsletter
WORKDIR /home/newsletter
# SQLite, the embedded broker, metric files and heartbeats live here (a volume, if kept).
ENV NEWSLETTER_VAR_DIR=/home/newsletter/var
# 8000: the web app (/healthz, /readyz, /metrics); 9100: a worker's or beat's metrics.
EXPOSE 8000 9100
CMD ["newsletter", "--help"]
