package prober

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/dane"
	"github.com/smtp-exporter/smtp_exporter/internal/dnstest"
	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
	"github.com/smtp-exporter/smtp_exporter/resolver"
)

func spkiHex(t *testing.T, cert tls.Certificate, i int) string {
	t.Helper()
	c, err := x509.ParseCertificate(cert.Certificate[i])
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(s[:])
}

// TestProbeDANE runs the probe against a fake SMTP server, with TLSA
// records from an in-process DNS server that sets the AD bit, answers
// SERVFAIL or misbehaves as each case needs.
func TestProbeDANE(t *testing.T) {
	const host = "mx.dane.test"
	ca := smtptest.NewCA(t)
	leaf := ca.Issue(t, smtptest.Leaf{DNSNames: []string{host}})
	// The CA in the presented chain, as a server with a DANE-TA record must send it.
	withCA := leaf
	withCA.Certificate = append([][]byte{leaf.Certificate[0]}, ca.Cert.Raw)
	self := smtptest.NewCA(t).Issue(t, smtptest.Leaf{DNSNames: []string{"not-the-host.example"}, NotAfter: time.Now().Add(-time.Hour)})
	caSPKI := func() string { s := sha256.Sum256(ca.Cert.RawSubjectPublicKeyInfo); return hex.EncodeToString(s[:]) }()

	cases := []struct {
		name    string
		mode    string
		server  *tls.Config // nil: no STARTTLS
		records []string    // TLSA data at _PORT._tcp.host
		knob    string      // "secure" (AD), "servfail", "wrong", "insecure"
		caFile  bool        // the module trusts ca
		status  dane.Status
		want    Reason
		usage   int // of the matched record, -1 for none
	}{
		{"DANE-EE validates a self-signed, expired, misnamed certificate", "check", smtptest.ServerTLS(self), []string{"3 1 1 " + spkiHex(t, self, 0)}, "secure", false, dane.StatusValidated, "", 3},
		{"DANE-TA of the presented CA", "check", smtptest.ServerTLS(withCA), []string{"2 1 1 " + caSPKI}, "secure", true, dane.StatusValidated, "", 2},
		{"DANE-TA of a CA not presented", "check", smtptest.ServerTLS(leaf), []string{"2 1 1 " + caSPKI}, "secure", true, dane.StatusFailed, ReasonDANEFailed, -1},
		{"wrong digest", "check", smtptest.ServerTLS(leaf), []string{"3 1 1 " + strings.Repeat("00", 32)}, "secure", true, dane.StatusFailed, ReasonDANEFailed, -1},
		{"wrong digest and an untrusted chain", "check", smtptest.ServerTLS(self), []string{"3 1 1 " + strings.Repeat("00", 32)}, "secure", false, dane.StatusFailed, ReasonDANEFailed, -1},
		{"usage 1 only", "check", smtptest.ServerTLS(leaf), []string{"1 1 1 " + spkiHex(t, leaf, 0)}, "secure", true, dane.StatusUnusable, "", -1},
		{"usage 1 only, required", "required", smtptest.ServerTLS(leaf), []string{"1 1 1 " + spkiHex(t, leaf, 0)}, "secure", true, dane.StatusUnusable, ReasonDANEMissing, -1},
		{"secure denial", "check", smtptest.ServerTLS(leaf), nil, "secure", true, dane.StatusNone, "", -1},
		{"secure denial, required", "required", smtptest.ServerTLS(leaf), nil, "secure", true, dane.StatusNone, ReasonDANEMissing, -1},
		{"records without AD", "check", smtptest.ServerTLS(leaf), []string{"3 1 1 " + spkiHex(t, leaf, 0)}, "insecure", true, dane.StatusInsecure, "", -1},
		{"records without AD, required", "required", smtptest.ServerTLS(leaf), []string{"3 1 1 " + spkiHex(t, leaf, 0)}, "insecure", true, dane.StatusInsecure, ReasonDANEMissing, -1},
		{"SERVFAIL is bogus", "check", smtptest.ServerTLS(leaf), []string{"3 1 1 " + spkiHex(t, leaf, 0)}, "servfail", true, dane.StatusBogus, ReasonDANEBogus, -1},
		{"an answer to another question is bogus", "check", smtptest.ServerTLS(leaf), []string{"3 1 1 " + spkiHex(t, leaf, 0)}, "wrong", true, dane.StatusBogus, ReasonDANEBogus, -1},
		{"usable records, no STARTTLS", "check", nil, []string{"3 1 1 " + spkiHex(t, leaf, 0)}, "secure", true, dane.StatusFailed, ReasonDANEFailed, -1},
		// RFC 7672 §2.2.2: TLSA records count only for a host whose address
		// records are secure; they are not even asked for otherwise.
		{"insecure address records", "check", smtptest.ServerTLS(self), []string{"3 1 1 " + spkiHex(t, self, 0)}, "secure, address insecure", false, dane.StatusInsecure, "", -1},
		{"insecure address records, required", "required", smtptest.ServerTLS(leaf), []string{"3 1 1 " + spkiHex(t, leaf, 0)}, "secure, address insecure", true, dane.StatusInsecure, ReasonDANEMissing, -1},
		{"address records SERVFAIL", "check", smtptest.ServerTLS(leaf), []string{"3 1 1 " + spkiHex(t, leaf, 0)}, "secure, address servfail", true, dane.StatusBogus, ReasonDANEBogus, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.NewServer(t, smtptest.Config{StartTLS: tc.server})
			_, port, _ := net.SplitHostPort(srv.Addr)
			tlsa := "_" + port + "._tcp." + host + "."
			d := dnstest.Start(t)
			for _, r := range tc.records {
				d.Add(t, tlsa+" 300 IN TLSA "+r)
			}
			// An empty non-terminal keeps the denial NODATA rather than NXDOMAIN for one case.
			d.Add(t, host+". 300 IN A 127.0.0.1")
			tlsaAsked := true
			switch addressKnob, _ := strings.CutPrefix(tc.knob, "secure, "); addressKnob {
			case "address insecure":
				tlsaAsked = false
			case "address servfail":
				tlsaAsked = false
				d.Set(d.ServFail, host+".")
			default:
				d.Set(d.Secure, host+".")
			}
			switch tc.knob {
			case "secure", "secure, address insecure", "secure, address servfail":
				d.Set(d.Secure, tlsa)
			case "servfail":
				d.Set(d.ServFail, tlsa)
			case "wrong":
				d.Set(d.WrongQuestion, tlsa)
			}
			dnsr, err := resolver.New(d.Addr)
			if err != nil {
				t.Fatal(err)
			}
			fields := "tls: opportunistic\ndane: " + tc.mode
			if tc.caFile {
				fields += "\ntls_config: {ca_file: " + ca.File + "}"
			}
			m := testModule(t, fields)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r := Probe(ctx, mustTarget(t, host+":"+port), "test", m, nil, Options{
				Resolver: smtptest.NewResolver(t, map[string][]netip.Addr{host: {netip.MustParseAddr("127.0.0.1")}}),
				DNS:      dnsr,
			})
			if r.DANE == nil {
				t.Fatalf("no DANE result; transcript %v", r.Transcript)
			}
			if r.DANE.Status != tc.status {
				t.Errorf("status %s, want %s (%s)", r.DANE.Status, tc.status, r.DANE.Detail)
			}
			if r.Failure != tc.want {
				t.Errorf("failure %q (%s), want %q; warnings %q", r.Failure, r.Error, tc.want, r.Warnings)
			}
			if r.DANE.Name != tlsa[:len(tlsa)-1] || r.DANE.Server != d.Addr {
				t.Errorf("name %q server %q", r.DANE.Name, r.DANE.Server)
			}
			if tc.usage < 0 {
				if r.DANE.Matched != nil {
					t.Errorf("matched %s", r.DANE.Matched)
				}
			} else if r.DANE.Matched == nil || int(r.DANE.Matched.Usage) != tc.usage {
				t.Errorf("matched %v, want usage %d", r.DANE.Matched, tc.usage)
			}
			if tc.status == dane.StatusValidated && !tc.caFile {
				// The WebPKI failure is reported, and excused.
				if r.TLS == nil || r.TLS.Verified {
					t.Error("the chain should not verify against the system roots")
				}
				if !strings.Contains(fmt.Sprint(r.Warnings), "accepted: DANE validated") {
					t.Errorf("warnings %q do not say the certificate failure was excused", r.Warnings)
				}
			}
			var sawDO bool
			for _, q := range d.Queries() {
				if strings.EqualFold(q.Name, tlsa) {
					sawDO = sawDO || q.DO
				}
			}
			if sawDO != tlsaAsked {
				t.Errorf("TLSA asked with the DO bit: %v, want %v: %+v", sawDO, tlsaAsked, d.Queries())
			}
		})
	}
}

// TestProbeDANEOff: no lookup at all when the module's dane is off, nor
// for an address target.
func TestProbeDANEOff(t *testing.T) {
	e := newEnv(t)
	srv := smtptest.NewServer(t, smtptest.Config{StartTLS: e.good})
	d := dnstest.Start(t)
	dnsr, err := resolver.New(d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(srv.Addr)
	for _, tc := range []struct{ fields, target string }{
		{"tls: opportunistic", "localhost:" + port},
		{"tls: opportunistic\ndane: check", "127.0.0.1:" + port},
	} {
		r := Probe(context.Background(), mustTarget(t, tc.target), "test", testModule(t, tc.fields+fmt.Sprintf("\ntls_config: {ca_file: %s}", e.ca.File)), nil,
			Options{DNS: dnsr, Resolver: smtptest.NewResolver(t, map[string][]netip.Addr{"localhost": {netip.MustParseAddr("127.0.0.1")}})})
		if !r.Success || (r.DANE != nil && r.DANE.Status != "") {
			t.Errorf("%s %s: success %v (%s), DANE %+v", tc.fields, tc.target, r.Success, r.Error, r.DANE)
		}
	}
	if q := d.Queries(); len(q) != 0 {
		t.Errorf("TLSA questions asked: %+v", q)
	}
}

// TestProbeDANEDecides: when DANE applies (usable, DNSSEC-secure TLSA
// records, or an answer that fails validation), a DANE sender does DANE
// only, so its verdict is the probe's reason, and WebPKI's problems are
// warnings, on a module where they would otherwise fail the probe.
func TestProbeDANEDecides(t *testing.T) {
	const host = "mx.dane.test"
	ca := smtptest.NewCA(t)
	misnamed := ca.Issue(t, smtptest.Leaf{DNSNames: []string{"other.example"}})
	cases := []struct {
		name     string
		records  []string
		bogus    bool
		status   dane.Status
		want     Reason
		also     int    // failures besides the reason
		warnSays string // the certificate warning says why it does not decide
	}{
		{"usable records, none matches", []string{"3 1 1 " + strings.Repeat("00", 32)}, false, dane.StatusFailed, ReasonDANEFailed, 0, "DANE decides for this host, and it failed"},
		{"a bogus TLSA answer", []string{"3 1 1 " + spkiHex(t, misnamed, 0)}, true, dane.StatusBogus, ReasonDANEBogus, 0, "its records are bogus"},
		{"validated", []string{"3 1 1 " + spkiHex(t, misnamed, 0)}, false, dane.StatusValidated, "", 0, "accepted: DANE validated the chain"},
		// No TLSA records: DANE does not apply, WebPKI decides.
		{"no records", nil, false, dane.StatusNone, ReasonCertHostnameMismatch, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.NewServer(t, smtptest.Config{StartTLS: smtptest.ServerTLS(misnamed)})
			_, port, _ := net.SplitHostPort(srv.Addr)
			tlsa := "_" + port + "._tcp." + host + "."
			d := dnstest.Start(t, host+". 300 IN A 127.0.0.1")
			for _, r := range tc.records {
				d.Add(t, tlsa+" 300 IN TLSA "+r)
			}
			d.Set(d.Secure, host)
			d.Set(d.Secure, tlsa)
			if tc.bogus {
				d.Set(d.Bogus, tlsa)
			}
			dnsr, err := resolver.New(d.Addr)
			if err != nil {
				t.Fatal(err)
			}
			m := testModule(t, "tls: starttls\ndane: check\ntls_config: {ca_file: "+ca.File+"}")
			r := Probe(t.Context(), mustTarget(t, host+":"+port), "test", m, nil, Options{
				Resolver: smtptest.NewResolver(t, map[string][]netip.Addr{host: {netip.MustParseAddr("127.0.0.1")}}),
				DNS:      dnsr,
			})
			if r.DANE == nil || r.DANE.Status != tc.status {
				t.Fatalf("DANE %+v, want status %s", r.DANE, tc.status)
			}
			if r.Failure != tc.want || len(r.AlsoFailed) != tc.also {
				t.Errorf("failure %q (%s), also %q; want %q and %d more", r.Failure, r.Error, r.AlsoFailed, tc.want, tc.also)
			}
			if tc.warnSays == "" {
				if r.HasWarning(ReasonCertHostnameMismatch) {
					t.Errorf("without DANE the certificate failure is a warning: %q", r.Warnings)
				}
				return
			}
			if !r.HasWarning(ReasonCertHostnameMismatch) || !strings.Contains(fmt.Sprint(r.Warnings), tc.warnSays) {
				t.Errorf("warnings %q, want cert_hostname_mismatch saying %q", r.Warnings, tc.warnSays)
			}
		})
	}
}
