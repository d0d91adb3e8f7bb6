package charts

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"gopkg.in/yaml.v3"

	"github.com/smtp-exporter/smtp_exporter/internal/testtool"
)

// unboundDir is where the pod mounts the resolver's ConfigMap, and so
// unbound.conf's directory.
const unboundDir = "/etc/unbound-smtp-exporter"

// nobody is the user and group the pod's containers run as.
const nobody = 65534

// unboundTool finds a program of Debian's unbound package, which lives in
// /usr/sbin (not on every user's PATH); installing it when missing.
func unboundTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	sbin := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(sbin); err == nil {
		return sbin
	}
	p := testtool.Need(t, name, "unbound")
	if _, err := os.Stat(sbin); err == nil {
		return sbin
	}
	return p
}

// unboundConf renders the chart and returns its unbound.conf, with the
// directory moved to dir (the pod's mount does not exist here).
func unboundConf(t *testing.T, dir string, valueFiles []string, sets ...string) string {
	t.Helper()
	m := render(t, valueFiles, sets...)
	maps := m.find("ConfigMap", "-resolver")
	if len(maps) != 1 {
		t.Fatalf("%d resolver ConfigMaps, want 1", len(maps))
	}
	conf := str(maps[0], "data", "unbound.conf")
	if !strings.Contains(conf, `directory: "`+unboundDir+`"`) {
		t.Fatalf("unbound.conf's directory is not %s:\n%s", unboundDir, conf)
	}
	return strings.ReplaceAll(conf, unboundDir, dir)
}

func checkconf(t *testing.T, dir, conf string) {
	t.Helper()
	path := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(unboundTool(t, "unbound-checkconf"), path).CombinedOutput(); err != nil {
		t.Errorf("unbound-checkconf: %v\n%s\n%s", err, out, conf)
	}
}

// TestUnboundConfigChecks runs Debian's unbound-checkconf on the resolver
// config of the defaults and of value sets that change it.
func TestUnboundConfigChecks(t *testing.T) {
	for _, c := range []struct {
		name string
		sets []string
	}{
		{"default", nil},
		{"port 5353", []string{"resolver.sidecar.port=5353"}},
		{"extra config", []string{
			"resolver.sidecar.extraServerConfig=do-ip6: yes\nserve-expired: no",
			"resolver.sidecar.extraConfig=forward-zone:\n  name: \".\"\n  forward-addr: 192.0.2.53",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			checkconf(t, dir, unboundConf(t, dir, nil, c.sets...))
		})
	}
	// The check can fail: a misspelled option is refused.
	dir := t.TempDir()
	path := filepath.Join(dir, "unbound.conf")
	bad := strings.Replace(unboundConf(t, dir, nil), "prefetch: yes", "prefetsh: yes", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(unboundTool(t, "unbound-checkconf"), path).CombinedOutput(); err == nil {
		t.Errorf("unbound-checkconf accepted a misspelled option:\n%s", out)
	}
}

// TestTrustAnchorsAreIANAs: the root trust anchors the chart ships are
// Debian's (dns-root-data, from IANA's root-anchors.xml), line for line.
func TestTrustAnchorsAreIANAs(t *testing.T) {
	const rootDS = "/usr/share/dns/root.ds"
	b, err := os.ReadFile(rootDS)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (testbed/deps.sh installs dns-root-data)", err)
		}
		t.Skipf("%v: install Debian's dns-root-data", err)
	}
	var values struct {
		Resolver struct {
			Sidecar struct {
				TrustAnchors []string `yaml:"trustAnchors"`
			} `yaml:"sidecar"`
		} `yaml:"resolver"`
	}
	v, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(v, &values); err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(string(b)), "\n")
	if got := values.Resolver.Sidecar.TrustAnchors; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("resolver.sidecar.trustAnchors %q, want %s's %q", got, rootDS, want)
	}
}

// dnssecBed reads testbed/dnssec.sh's dnssec.env; the bed is started by
// scripts/test.sh before the tests.
func dnssecBed(t *testing.T) (dir string, env map[string]string) {
	t.Helper()
	dir = os.Getenv("TESTBED_DNSSEC_DIR")
	if dir == "" {
		dir = "/var/tmp/smtp_exporter-dnssec"
	}
	b, err := os.ReadFile(filepath.Join(dir, "dnssec.env"))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("DNSSEC test bed not running under CI=true: %v", err)
		}
		t.Skipf("DNSSEC test bed not running (sudo bash testbed/dnssec.sh start): %v", err)
	}
	env = map[string]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return dir, env
}

// TestResolverValidatesDNSSEC starts Debian's Unbound with the chart's
// unbound.conf, whose only changes are the test bed's: its zones' trust
// anchors instead of the root's, stub zones to its NSD, and loopback
// authoritative servers allowed. Queried as the exporter asks, secure
// answers carry AD, a bogus one is SERVFAIL with an Extended DNS Error,
// and an unsigned zone is answered without AD.
func TestResolverValidatesDNSSEC(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts an Unbound")
	}
	bedDir, env := dnssecBed(t)
	auth := strings.Replace(env["TESTBED_DNSSEC_AUTH"], ":", "@", 1)
	anchors, err := filepath.Glob(filepath.Join(bedDir, "anchors", "*.ds"))
	if err != nil || len(anchors) == 0 {
		t.Fatalf("no trust anchors in %s/anchors: %v", bedDir, err)
	}
	var values struct {
		Resolver map[string]map[string]any `yaml:"resolver"`
	}
	var trust []string
	for _, a := range anchors {
		b, err := os.ReadFile(a)
		if err != nil {
			t.Fatal(err)
		}
		trust = append(trust, strings.TrimSpace(string(b)))
	}
	addr, err := testtool.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, portText, _ := net.SplitHostPort(addr)
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	stubs := ""
	for _, zone := range []string{"testbed.local", "bogus.test", "insecure.test"} {
		stubs += "stub-zone:\n  name: \"" + zone + "\"\n  stub-addr: " + auth + "\n"
	}
	values.Resolver = map[string]map[string]any{"sidecar": {
		"port":              port,
		"trustAnchors":      trust,
		"extraServerConfig": "do-not-query-localhost: no\nlocal-zone: \"test.\" nodefault",
		"extraConfig":       stubs,
	}}
	dir := t.TempDir()
	vb, err := yaml.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	valuesFile := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(valuesFile, vb, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := unboundConf(t, dir, []string{valuesFile})
	checkconf(t, dir, conf)

	// The pod's command line, but Debian's binary: the image's lives
	// elsewhere. As root, run it as the pod's user, nobody, with the
	// config readable by it: Unbound must need nothing a non-root user
	// lacks (no user switch, chroot or pid file).
	var args []string
	for _, a := range list(container(t, render(t, []string{valuesFile}).workload(t), "resolver"), "args") {
		args = append(args, strings.ReplaceAll(a.(string), unboundDir, dir))
	}
	var log bytes.Buffer
	cmd := exec.Command(unboundTool(t, "unbound"), args...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if os.Geteuid() == 0 {
		for _, d := range []string{dir, filepath.Dir(dir)} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	client := &dns.Client{Timeout: 2 * time.Second}
	ask := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(name), qtype)
		q.SetEdns0(1232, true)
		var lastErr error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			r, _, err := client.Exchange(q, addr)
			if err == nil {
				return r
			}
			lastErr = err
		}
		t.Fatalf("%s %s: %v\nunbound's log:\n%s", name, dns.TypeToString[qtype], lastErr, log.String())
		return nil
	}

	mail := env["TESTBED_DNSSEC_MAIL_HOST"]
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{mail, dns.TypeA}, {"_10025._tcp." + mail, dns.TypeTLSA}} {
		r := ask(q.name, q.qtype)
		if r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData || len(r.Answer) == 0 {
			t.Errorf("%s %s: rcode %s, AD %v, %d answers: want a secure answer\n%s", q.name, dns.TypeToString[q.qtype],
				dns.RcodeToString[r.Rcode], r.AuthenticatedData, len(r.Answer), log.String())
		}
	}

	bogus := "_10025._tcp." + env["TESTBED_DNSSEC_BOGUS_HOST"]
	r := ask(bogus, dns.TypeTLSA)
	if r.Rcode != dns.RcodeServerFailure {
		t.Errorf("%s TLSA: rcode %s, want SERVFAIL for a bogus signature", bogus, dns.RcodeToString[r.Rcode])
	}
	ede := -1
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				ede = int(e.InfoCode)
			}
		}
	}
	// 6-12 are the DNSSEC failures (RFC 8914): what tells the exporter a
	// bogus answer from an unreachable server.
	if ede < 6 || ede > 12 {
		t.Errorf("%s TLSA: Extended DNS Error %d, want a DNSSEC one (6-12): is ede: yes set?", bogus, ede)
	}

	insecure := env["TESTBED_DNSSEC_INSECURE_HOST"]
	r = ask(insecure, dns.TypeA)
	if r.Rcode != dns.RcodeSuccess || r.AuthenticatedData || len(r.Answer) == 0 {
		t.Errorf("%s A: rcode %s, AD %v: want an answer without AD (unsigned zone)", insecure, dns.RcodeToString[r.Rcode], r.AuthenticatedData)
	}
}

// TestKustomizationResolverIsTheCharts: deploy/kubernetes/ runs the same
// resolver as the chart's defaults: the same unbound.conf, image, arguments
// and mount.
func TestKustomizationResolverIsTheCharts(t *testing.T) {
	m := render(t, nil)
	want := str(m.find("ConfigMap", "-resolver")[0], "data", "unbound.conf")

	kust := filepath.Join(repoRoot, "deploy", "kubernetes")
	b, err := os.ReadFile(filepath.Join(kust, "resolver-configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm map[string]any
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	if got := str(cm, "data", "unbound.conf"); got != want {
		t.Errorf("deploy/kubernetes/resolver-configmap.yaml's unbound.conf is not the chart's; copy it from\n"+
			"  helm template x charts/smtp-exporter -s templates/resolver.yaml\ngot:\n%s\nwant:\n%s", got, want)
	}

	b, err = os.ReadFile(filepath.Join(kust, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	chartSide, kustSide := container(t, m.workload(t), "resolver"), container(t, d, "resolver")
	if kustSide == nil {
		t.Fatal("deploy/kubernetes/deployment.yaml has no resolver container")
	}
	for _, field := range []string{"image", "command", "args", "volumeMounts", "securityContext", "resources"} {
		got, want := at(kustSide, field), at(chartSide, field)
		if g, w := yamlText(t, got), yamlText(t, want); g != w {
			t.Errorf("resolver %s in deploy/kubernetes:\n%s\nthe chart's:\n%s", field, g, w)
		}
	}
	// kustomization.yaml's images: entry sets what deployment.yaml names,
	// so that overriding it there (or with kustomize edit set image)
	// replaces the pin.
	var k struct {
		Images []struct {
			Name    string `yaml:"name"`
			NewName string `yaml:"newName"`
			NewTag  string `yaml:"newTag"`
			Digest  string `yaml:"digest"`
		} `yaml:"images"`
	}
	b, err = os.ReadFile(filepath.Join(kust, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	chartImage := str(chartSide, "image")
	found := false
	for _, i := range k.Images {
		if i.NewName == "" && strings.HasPrefix(chartImage, i.Name+":") {
			found = true
			if got := i.Name + ":" + i.NewTag + "@" + i.Digest; got != chartImage {
				t.Errorf("kustomization.yaml's images: sets the resolver to %s, the chart's default is %s", got, chartImage)
			}
		}
	}
	if !found {
		t.Errorf("kustomization.yaml's images: does not name the resolver's image %s", chartImage)
	}

	podSC := yamlText(t, at(d, "spec", "template", "spec", "securityContext", "sysctls"))
	if want := yamlText(t, at(m.workload(t), "spec", "template", "spec", "securityContext", "sysctls")); podSC != want {
		t.Errorf("pod sysctls in deploy/kubernetes:\n%s\nthe chart's:\n%s", podSC, want)
	}
}

func yamlText(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pinnedImage is registry/repository:tag@sha256:digest, the form of a
// pinned default: the runtime pulls the digest, the tag is for the reader.
var pinnedImage = regexp.MustCompile(`^[a-z0-9.-]+/[a-z0-9._/-]+:[\w][\w.-]*@sha256:[0-9a-f]{64}$`)

// TestImageReferences: the resolver's default image is pinned by digest;
// the value's parts (registry, repository, tag, digest) each show in the
// reference, for the resolver and the exporter alike.
func TestImageReferences(t *testing.T) {
	img, _ := at(readValues(t), "resolver", "sidecar", "image").(map[string]any)
	registry, repository, tag, digest := img["registry"].(string), img["repository"].(string), img["tag"].(string), img["digest"].(string)
	if def := registry + "/" + repository + ":" + tag + "@" + digest; !pinnedImage.MatchString(def) {
		t.Fatalf("resolver.sidecar.image's default %s is not pinned by digest", def)
	}
	var meta struct {
		AppVersion string `yaml:"appVersion"`
	}
	b, err := os.ReadFile(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &meta); err != nil || meta.AppVersion == "" {
		t.Fatalf("Chart.yaml's appVersion %q: %v", meta.AppVersion, err)
	}
	other := "sha256:" + strings.Repeat("ab", 32)
	for _, c := range []struct {
		name      string
		files     []string
		sets      []string
		container string
		want      string
	}{
		{name: "resolver default", container: "resolver", want: registry + "/" + repository + ":" + tag + "@" + digest},
		{
			name: "resolver re-pinned", container: "resolver", want: "ghcr.io/example/unbound:v1.23.0@" + other,
			sets: []string{
				"resolver.sidecar.image.registry=ghcr.io", "resolver.sidecar.image.repository=example/unbound",
				"resolver.sidecar.image.tag=v1.23.0", "resolver.sidecar.image.digest=" + other,
			},
		},
		{
			name: "resolver by digest alone", container: "resolver", want: registry + "/" + repository + "@" + digest,
			sets: []string{"resolver.sidecar.image.tag="},
		},
		{
			name: "resolver by tag alone", container: "resolver", want: registry + "/" + repository + ":" + tag,
			sets: []string{"resolver.sidecar.image.digest="},
		},
		{
			name: "resolver without registry", container: "resolver", want: repository + ":" + tag + "@" + digest,
			sets: []string{"resolver.sidecar.image.registry="},
		},
		// The appVersion names the exporter's tag, but not beside a digest
		// it may not describe.
		{name: "exporter default", container: "smtp-exporter", want: "registry.example.com/monitoring/smtp-exporter:" + meta.AppVersion},
		{
			name: "exporter by digest", container: "smtp-exporter",
			want:  "ghcr.io/example/smtp-exporter@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			files: []string{filepath.Join(chart, "ci", "auth-values.yaml")},
		},
		{
			name: "exporter by tag and digest", container: "smtp-exporter", want: "registry.example.com/monitoring/smtp-exporter:v1.0.0@" + other,
			sets: []string{"image.tag=v1.0.0", "image.digest=" + other},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := str(container(t, render(t, c.files, c.sets...).workload(t), c.container), "image")
			if got != c.want {
				t.Errorf("image %s, want %s", got, c.want)
			}
		})
	}
}

// TestResolverRunsUnboundItself: the resolver's command is the image's
// unbound binary with the chart's config, so the image's start script
// (which writes, chowns and copies files, refused in a read-only, non-root
// container) never runs; and the config asks for nothing such a container
// cannot give: the image's build defaults (user _unbound, a chroot, a pid
// file) are each turned off.
func TestResolverRunsUnboundItself(t *testing.T) {
	m := render(t, nil)
	c := container(t, m.workload(t), "resolver")
	if c == nil {
		t.Fatal("no resolver container by default")
	}
	command := list(c, "command")
	if len(command) != 1 || !filepath.IsAbs(command[0].(string)) || filepath.Base(command[0].(string)) != "unbound" {
		t.Errorf("resolver command %v, want the image's unbound binary by its absolute path", command)
	}
	args := yamlText(t, at(c, "args"))
	if want := yamlText(t, []any{"-d", "-p", "-c", unboundDir + "/unbound.conf"}); args != want {
		t.Errorf("resolver args:\n%swant (foreground, no pid file, the chart's config):\n%s", args, want)
	}
	mounted := false
	for _, v := range list(c, "volumeMounts") {
		mounted = mounted || (str(v, "mountPath") == unboundDir && at(v, "readOnly") == true)
	}
	if !mounted {
		t.Errorf("nothing mounted read-only at %s: %v", unboundDir, list(c, "volumeMounts"))
	}
	sc := yamlText(t, at(c, "securityContext"))
	for _, want := range []string{"readOnlyRootFilesystem: true", "runAsNonRoot: true", "allowPrivilegeEscalation: false", "- ALL"} {
		if !strings.Contains(sc, want) {
			t.Errorf("resolver securityContext lacks %q:\n%s", want, sc)
		}
	}

	conf := str(m.find("ConfigMap", "-resolver")[0], "data", "unbound.conf")
	for _, want := range []string{`username: ""`, `chroot: ""`, `logfile: ""`, "use-syslog: no", "control-enable: no"} {
		if !strings.Contains(conf, "\n  "+want+"\n") {
			t.Errorf("unbound.conf lacks %q", want)
		}
	}
	for _, refused := range []string{"pidfile:", "auto-trust-anchor-file:", "trust-anchor-file:", "root-hints:", "include:"} {
		if strings.Contains(conf, refused) {
			t.Errorf("unbound.conf sets %s: a file the image lacks or a read-only container cannot write", refused)
		}
	}

	// An empty command keeps the image's entrypoint, for images whose
	// entrypoint is unbound.
	if c := container(t, render(t, nil, "resolver.sidecar.command=null").workload(t), "resolver"); at(c, "command") != nil {
		t.Errorf("command=null still sets command %v", at(c, "command"))
	}
}
