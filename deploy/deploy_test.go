package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
)

const (
	manifestDir = "kubernetes"
	schemaDir   = "kubernetes/schemas"
	repoRoot    = ".."
)

func kubeconform(t *testing.T, files ...string) ([]testtool.KubeconformResult, error) {
	t.Helper()
	return testtool.Kubeconform(t, schemaDir, files...)
}

type kustomization struct {
	Namespace string   `yaml:"namespace"`
	Resources []string `yaml:"resources"`
}

func readKustomization(t *testing.T) kustomization {
	t.Helper()
	var k kustomization
	decodeFile(t, filepath.Join(manifestDir, "kustomization.yaml"), &k)
	return k
}

func decodeFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// documents returns the YAML documents in path, decoded.
func documents(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	docs, err := testtool.YAMLDocuments(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return docs
}

// TestKustomizationListsEveryManifest keeps the kustomization and the
// directory in step, so no manifest escapes validation or deployment.
func TestMain(m *testing.M) {
	code := m.Run()
	testtool.Cleanup()
	os.Exit(code)
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	k := readKustomization(t)
	onDisk, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, p := range onDisk {
		if b := filepath.Base(p); b != "kustomization.yaml" {
			files = append(files, b)
		}
	}
	listed := slices.Clone(k.Resources)
	sort.Strings(files)
	sort.Strings(listed)
	if !reflect.DeepEqual(files, listed) {
		t.Errorf("kustomization.yaml resources %v, want the manifests in %s: %v", listed, manifestDir, files)
	}
	if k.Namespace == "" {
		t.Error("kustomization.yaml sets no namespace")
	}
}

// TestManifestsValidate runs kubeconform in strict mode over every manifest
// against the schemas in kubernetes/schemas.
func TestManifestsValidate(t *testing.T) {
	k := readKustomization(t)
	var files []string
	want := 0
	for _, r := range k.Resources {
		p := filepath.Join(manifestDir, r)
		files = append(files, p)
		want += len(documents(t, p))
	}
	testtool.KubeconformValid(t, schemaDir, want, files...)
}

// TestKubeconformRejectsMistakes proves the validation can fail: each
// testdata/invalid-*.yaml has one mistake, named on its first line
// ("# want: <part of the error>").
func TestKubeconformRejectsMistakes(t *testing.T) {
	for _, fx := range testtool.Fixtures(t, "testdata/invalid-*.yaml", "# want: ") {
		f, want := fx.Path, fx.Header
		t.Run(filepath.Base(f), func(t *testing.T) {
			results, err := kubeconform(t, f)
			if err == nil {
				t.Errorf("kubeconform accepted %s", f)
			}
			if len(results) != 1 {
				t.Fatalf("got %d results, want 1: %+v", len(results), results)
			}
			if r := results[0]; r.Status == "statusValid" || !strings.Contains(r.Msg, want) {
				t.Errorf("got %s %q, want an error containing %q", r.Status, r.Msg, want)
			}
		})
	}
}

// TestPrometheusRuleInSync fails when kubernetes/prometheusrule.yaml is not
// what scripts/gen-prometheusrule.sh makes from alerts/, and checks that the
// script's output carries the rule groups unchanged.
func TestPrometheusRuleInSync(t *testing.T) {
	rulesPath := filepath.Join(repoRoot, "alerts", "smtp_exporter.rules.yml")
	if _, err := os.Stat(rulesPath); err != nil && os.Getenv("CI") != "true" {
		t.Skipf("no alert rules yet: %v", err)
	}
	out, err := exec.Command("bash", filepath.Join(repoRoot, "scripts", "gen-prometheusrule.sh"), rulesPath).Output()
	if err != nil {
		t.Fatalf("gen-prometheusrule.sh: %v", err)
	}
	committed, err := os.ReadFile(filepath.Join(manifestDir, "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, committed) {
		t.Errorf("deploy/kubernetes/prometheusrule.yaml is stale: run `make prometheusrule`")
	}

	var rules, pr map[string]any
	decodeFile(t, rulesPath, &rules)
	if err := yaml.Unmarshal(out, &pr); err != nil {
		t.Fatalf("generated PrometheusRule: %v", err)
	}
	spec, _ := pr["spec"].(map[string]any)
	if len(rules) != 1 || rules["groups"] == nil {
		t.Fatalf("%s: top level is %v, want only groups", rulesPath, keys(rules))
	}
	if !reflect.DeepEqual(spec, rules) {
		t.Errorf("PrometheusRule spec differs from %s", rulesPath)
	}
	if pr["kind"] != "PrometheusRule" {
		t.Errorf("kind = %v", pr["kind"])
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Probe is the part of a Prometheus Operator Probe these tests read.
type probe struct {
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		JobName string `yaml:"jobName"`
		Module  string `yaml:"module"`
		Prober  struct {
			URL  string `yaml:"url"`
			Path string `yaml:"path"`
		} `yaml:"prober"`
		Targets struct {
			StaticConfig struct {
				Static []string          `yaml:"static"`
				Labels map[string]string `yaml:"labels"`
			} `yaml:"staticConfig"`
		} `yaml:"targets"`
	} `yaml:"spec"`
}

// modulesForPort: which modules may probe a port (docs/deployment.md).
var modulesForPort = map[string][]string{
	"25":   {"smtp", "smtp_starttls"},
	"465":  {"smtps"},
	"587":  {"submission", "submission_auth"},
	"2525": {"submission"},
}

// TestProbes checks what a schema cannot: every Probe uses the module that
// fits its targets' ports, labels it, and points at the exporter Service; and
// together they cover ports 25, 465, 587 and 2525.
func TestProbes(t *testing.T) {
	k := readKustomization(t)
	modules := configModules(t)
	svc := documents(t, filepath.Join(manifestDir, "service.yaml"))[0]
	svcName := svc["metadata"].(map[string]any)["name"].(string)
	wantURL := fmt.Sprintf("%s.%s.svc:9667", svcName, k.Namespace)

	b, err := os.ReadFile(filepath.Join(manifestDir, "probes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	ports := map[string]bool{}
	n := 0
	for {
		var p probe
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("probes.yaml: %v", err)
		}
		n++
		s := p.Spec
		name := p.Metadata.Name
		if !slices.Contains(modules, s.Module) {
			t.Errorf("Probe %s: module %q is not in the ConfigMap (%v)", name, s.Module, modules)
		}
		if s.JobName != s.Module {
			t.Errorf("Probe %s: jobName %q, want the module name %q", name, s.JobName, s.Module)
		}
		if got := s.Targets.StaticConfig.Labels["module"]; got != s.Module {
			t.Errorf("Probe %s: module label %q, want %q", name, got, s.Module)
		}
		if s.Prober.URL != wantURL || s.Prober.Path != "/probe" {
			t.Errorf("Probe %s: prober %s%s, want %s/probe", name, s.Prober.URL, s.Prober.Path, wantURL)
		}
		if len(s.Targets.StaticConfig.Static) == 0 {
			t.Errorf("Probe %s: no targets", name)
		}
		for _, target := range s.Targets.StaticConfig.Static {
			host, port, err := net.SplitHostPort(target)
			if err != nil {
				t.Errorf("Probe %s: target %q: %v", name, target, err)
				continue
			}
			ports[port] = true
			// A login probe's target is the server its password belongs to.
			if pinned, ok := authServerNames(t)[s.Module]; ok && host != pinned {
				t.Errorf("Probe %s: target %s logs in with module %s, whose password is pinned to server_name %q", name, target, s.Module, pinned)
			}
			if !slices.Contains(modulesForPort[port], s.Module) {
				t.Errorf("Probe %s: target %s probed with module %s, want one of %v", name, target, s.Module, modulesForPort[port])
			}
		}
	}
	if n == 0 {
		t.Fatal("no Probe in probes.yaml")
	}
	for port := range modulesForPort {
		if !ports[port] {
			t.Errorf("no Probe target on port %s", port)
		}
	}
}

// configModules returns the module names of the ConfigMap's config.yml.
// authServerNames maps each module with auth to its pinned server_name.
func authServerNames(t *testing.T) map[string]string {
	t.Helper()
	var cfg struct {
		Modules map[string]struct {
			TLSConfig struct {
				ServerName string `yaml:"server_name"`
			} `yaml:"tls_config"`
			Auth any `yaml:"auth"`
		} `yaml:"modules"`
	}
	if err := yaml.Unmarshal([]byte(configMapConfig(t)), &cfg); err != nil {
		t.Fatalf("configmap.yaml config.yml: %v", err)
	}
	names := map[string]string{}
	for n, m := range cfg.Modules {
		if m.Auth != nil {
			names[n] = m.TLSConfig.ServerName
		}
	}
	return names
}

func configModules(t *testing.T) []string {
	t.Helper()
	var cfg struct {
		Modules map[string]any `yaml:"modules"`
	}
	if err := yaml.Unmarshal([]byte(configMapConfig(t)), &cfg); err != nil {
		t.Fatalf("configmap.yaml config.yml: %v", err)
	}
	var names []string
	for n := range cfg.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func configMapConfig(t *testing.T) string {
	t.Helper()
	cm := documents(t, filepath.Join(manifestDir, "configmap.yaml"))[0]
	data, _ := cm["data"].(map[string]any)
	cfg, ok := data["config.yml"].(string)
	if !ok {
		t.Fatal("configmap.yaml has no data config.yml")
	}
	return cfg
}

// TestConfigMapPassesConfigCheck runs the real exporter's --config.check on
// the ConfigMap's config, with the Secret's password file where the
// Deployment mounts it (moved to a temporary directory).
func TestConfigMapPassesConfigCheck(t *testing.T) {
	bin := testtool.Binary(t)
	dir := t.TempDir()

	mountPath, secretKey := credentialsMount(t)
	secret := documents(t, filepath.Join(manifestDir, "secret.yaml"))[0]
	password, _ := secret["stringData"].(map[string]any)[secretKey].(string)
	if password == "" {
		t.Fatalf("secret.yaml has no stringData %s", secretKey)
	}
	if err := os.WriteFile(filepath.Join(dir, secretKey), []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := configMapConfig(t)
	wantPath := mountPath + "/" + secretKey
	if !strings.Contains(cfg, "password_file: "+wantPath+"\n") {
		t.Errorf("config.yml does not read the password from the mounted Secret (%s)", wantPath)
	}
	cfg = strings.ReplaceAll(cfg, wantPath, filepath.Join(dir, secretKey))
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "--config.check", "--config.file="+cfgPath).CombinedOutput(); err != nil {
		t.Errorf("smtp_exporter --config.check on configmap.yaml's config.yml: %v\n%s", err, out)
	}
}

// credentialsMount returns where the Deployment mounts the credentials
// Secret and the Secret key the config reads.
func credentialsMount(t *testing.T) (mountPath, key string) {
	t.Helper()
	d := deployment(t)
	secretName := documents(t, filepath.Join(manifestDir, "secret.yaml"))[0]["metadata"].(map[string]any)["name"]
	volume := ""
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret.SecretName == secretName {
			volume = v.Name
		}
	}
	for _, m := range d.exporter(t).VolumeMounts {
		if m.Name == volume {
			mountPath = m.MountPath
		}
	}
	if mountPath == "" {
		t.Fatalf("the Deployment does not mount Secret %v", secretName)
	}
	return mountPath, "submission-password"
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *httpProbe `yaml:"livenessProbe"`
	ReadinessProbe *httpProbe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		RunAsUser                *int  `yaml:"runAsUser"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
			Add  []string `yaml:"add"`
		} `yaml:"capabilities"`
		SeccompProfile struct {
			Type string `yaml:"type"`
		} `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type httpProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type deploymentDoc struct {
	Spec struct {
		Template struct {
			Spec struct {
				SecurityContext struct {
					RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
					RunAsUser      *int  `yaml:"runAsUser"`
					SeccompProfile struct {
						Type string `yaml:"type"`
					} `yaml:"seccompProfile"`
				} `yaml:"securityContext"`
				Containers []container `yaml:"containers"`
				Volumes    []struct {
					Name   string `yaml:"name"`
					Secret struct {
						SecretName string `yaml:"secretName"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func deployment(t *testing.T) deploymentDoc {
	t.Helper()
	var d deploymentDoc
	decodeFile(t, filepath.Join(manifestDir, "deployment.yaml"), &d)
	d.exporter(t)
	return d
}

// exporter is the smtp-exporter container; the resolver runs beside it.
func (d deploymentDoc) exporter(t *testing.T) container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "smtp-exporter" {
			return c
		}
	}
	t.Fatalf("deployment.yaml has no container smtp-exporter")
	return container{}
}

// TestDeploymentHardening checks the security settings the schema allows
// but does not demand, on every container (the exporter and the resolver).
func TestDeploymentHardening(t *testing.T) {
	d := deployment(t)
	pod := d.Spec.Template.Spec
	isTrue := func(b *bool) bool { return b != nil && *b }
	is := func(i *int, v int) bool { return i != nil && *i == v }

	if !isTrue(pod.SecurityContext.RunAsNonRoot) || !is(pod.SecurityContext.RunAsUser, 65534) {
		t.Error("pod securityContext: want runAsNonRoot and runAsUser 65534")
	}
	if pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		t.Error("pod securityContext: want seccompProfile RuntimeDefault")
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if !isTrue(sc.RunAsNonRoot) || !is(sc.RunAsUser, 65534) {
			t.Errorf("container %s securityContext: want runAsNonRoot and runAsUser 65534", c.Name)
		}
		if !isTrue(sc.ReadOnlyRootFilesystem) {
			t.Errorf("container %s securityContext: want readOnlyRootFilesystem", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s securityContext: want allowPrivilegeEscalation false", c.Name)
		}
		if !reflect.DeepEqual(sc.Capabilities.Drop, []string{"ALL"}) || len(sc.Capabilities.Add) != 0 {
			t.Errorf("container %s capabilities: drop %v add %v, want drop [ALL] and nothing added", c.Name, sc.Capabilities.Drop, sc.Capabilities.Add)
		}
		if sc.SeccompProfile.Type != "RuntimeDefault" {
			t.Errorf("container %s securityContext: want seccompProfile RuntimeDefault", c.Name)
		}
		if c.Resources.Limits["memory"] == "" {
			t.Errorf("container %s: no memory limit", c.Name)
		}
	}
	c := d.exporter(t)

	portName := ""
	for _, p := range c.Ports {
		if p.ContainerPort == 9667 {
			portName = p.Name
		}
	}
	if portName == "" {
		t.Fatal("container does not expose 9667")
	}
	for name, p := range map[string]*httpProbe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
		if p == nil {
			t.Errorf("no %s", name)
			continue
		}
		port := fmt.Sprint(p.HTTPGet.Port)
		if p.HTTPGet.Path != "/-/healthy" || (port != portName && port != strconv.Itoa(9667)) {
			t.Errorf("%s: GET %s on port %s, want /-/healthy on 9667", name, p.HTTPGet.Path, port)
		}
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources: want cpu and memory requests and a memory limit, got %+v", c.Resources)
	}
	// The Go runtime does not read the cgroup's limit: without a soft limit
	// of its own, 500 probes held by a hostile server (the default
	// --probe.max-concurrent) came within 15 MiB of a 128 MiB limit.
	limit, soft := mebibytes(c.Resources.Limits["memory"], "Mi"), -1
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			soft = mebibytes(e.Value, "MiB")
		}
	}
	if soft <= 0 || limit <= 0 || soft > limit*80/100 {
		t.Errorf("GOMEMLIMIT is %d MiB for a memory limit of %d MiB: want one, at most 80%% of the limit", soft, limit)
	}
	if !slices.Contains(c.Args, "--config.file=/etc/smtp_exporter/config.yml") {
		t.Errorf("args %v do not name the mounted config", c.Args)
	}
}

// mebibytes reads "96MiB" (unit "MiB") or "128Mi" (unit "Mi"); -1 when it
// is not that.
func mebibytes(s, unit string) int {
	n, err := strconv.Atoi(strings.TrimSuffix(s, unit))
	if err != nil || !strings.HasSuffix(s, unit) {
		return -1
	}
	return n
}

// TestResolverImagePinned: the resolver's image is pinned by digest, both
// in deployment.yaml and in kustomization.yaml's images: entry that
// rewrites it (kustomize writes name:tag@digest), so a `kubectl apply -k`
// pulls exactly the image that was chosen; and the pod runs the image's
// unbound itself, not its start script.
func TestResolverImagePinned(t *testing.T) {
	pinned := regexp.MustCompile(`^(\S+):([\w][\w.-]*)@(sha256:[0-9a-f]{64})$`)
	var resolver *container
	d := deployment(t)
	for i, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "resolver" {
			resolver = &d.Spec.Template.Spec.Containers[i]
		}
	}
	if resolver == nil {
		t.Fatal("deployment.yaml has no resolver container")
	}
	m := pinned.FindStringSubmatch(resolver.Image)
	if m == nil {
		t.Fatalf("resolver image %q: want repository:tag@sha256:<digest>", resolver.Image)
	}
	if len(resolver.Command) != 1 || !strings.HasSuffix(resolver.Command[0], "/unbound") {
		t.Errorf("resolver command %v: want the image's unbound binary, not its entrypoint", resolver.Command)
	}
	var k struct {
		Images []struct {
			Name    string `yaml:"name"`
			NewName string `yaml:"newName"`
			NewTag  string `yaml:"newTag"`
			Digest  string `yaml:"digest"`
		} `yaml:"images"`
	}
	decodeFile(t, filepath.Join(manifestDir, "kustomization.yaml"), &k)
	for _, i := range k.Images {
		if i.Name != m[1] {
			continue
		}
		if i.NewName != "" || i.NewTag != m[2] || i.Digest != m[3] {
			t.Errorf("kustomization.yaml's images: %s -> %s:%s@%s, want deployment.yaml's %s", i.Name, i.NewName, i.NewTag, i.Digest, resolver.Image)
		}
		return
	}
	t.Errorf("kustomization.yaml's images: has no entry for %s", m[1])
}

// TestDockerfileBasePinned: the image's base is a release, not a moving tag,
// and what the Dockerfile copies is let through .dockerignore.
func TestDockerfileBasePinned(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var base string
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "ARG BASE="); ok {
			base = v
		}
	}
	image, _, _ := strings.Cut(base, "@")
	_, tag, ok := strings.Cut(image[strings.LastIndex(image, "/")+1:], ":")
	if !ok || !regexp.MustCompile(`^\d+\.\d+(\.\d+)?(-[a-z]+)?$`).MatchString(tag) {
		t.Errorf("ARG BASE=%s: want the base pinned to a version tag", base)
	}
	ignore, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^COPY\s+(\S+)`).FindAllStringSubmatch(string(b), -1) {
		if !strings.Contains(string(ignore), "!"+m[1]+"\n") {
			t.Errorf("the Dockerfile copies %s, which .dockerignore leaves out", m[1])
		}
	}
}

// TestDNSModulesAskTheResolver: every module that looks up MX or TLSA
// records asks the validating Unbound beside the exporter, which listens
// where resolver-configmap.yaml says.
func TestDNSModulesAskTheResolver(t *testing.T) {
	var cfg struct {
		Modules map[string]struct {
			MX   any    `yaml:"mx"`
			DANE string `yaml:"dane"`
			DNS  struct {
				Server string `yaml:"server"`
			} `yaml:"dns"`
		} `yaml:"modules"`
	}
	if err := yaml.Unmarshal([]byte(configMapConfig(t)), &cfg); err != nil {
		t.Fatal(err)
	}
	cm := documents(t, filepath.Join(manifestDir, "resolver-configmap.yaml"))[0]
	conf, _ := cm["data"].(map[string]any)["unbound.conf"].(string)
	port := regexp.MustCompile(`(?m)^  port: (\d+)$`).FindStringSubmatch(conf)
	if port == nil || !strings.Contains(conf, "\n  interface: 127.0.0.1\n") {
		t.Fatalf("resolver-configmap.yaml: unbound.conf does not listen on 127.0.0.1:PORT")
	}
	want := "127.0.0.1:" + port[1]
	n := 0
	for name, m := range cfg.Modules {
		if m.MX == nil && (m.DANE == "" || m.DANE == "off") {
			continue
		}
		n++
		if m.DNS.Server != want {
			t.Errorf("module %s looks up MX or TLSA records at %q, want the resolver sidecar %s", name, m.DNS.Server, want)
		}
	}
	if n == 0 {
		t.Error("no module uses mx or dane")
	}
}
