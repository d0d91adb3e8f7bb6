# smtp_exporter container image, Prometheus exporter style: the image does not
# compile anything, it copies the static binary that `make build` made
# (CGO_ENABLED=0) onto a small base image.
#
# The base must carry a CA bundle at /etc/ssl/certs/ca-certificates.crt: the
# probes verify mail servers' certificates. Prometheus' busybox image is the
# one the Prometheus exporters use. scripts/build-image.sh builds this file
# offline and passes --build-arg BASE=localhost/smtp-exporter-base:local, a
# stand-in made from Debian's busybox-static and ca-certificates.
ARG BASE=quay.io/prometheus/busybox-linux-amd64:latest
FROM ${BASE}

LABEL org.opencontainers.image.title="smtp_exporter" \
      org.opencontainers.image.description="Prometheus exporter that probes mail servers over SMTP, SMTPS and submission" \
      org.opencontainers.image.source="https://github.com/smtp-exporter/smtp_exporter"

COPY smtp_exporter      /bin/smtp_exporter
COPY config.example.yml /etc/smtp_exporter/config.yml

# nobody:nogroup, numerically so that Kubernetes' runAsNonRoot can check it.
USER       65534:65534
EXPOSE     9667
ENTRYPOINT ["/bin/smtp_exporter"]
CMD        ["--config.file=/etc/smtp_exporter/config.yml"]
