package charts

// The chart's copies of the repository's rules, dashboards and built-in
// modules: `go generate ./charts` (part of `make generate`, after the
// dashboards and rules are generated).
//go:generate go run ./gen
