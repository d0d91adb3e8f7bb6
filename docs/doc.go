// Package docs holds the reference documentation (*.md) and keeps it true
// to the code: parts of it are generated from the code's own tables (the
// failure reasons of metrics.md, from the reasons package; `go generate
// ./docs` rewrites them), and its tests hold the rest against the code's
// lists: every metric name and its labels against the collector's
// descriptors and the exporter's own registrations, and every relative link
// of the Markdown files (README.md and CONTRIBUTING.md included) against
// the files and headings it points to.
package docs
