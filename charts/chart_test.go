package charts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/smtp-exporter/smtp_exporter/config"
	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
)

const (
	chart     = "smtp-exporter"
	release   = "smtp-exporter"
	namespace = "monitoring"
	repoRoot  = ".."
	// The schemas deploy/ validates the kustomization against, kept by
	// scripts/gen-schemas.sh.
	schemaDir = "../deploy/kubernetes/schemas"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testtool.Cleanup()
	os.Exit(code)
}

var helmPath struct {
	once sync.Once
	path string
}

// helmBin is Helm 4, the pinned build of scripts/install-deploy-tools.sh
// when the helm on PATH is another major version: the refusals
// TestWrongValuesRefused expects are worded by Helm 4's schema validator.
func helmBin(t *testing.T) string {
	t.Helper()
	p := testtool.Need(t, "helm", "helm")
	helmPath.once.Do(func() {
		helmPath.path = p
		out, _ := exec.Command(p, "version", "--template", "{{ .Version }}").Output()
		if strings.HasPrefix(string(out), "v4.") {
			return
		}
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		pinned := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "helm")
		if _, err := os.Stat(pinned); err != nil {
			_ = exec.Command("bash", filepath.Join(repoRoot, "scripts", "install-deploy-tools.sh"), "helm").Run()
		}
		if _, err := os.Stat(pinned); err == nil {
			helmPath.path = pinned
		}
	})
	return helmPath.path
}

// helmTemplate renders the chart with the values files and --set
// arguments; the error carries helm's stderr.
func helmTemplate(t *testing.T, valueFiles []string, sets ...string) (string, error) {
	t.Helper()
	args := []string{"template", release, chart, "--namespace", namespace}
	for _, f := range valueFiles {
		args = append(args, "--values", f)
	}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(helmBin(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func render(t *testing.T, valueFiles []string, sets ...string) manifest {
	t.Helper()
	out, err := helmTemplate(t, valueFiles, sets...)
	if err != nil {
		t.Fatal(err)
	}
	return parseManifest(t, out)
}

// manifest is helm template's output: the text and its objects.
type manifest struct {
	text    string
	objects []map[string]any
}

func parseManifest(t *testing.T, text string) manifest {
	t.Helper()
	objects, err := testtool.YAMLDocuments(strings.NewReader(text))
	if err != nil {
		t.Fatalf("helm template output: %v\n%s", err, text)
	}
	return manifest{text, objects}
}

func (m manifest) kinds() []string {
	var ks []string
	for _, o := range m.objects {
		ks = append(ks, o["kind"].(string))
	}
	sort.Strings(ks)
	return ks
}

// find returns the objects of kind whose name ends with suffix.
func (m manifest) find(kind, suffix string) []map[string]any {
	var found []map[string]any
	for _, o := range m.objects {
		if o["kind"] == kind && strings.HasSuffix(str(o, "metadata", "name"), suffix) {
			found = append(found, o)
		}
	}
	return found
}

func (m manifest) one(t *testing.T, kind, name string) map[string]any {
	t.Helper()
	for _, o := range m.objects {
		if o["kind"] == kind && str(o, "metadata", "name") == name {
			return o
		}
	}
	t.Fatalf("no %s %s among %v", kind, name, m.kinds())
	return nil
}

// workload returns the Deployment or DaemonSet.
func (m manifest) workload(t *testing.T) map[string]any {
	t.Helper()
	var w []map[string]any
	for _, o := range m.objects {
		if o["kind"] == "Deployment" || o["kind"] == "DaemonSet" {
			w = append(w, o)
		}
	}
	if len(w) != 1 {
		t.Fatalf("%d workloads, want 1", len(w))
	}
	return w[0]
}

// at walks maps by key and lists by index ("0").
func at(v any, path ...string) any {
	for _, p := range path {
		switch c := v.(type) {
		case map[string]any:
			v = c[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, path ...string) string {
	s, _ := at(v, path...).(string)
	return s
}

func list(v any, path ...string) []any {
	l, _ := at(v, path...).([]any)
	return l
}

// container returns the pod's container name.
func container(t *testing.T, workload map[string]any, name string) map[string]any {
	t.Helper()
	for _, c := range list(workload, "spec", "template", "spec", "containers") {
		if str(c, "name") == name {
			return c.(map[string]any)
		}
	}
	return nil
}

// valueSet is a values file of ci/ (or the defaults) and the kinds of
// object it must render, from its "# kinds: ..." first line.
type valueSet struct {
	name  string
	files []string
	kinds []string
}

func valueSets(t *testing.T) []valueSet {
	t.Helper()
	sets := []valueSet{{name: "default", kinds: []string{"ConfigMap", "ConfigMap", "Deployment", "Service", "ServiceAccount"}}}
	for _, fx := range testtool.Fixtures(t, filepath.Join(chart, "ci", "*-values.yaml"), "# kinds: ") {
		name := strings.TrimSuffix(filepath.Base(fx.Path), "-values.yaml")
		sets = append(sets, valueSet{name, []string{fx.Path}, strings.Fields(fx.Header)})
	}
	return sets
}

// TestLint runs helm lint --strict with the defaults and every value set.
func TestLint(t *testing.T) {
	for _, vs := range valueSets(t) {
		t.Run(vs.name, func(t *testing.T) {
			args := []string{"lint", "--strict", chart}
			for _, f := range vs.files {
				args = append(args, "--values", f)
			}
			if out, err := exec.Command(helmBin(t), args...).CombinedOutput(); err != nil {
				t.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

// TestValueSetsValidate renders every value set and validates the objects
// with kubeconform against the pinned schemas, then checks what a schema
// cannot: the kinds rendered, the hardening, GOMEMLIMIT, the config and
// its checksum, and the resolver wiring.
func TestValueSetsValidate(t *testing.T) {
	for _, vs := range valueSets(t) {
		t.Run(vs.name, func(t *testing.T) {
			m := render(t, vs.files)
			if got := m.kinds(); !slices.Equal(got, vs.kinds) {
				t.Errorf("kinds %v, want %v", got, vs.kinds)
			}
			path := filepath.Join(t.TempDir(), vs.name+".yaml")
			if err := os.WriteFile(path, []byte(m.text), 0o644); err != nil {
				t.Fatal(err)
			}
			testtool.KubeconformValid(t, schemaDir, len(m.objects), path)
			w := m.workload(t)
			checkHardening(t, w)
			checkMemoryLimit(t, w)
			checkConfig(t, m, w, checkResolver(t, m, w))
		})
	}
}

func checkHardening(t *testing.T, w map[string]any) {
	t.Helper()
	pod := at(w, "spec", "template", "spec")
	if at(pod, "automountServiceAccountToken") != false {
		t.Error("the pod mounts a service account token")
	}
	psc := at(pod, "securityContext")
	if at(psc, "runAsNonRoot") != true || str(psc, "seccompProfile", "type") != "RuntimeDefault" {
		t.Errorf("pod securityContext %v: want runAsNonRoot and seccomp RuntimeDefault", psc)
	}
	for _, c := range list(pod, "containers") {
		sc := at(c, "securityContext")
		name := str(c, "name")
		if at(sc, "runAsNonRoot") != true || at(sc, "readOnlyRootFilesystem") != true || at(sc, "allowPrivilegeEscalation") != false {
			t.Errorf("container %s securityContext %v: want runAsNonRoot, readOnlyRootFilesystem, no privilege escalation", name, sc)
		}
		if !reflect.DeepEqual(list(sc, "capabilities", "drop"), []any{"ALL"}) || at(sc, "capabilities", "add") != nil {
			t.Errorf("container %s capabilities %v: want drop [ALL], nothing added", name, at(sc, "capabilities"))
		}
		if str(sc, "seccompProfile", "type") != "RuntimeDefault" {
			t.Errorf("container %s: want seccomp RuntimeDefault", name)
		}
		if str(c, "resources", "limits", "memory") == "" {
			t.Errorf("container %s has no memory limit", name)
		}
	}
	exporter := container(t, w, "smtp-exporter")
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		if str(exporter, probe, "httpGet", "path") != "/-/healthy" || str(exporter, probe, "httpGet", "port") != "http" {
			t.Errorf("%s %v: want GET /-/healthy on port http", probe, at(exporter, probe))
		}
	}
	if !slices.Contains(list(exporter, "args"), any("--config.file=/etc/smtp_exporter/config.yml")) {
		t.Errorf("args %v do not name the mounted config", list(exporter, "args"))
	}
}

// mebibytes reads the Kubernetes quantities the value sets use.
func mebibytes(t *testing.T, q string) float64 {
	t.Helper()
	units := map[string]float64{"Mi": 1, "Gi": 1024, "MiB": 1, "GiB": 1024}
	m := regexp.MustCompile(`^([0-9.]+)([A-Za-z]+)$`).FindStringSubmatch(q)
	if len(m) != 3 || units[m[2]] == 0 {
		t.Fatalf("unexpected quantity %q", q)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return n * units[m[2]]
}

// checkMemoryLimit: GOMEMLIMIT is 75% (goMemLimitPercent's default) of
// the exporter's memory limit.
func checkMemoryLimit(t *testing.T, w map[string]any) {
	t.Helper()
	c := container(t, w, "smtp-exporter")
	limit := mebibytes(t, str(c, "resources", "limits", "memory"))
	var soft []string
	for _, e := range list(c, "env") {
		if str(e, "name") == "GOMEMLIMIT" {
			soft = append(soft, str(e, "value"))
		}
	}
	if len(soft) != 1 {
		t.Fatalf("GOMEMLIMIT set %d times, want once", len(soft))
	}
	if got := mebibytes(t, soft[0]); got != limit*75/100 {
		t.Errorf("GOMEMLIMIT %s for a memory limit of %v MiB, want 75%%", soft[0], limit)
	}
}

// checkConfig loads the rendered config.yml with the exporter's own loader
// (password files written where the pod mounts them, moved to a
// temporary directory), checks that the pod's checksum annotation is the
// config's, and that the modules that use DNS ask resolver (the sidecar's
// address, "" without one) and only they.
func checkConfig(t *testing.T, m manifest, w map[string]any, resolver string) {
	t.Helper()
	maps := m.find("ConfigMap", release)
	annotation := str(w, "spec", "template", "metadata", "annotations", "checksum/config")
	if len(maps) == 0 {
		if annotation != "" {
			t.Error("checksum/config without a rendered config")
		}
		if str(w, "spec", "template", "spec", "volumes", "0", "secret", "secretName") == "" {
			t.Error("no rendered config, and none mounted from a Secret")
		}
		return
	}
	text := str(maps[0], "data", "config.yml")
	sum := sha256.Sum256([]byte(strings.TrimSuffix(text, "\n")))
	if annotation != hex.EncodeToString(sum[:]) {
		t.Errorf("checksum/config %q is not the sha256 of the rendered config", annotation)
	}
	dir := t.TempDir()
	for _, p := range regexp.MustCompile(`password_file: (\S+)`).FindAllStringSubmatch(text, -1) {
		local := filepath.Join(dir, filepath.Base(p[1]))
		if err := os.WriteFile(local, []byte("secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		text = strings.ReplaceAll(text, p[1], local)
	}
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("the rendered config.yml does not load: %v\n%s", err, text)
	}
	for _, name := range cfg.ModuleNames() {
		mod := cfg.Modules[name]
		usesDNS := mod.MX != nil || mod.DANE != config.DANEOff
		server := ""
		if mod.DNS != nil {
			server = mod.DNS.Server
		}
		switch {
		case resolver != "" && usesDNS && server != resolver:
			t.Errorf("module %s uses DNS (mx or dane) but asks %q, not the resolver sidecar %s", name, server, resolver)
		case !usesDNS && server != "":
			t.Errorf("module %s looks nothing up in DNS, yet dns.server is %q", name, server)
		case resolver == "" && server != "":
			t.Errorf("no resolver sidecar, yet module %s asks %q", name, server)
		}
	}
}

// checkResolver: the sidecar runs exactly when its ConfigMap is rendered,
// and may bind its port. It returns the address it listens on, "" when
// there is none.
func checkResolver(t *testing.T, m manifest, w map[string]any) string {
	t.Helper()
	c := container(t, w, "resolver")
	maps := m.find("ConfigMap", "-resolver")
	if (c == nil) != (len(maps) == 0) {
		t.Fatalf("resolver container %v, resolver ConfigMaps %d: want both or neither", c != nil, len(maps))
	}
	if c == nil {
		return ""
	}
	conf := str(maps[0], "data", "unbound.conf")
	port := regexp.MustCompile(`(?m)^  port: (\d+)$`).FindStringSubmatch(conf)
	if port == nil || !strings.Contains(conf, "\n  interface: 127.0.0.1\n") {
		t.Fatalf("unbound.conf does not listen on 127.0.0.1:PORT:\n%s", conf)
	}
	sysctl := ""
	for _, s := range list(w, "spec", "template", "spec", "securityContext", "sysctls") {
		if str(s, "name") == "net.ipv4.ip_unprivileged_port_start" {
			sysctl = str(s, "value")
		}
	}
	p, _ := strconv.Atoi(port[1])
	if at(w, "spec", "template", "spec", "hostNetwork") == true {
		if sysctl != "" || p < 1024 {
			t.Errorf("hostNetwork: sysctl %q, port %d: want no sysctl and a port of 1024 or more", sysctl, p)
		}
	} else if p < 1024 && sysctl != port[1] {
		t.Errorf("port %d needs net.ipv4.ip_unprivileged_port_start=%d for a non-root Unbound; got %q", p, p, sysctl)
	}
	want := []any{"-d", "-p", "-c", "/etc/unbound-smtp-exporter/unbound.conf"}
	if !reflect.DeepEqual(list(c, "args"), want) {
		t.Errorf("resolver args %v, want %v", list(c, "args"), want)
	}
	sum := sha256.Sum256([]byte(strings.TrimSuffix(conf, "\n")))
	if got := str(w, "spec", "template", "metadata", "annotations", "checksum/resolver"); got != hex.EncodeToString(sum[:]) {
		t.Errorf("checksum/resolver %q is not the sha256 of unbound.conf", got)
	}
	return "127.0.0.1:" + port[1]
}

// TestChecksumFollowsConfig: a changed module or resolver setting changes
// the pod template, so Helm rolls the pods.
func TestChecksumFollowsConfig(t *testing.T) {
	annotations := func(sets ...string) map[string]any {
		m := render(t, nil, sets...)
		a, _ := at(m.workload(t), "spec", "template", "metadata", "annotations").(map[string]any)
		return a
	}
	base := annotations()
	for _, c := range []struct{ set, key string }{
		{"config.modules.smtp.timeout=7s", "checksum/config"},
		{"resolver.sidecar.extraServerConfig=do-ip6: yes", "checksum/resolver"},
	} {
		changed := annotations(c.set)
		if base[c.key] == nil || base[c.key] == changed[c.key] {
			t.Errorf("--set %s: %s %v -> %v, want a change", c.set, c.key, base[c.key], changed[c.key])
		}
	}
}

// TestWrongValuesRefused: each testdata/invalid-*.yaml holds one mistake,
// named on its first line ("# want: <part of helm's error>"); helm
// template must refuse it, so helm install would too, before anything
// reaches the cluster.
func TestWrongValuesRefused(t *testing.T) {
	for _, fx := range testtool.Fixtures(t, "testdata/invalid-*.yaml", "# want: ") {
		f, want := fx.Path, fx.Header
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			_, err := helmTemplate(t, []string{f})
			if err == nil {
				t.Fatalf("helm template accepted %s", f)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not contain %q:\n%v", want, err)
			}
		})
	}
}

// TestGoMemLimit derives GOMEMLIMIT from the quantity forms people write.
func TestGoMemLimit(t *testing.T) {
	for _, c := range []struct {
		limit, percent, want string
	}{
		{"128Mi", "75", "96MiB"},
		{"1Gi", "75", "768MiB"},
		{"0.5Gi", "80", "409MiB"},
		{"512M", "75", "366MiB"},
		{"268435456", "50", "128MiB"},
		{"128Mi", "0", ""},
	} {
		m := render(t, nil, "resources.limits.memory="+c.limit, "goMemLimitPercent="+c.percent)
		got := ""
		for _, e := range list(container(t, m.workload(t), "smtp-exporter"), "env") {
			if str(e, "name") == "GOMEMLIMIT" {
				got = str(e, "value")
			}
		}
		if got != c.want {
			t.Errorf("limit %s, %s%%: GOMEMLIMIT %q, want %q", c.limit, c.percent, got, c.want)
		}
	}
	// A GOMEMLIMIT of the user's wins, and is not set twice.
	m := render(t, nil, "extraEnv[0].name=GOMEMLIMIT", "extraEnv[0].value=50MiB")
	var values []string
	for _, e := range list(container(t, m.workload(t), "smtp-exporter"), "env") {
		if str(e, "name") == "GOMEMLIMIT" {
			values = append(values, str(e, "value"))
		}
	}
	if !slices.Equal(values, []string{"50MiB"}) {
		t.Errorf("GOMEMLIMIT %v with one in extraEnv, want only [50MiB]", values)
	}
}

// TestChartCopiesInSync fails when the chart's copies of the rules, the
// dashboards or config.example.yml's modules differ from the repository's.
func TestChartCopiesInSync(t *testing.T) {
	files, err := Files(repoRoot, chart)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, f := range files {
		want[f.Path] = true
		got, err := os.ReadFile(f.Path)
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("%s is not the repository's (%v): run `make generate` (or `go generate ./charts`) and commit the result", f.Path, err)
		}
	}
	copies, _ := filepath.Glob(filepath.Join(chart, "files", "dashboards", "*.json"))
	for _, c := range copies {
		if !want[c] {
			t.Errorf("%s is in no longer in dashboards/: run `make generate` (or `go generate ./charts`)", c)
		}
	}
}

// TestRenderedRulesAreTheRepositorys: the PrometheusRule's groups are
// alerts/smtp_exporter.rules.yml's, string for string; and with overrides,
// exactly the overridden parts differ.
func TestRenderedRulesAreTheRepositorys(t *testing.T) {
	var file struct {
		Groups []map[string]any `yaml:"groups"`
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "alerts", "smtp_exporter.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	want := any(nil)
	if err := yaml.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}

	m := render(t, nil, "prometheusRule.enabled=true")
	pr := m.one(t, "PrometheusRule", release)
	if !reflect.DeepEqual(at(pr, "spec"), want) {
		t.Errorf("the PrometheusRule's spec is not alerts/smtp_exporter.rules.yml (stale copy? run `make generate`)")
	}

	m = render(t, []string{filepath.Join(chart, "ci", "monitoring-values.yaml")})
	pr = m.one(t, "PrometheusRule", release)
	if got := str(pr, "metadata", "labels", "release"); got != "kube-prometheus-stack" {
		t.Errorf("additionalLabels: release label %q", got)
	}
	groups := list(pr, "spec", "groups")
	if len(groups) != len(file.Groups)+1 || str(groups[len(groups)-1], "name") != "smtp_exporter_local" {
		t.Fatalf("%d groups, want the %d shipped and extraGroups' smtp_exporter_local last", len(groups), len(file.Groups))
	}
	// The same alert name may head several rules (a warning and a
	// critical threshold): compare in order, the disabled one left out.
	var rendered []any
	for _, g := range groups[:len(file.Groups)] {
		rendered = append(rendered, list(g, "rules")...)
	}
	seen := 0
	for _, g := range file.Groups {
		for _, r := range g["rules"].([]any) {
			rule := r.(map[string]any)
			name, _ := rule["alert"].(string)
			if name == "SMTPProbeFlapping" {
				continue
			}
			if len(rendered) == 0 {
				t.Fatalf("rule %v missing", rule)
			}
			got := rendered[0]
			rendered = rendered[1:]
			if name == "" {
				if !reflect.DeepEqual(got, rule) {
					t.Errorf("recording rule %v rendered as %v", rule, got)
				}
				continue
			}
			seen++
			wantRule := deepCopy(rule)
			labels := wantRule["labels"].(map[string]any)
			labels["team"] = "mail"
			annotations := wantRule["annotations"].(map[string]any)
			if u, ok := annotations["dashboard_url"].(string); ok {
				annotations["dashboard_url"] = strings.Replace(u, "http://localhost:3000/", "https://grafana.example.com/", 1)
			}
			if name == "SMTPCertificateExpiringSoon" {
				wantRule["for"] = "1h"
				labels["severity"] = "info"
				annotations["summary"] = "Renew the certificate of {{ $labels.instance }}"
			}
			if !reflect.DeepEqual(got, any(wantRule)) {
				t.Errorf("alert %s:\n got %v\nwant %v", name, got, wantRule)
			}
		}
	}
	if len(rendered) != 0 {
		t.Errorf("%d rules rendered beyond the rule file's (SMTPProbeFlapping is disabled)", len(rendered))
	}
	if seen < 10 {
		t.Errorf("only %d alerts in the rule file", seen)
	}
}

func deepCopy(m map[string]any) map[string]any {
	b, err := yaml.Marshal(m)
	if err != nil {
		panic(err)
	}
	var c map[string]any
	if err := yaml.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	return c
}

// TestRenderedDashboardsAreTheRepositorys: one ConfigMap per file of
// dashboards/, its data the file byte for byte.
func TestRenderedDashboardsAreTheRepositorys(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	m := render(t, nil, "dashboards.enabled=true")
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(f)
		cm := m.one(t, "ConfigMap", release+"-"+strings.TrimSuffix(base, ".json"))
		if got := str(cm, "data", base); got != string(want) {
			t.Errorf("ConfigMap %s: data %s is not dashboards/%s (stale copy? run `make generate`)", str(cm, "metadata", "name"), base, base)
		}
		if str(cm, "metadata", "labels", "grafana_dashboard") != "1" {
			t.Errorf("ConfigMap for %s lacks the sidecar's label grafana_dashboard: \"1\"", base)
		}
	}
	if n := len(m.find("ConfigMap", "")) - 2; n != len(files) {
		t.Errorf("%d dashboard ConfigMaps, dashboards/ has %d files", n, len(files))
	}
}

// TestServiceMonitorsAndProbes checks the scrape wiring of the monitoring
// value set: blackbox-style parameters, and the labels the alerts and
// dashboards read (instance, module, job per module).
func TestServiceMonitorsAndProbes(t *testing.T) {
	m := render(t, []string{filepath.Join(chart, "ci", "monitoring-values.yaml")})
	sm := m.one(t, "ServiceMonitor", release+"-example-com")
	ep := at(sm, "spec", "endpoints", "0")
	if !reflect.DeepEqual(at(ep, "params"), map[string]any{"target": []any{"example.com"}, "module": []any{"mx"}}) {
		t.Errorf("params %v", at(ep, "params"))
	}
	if str(ep, "path") != "/probe" || str(ep, "interval") != "5m" || str(ep, "scrapeTimeout") != "30s" {
		t.Errorf("endpoint %v: want /probe every 5m, timeout 30s", ep)
	}
	relabel := map[string]string{}
	for _, r := range list(ep, "relabelings") {
		relabel[str(r, "targetLabel")] = str(r, "replacement")
	}
	for label, value := range map[string]string{"instance": "example.com", "module": "mx", "job": "mx", "team": "mail"} {
		if relabel[label] != value {
			t.Errorf("relabelings set %s=%q, want %q", label, relabel[label], value)
		}
	}
	if d := at(m.one(t, "ServiceMonitor", release+"-mx1"), "spec", "endpoints", "0", "params", "module"); !reflect.DeepEqual(d, []any{"smtp"}) {
		t.Errorf("a target without module gets %v, want serviceMonitor.defaults.module [smtp]", d)
	}
	self := m.one(t, "ServiceMonitor", release)
	if str(self, "spec", "endpoints", "0", "path") != "/metrics" {
		t.Errorf("self ServiceMonitor scrapes %q", str(self, "spec", "endpoints", "0", "path"))
	}

	p := m.one(t, "Probe", release+"-smtps")
	svc := m.one(t, "Service", release)
	wantURL := fmt.Sprintf("%s.%s.svc:%v", release, namespace, at(svc, "spec", "ports", "0", "port"))
	if str(p, "spec", "prober", "url") != wantURL || str(p, "spec", "prober", "path") != "/probe" {
		t.Errorf("prober %v, want %s/probe", at(p, "spec", "prober"), wantURL)
	}
	if str(p, "spec", "module") != "smtps" || str(p, "spec", "jobName") != "smtps" || str(p, "spec", "interval") != "2m" {
		t.Errorf("Probe spec %v: want module and jobName smtps, interval 2m", at(p, "spec"))
	}
	if !reflect.DeepEqual(at(p, "spec", "targets", "staticConfig", "labels"), map[string]any{"module": "smtps", "site": "hq"}) {
		t.Errorf("Probe labels %v", at(p, "spec", "targets", "staticConfig", "labels"))
	}
	if str(p, "metadata", "labels", "release") != "kube-prometheus-stack" {
		t.Error("Probe lacks probeDefaults.labels")
	}

	am := m.one(t, "ConfigMap", release+"-alertmanager")
	var inhibit struct {
		InhibitRules []struct {
			SourceMatchers []string `yaml:"source_matchers"`
			Equal          []string `yaml:"equal"`
		} `yaml:"inhibit_rules"`
	}
	if err := yaml.Unmarshal([]byte(str(am, "data", "inhibit_rules.yml")), &inhibit); err != nil || len(inhibit.InhibitRules) != 1 ||
		!slices.Equal(inhibit.InhibitRules[0].SourceMatchers, []string{`alertname="SMTPPortBlocked"`}) {
		t.Errorf("inhibit_rules.yml %q (%v)", str(am, "data", "inhibit_rules.yml"), err)
	}
}

// TestNotes: what helm install prints warns when DNS modules run without
// the validating resolver, and when its image is not pinned by digest (the
// default is).
func TestNotes(t *testing.T) {
	notes := func(sets ...string) string {
		args := []string{"install", release, chart, "--dry-run=client", "--namespace", namespace}
		for _, s := range sets {
			args = append(args, "--set", s)
		}
		out, err := exec.Command(helmBin(t), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		_, n, ok := strings.Cut(string(out), "NOTES:")
		if !ok {
			t.Fatalf("no NOTES in\n%s", out)
		}
		return n
	}
	for _, c := range []struct {
		sets      []string
		want, not string
	}{
		// The default image is pinned by digest: nothing to warn about.
		{nil, "ask the validating Unbound", "pinned by tag only"},
		{[]string{"resolver.sidecar.image.digest="}, "not by digest: set resolver.sidecar.image.digest", "WARNING"},
		{[]string{"resolver.sidecar.enabled=false"}, "WARNING: resolver.sidecar.enabled is false, and modules mx", "validating Unbound"},
		{[]string{"resolver.sidecar.enabled=false", "config.modules.mx=null"}, "port-forward", "WARNING"},
	} {
		n := notes(c.sets...)
		if !strings.Contains(n, c.want) || strings.Contains(n, c.not) {
			t.Errorf("--set %v: NOTES want %q and not %q:\n%s", c.sets, c.want, c.not, n)
		}
	}
}
