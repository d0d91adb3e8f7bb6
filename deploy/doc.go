// Package deploy holds no code. Its tests validate the Kubernetes manifests
// in kubernetes/ offline: kubeconform in strict mode against the schemas in
// kubernetes/schemas/ (scripts/gen-schemas.sh), plus the checks a schema
// cannot make (hardening, modules per port, the PrometheusRule in sync with
// alerts/).
package deploy
