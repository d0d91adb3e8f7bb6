// Package charts holds no code. smtp-exporter/ is the Helm chart; the tests
// here render it with a pinned helm (scripts/install-deploy-tools.sh helm)
// and check it offline: helm lint --strict, values.schema.json refusing
// wrong values, kubeconform in strict mode on the objects of several value
// sets against deploy/kubernetes/schemas/, the rendered config through the
// exporter's --config.check, the resolver's unbound.conf through Debian's
// Unbound (and a live DNSSEC query against the test bed), and the shipped
// rules, dashboards and modules kept equal to the repository's (`make
// generate` copies them in: Helm reads only files inside the chart).
package charts
