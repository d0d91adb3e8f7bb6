package prober

import (
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// TestConfigWorkDoneAtLoad checks that what depends only on the config
// (reading and parsing the CA file, building the TLS config) happens when
// the config is loaded, not on every probe: a CA bundle of many
// certificates costs a probe no more allocations than a single CA, and a
// probe still verifies after the files are gone.
func TestConfigWorkDoneAtLoad(t *testing.T) {
	e := newEnv(t)
	srv := smtptest.NewServer(t, smtptest.Config{StartTLS: e.good})

	// The bundle holds the server's CA after 200 other certificates, each
	// with a subject of its own as in a system bundle: parsing them takes
	// thousands of allocations. (Certificates sharing the server CA's
	// subject would all be tried as its issuer, a cost of their own.)
	caPEM, err := os.ReadFile(e.ca.File)
	if err != nil {
		t.Fatal(err)
	}
	other := smtptest.NewCA(t)
	var bundle []byte
	for i := range 200 {
		c := other.Issue(t, smtptest.Leaf{DNSNames: []string{fmt.Sprintf("bundle-%d.test", i)}})
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})...)
	}
	bundle = append(bundle, caPEM...)
	dir := t.TempDir()
	single, many := filepath.Join(dir, "single.pem"), filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(single, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(many, bundle, 0o600); err != nil {
		t.Fatal(err)
	}

	allocs := map[string]float64{}
	for _, file := range []string{single, many} {
		m := testModule(t, "tls: starttls\ntls_config: {ca_file: "+file+", server_name: localhost}")
		probe := func() {
			r := Probe(context.Background(), mustTarget(t, srv.Addr), "test", m, nil, Options{})
			if !r.Success || !r.TLS.Verified {
				t.Fatalf("probe with ca_file %s: %s %s", filepath.Base(file), r.Failure, r.Error)
			}
		}
		probe() // warm up once-only work (system roots, sync.Pools)
		allocs[file] = testing.AllocsPerRun(20, probe)
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
		probe() // the file is gone: only what was loaded can verify
	}
	// Parsing 201 certificates per probe would add thousands; the margin
	// absorbs the scheduler's and the fake server's own variation.
	if extra := allocs[many] - allocs[single]; extra > 100 {
		t.Errorf("a probe with a 201-certificate ca_file makes %.0f allocations, %.0f more than with one certificate: is the CA file parsed per probe?",
			allocs[many], extra)
	}
	// A probe's TLS config is a copy of the one built at load, with its
	// server name: one allocation, no cipher list or key pair rebuilt.
	m := testModule(t, "tls: starttls\ntls_config: {ca_file: "+e.ca.File+"}")
	if n := testing.AllocsPerRun(100, func() { m.ClientTLS("mx.example.com") }); n > 1 {
		t.Errorf("ClientTLS makes %.0f allocations, want 1 (a copy of the config built at load)", n)
	}
	t.Logf("allocations per STARTTLS probe (client and fake server): %.0f with one CA, %.0f with a bundle of 201", allocs[single], allocs[many])
}
