# Build, test and package smtp_exporter. Kept small: the go tool does the
# work, scripts/ holds anything longer than a line or two.

GO     ?= go
BINARY ?= smtp_exporter

# Version information for `smtp_exporter --version` and smtp_exporter_build_info,
# taken from git when the tree is a git checkout. Override on the command line,
# e.g. `make build VERSION=1.2.3`.
VERSION    ?= $(or $(shell git describe --tags --match 'v[0-9]*' 2>/dev/null | sed 's/^v//'),0.0.0-dev)
REVISION   ?= $(or $(shell git rev-parse HEAD 2>/dev/null),unknown)
BRANCH     ?= $(or $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null),unknown)
BUILD_USER ?= $(shell id -un 2>/dev/null || echo unknown)@$(shell hostname 2>/dev/null || echo unknown)
# SOURCE_DATE_EPOCH (reproducible builds) wins over the clock.
BUILD_DATE ?= $(shell date -u $(if $(SOURCE_DATE_EPOCH),-d @$(SOURCE_DATE_EPOCH)) +%Y%m%d-%H:%M:%S)

VERSION_PKG := github.com/prometheus/common/version
LDFLAGS := -s -w \
	-X $(VERSION_PKG).Version=$(VERSION) \
	-X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) \
	-X $(VERSION_PKG).BuildUser=$(BUILD_USER) \
	-X $(VERSION_PKG).BuildDate=$(BUILD_DATE)

.PHONY: all build test test-short lint fmt image image-test prometheusrule generate schemas

all: lint test build

# A static binary: CGO off, so it runs on the busybox base image (no libc).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BINARY) .

# -race needs cgo (and a C compiler), so this target leaves CGO_ENABLED alone.
test:
	$(GO) test -race ./...

# The unit tests in under a minute, as any user, with nothing installed: the
# soak, binary builds, browser and integration tests skip. (The bench
# driver's smoke test runs only with -tags benchsmoke, as scripts/test.sh does.)
test-short:
	$(GO) test -short ./...

# golangci-lint, pinned and installed by the script; .golangci.yml says what
# it checks (govet and gofumpt included).
lint:
	scripts/lint.sh

# Rewrite the files as gofumpt and gci want them.
fmt:
	scripts/lint.sh fmt

# The container image, built with buildah (no Docker engine, no network);
# see docs/deployment.md.
image: build
	BINARY=$(CURDIR)/$(BINARY) scripts/build-image.sh

# Build the image and check it (user, entrypoint, port, the binary runs).
image-test:
	scripts/test-image.sh

# Regenerate deploy/kubernetes/prometheusrule.yaml from alerts/.
prometheusrule:
	scripts/gen-prometheusrule.sh > deploy/kubernetes/prometheusrule.yaml

# Regenerate every generated file: the dashboards' JSON (from
# internal/dashgen), the PrometheusRule and the Grafana-managed rules (from
# alerts/smtp_exporter.rules.yml), the reason tables of docs/metrics.md
# (from reasons/), and the Helm chart's copies of the rules, the dashboards
# and config.example.yml's modules (last: it copies the others). Tests fail
# when one is out of date.
generate: prometheusrule
	$(GO) generate ./dashboards ./alerts ./docs
	$(GO) generate ./charts

# Regenerate the JSON schemas kubeconform validates the manifests against.
schemas:
	scripts/gen-schemas.sh
