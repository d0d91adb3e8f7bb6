# smtp_exporter container image, Prometheus exporter style: the image does not
# compile anything, it copies the static binary that `make build` made
# (CGO_ENABLED=0) onto a small base image.
#
# The base is pinned to a busybox release, so that a rebuild of the same
# commit gets the same base. Prometheus' own busybox image (what exporters
# use) has only moving tags (latest, glibc, uclibc), so the pinned base is
# Docker's official busybox at a version tag; to pin it harder, append the
# digest your registry shows for that tag (busybox:1.37.0-uclibc@sha256:...).
# busybox carries no CA bundle and the probes verify mail servers'
# certificates, so the build context brings /etc/ssl/certs/ca-certificates.crt
# (scripts/build-image.sh copies the build host's, from Debian's
# ca-certificates). scripts/build-image.sh builds this file offline and
# passes --build-arg BASE=localhost/smtp-exporter-base:local, a stand-in made
# from Debian's busybox-static with the same layout.
ARG BASE=docker.io/library/busybox:1.37.0-uclibc
FROM ${BASE}

LABEL org.opencontainers.image.title="smtp_exporter" \
      org.opencontainers.image.description="Prometheus exporter that probes mail servers over SMTP, SMTPS and submission" \
      org.opencontainers.image.source="https://github.com/smtp-exporter/smtp_exporter"

COPY smtp_exporter          /bin/smtp_exporter
COPY config.example.yml     /etc/smtp_exporter/config.yml
COPY ca-certificates.crt    /etc/ssl/certs/ca-certificates.crt

# nobody:nogroup, numerically so that Kubernetes' runAsNonRoot can check it.
USER       65534:65534
EXPOSE     9667
ENTRYPOINT ["/bin/smtp_exporter"]
CMD        ["--config.file=/etc/smtp_exporter/config.yml"]
