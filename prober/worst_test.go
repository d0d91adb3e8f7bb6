package prober

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

// TestWorstServerBounds: against the most hostile server of the suite
// (longest replies, a 28 KB certificate whose verification error lists 99
// names of 280 bytes, no answer to QUIT) every server-controlled part of
// the result stays within its cap, and the result as a whole stays small.
func TestWorstServerBounds(t *testing.T) {
	ca := smtptest.NewCA(t)
	srv := smtptest.NewWorst(t, ca, 0)
	module := testModule(t, "tls: starttls\ntimeout: 10s\ntls_config: {ca_file: "+ca.File+", server_name: localhost}")
	r := Probe(context.Background(), mustTarget(t, srv.Addr), "test", module, nil, Options{})
	if r.Failure != ReasonCertHostnameMismatch {
		t.Fatalf("failure %q (%s), want cert_hostname_mismatch", r.Failure, r.Error)
	}
	if r.TLS == nil || len(r.TLS.Certificates) == 0 {
		t.Fatal("no certificate captured: the test proves nothing")
	}
	checks := map[string]string{"error": r.Error, "verify_error": r.TLS.VerifyError}
	for i, w := range r.Warnings {
		checks["warning "+string(rune('0'+i))] = w.Message
	}
	for i, f := range r.AlsoFailed {
		checks["also failed "+string(rune('0'+i))] = f
	}
	for what, s := range checks {
		if len(s) > MaxErrorBytes {
			t.Errorf("%s is %d bytes, over %d", what, len(s), MaxErrorBytes)
		}
	}
	if len(r.TLS.VerifyError) < MaxErrorBytes-8 {
		t.Errorf("verify_error is %d bytes: the huge error was expected to be cut", len(r.TLS.VerifyError))
	}
	sans, notReported := 0, 0
	for _, c := range r.TLS.Certificates {
		for _, n := range c.SANs {
			sans += len(n)
		}
		notReported += c.SANsNotReported
	}
	if sans > maxSANBytesReported || notReported == 0 {
		t.Errorf("names: %d bytes reported (at most %d), %d not reported (want some)", sans, maxSANBytesReported, notReported)
	}
	text := 0
	for _, l := range r.Transcript {
		text += len(l.Text)
		if len(l.Text) > maxTranscriptLineBytes {
			t.Errorf("a transcript line of %d bytes", len(l.Text))
		}
	}
	if text > maxTranscriptBytes+200 || len(r.Transcript) > maxTranscriptLines+1 {
		t.Errorf("transcript: %d lines, %d bytes of text", len(r.Transcript), text)
	}
	ehlo := 0
	for _, info := range []*EHLOInfo{r.EHLO, r.EHLOTLS} {
		if info == nil {
			continue
		}
		ehlo += len(info.Domain)
		for _, x := range info.Extensions {
			ehlo += len(x.Keyword)
			for _, p := range x.Params {
				ehlo += len(p)
			}
		}
	}
	// Parameters within their budget; keywords (64 of 64 bytes at most) and
	// the domain besides.
	if ehlo > 2*(maxEHLOBytes+maxExtensions*maxKeywordBytes+maxDomainBytes) {
		t.Errorf("EHLO replies kept as %d bytes", ehlo)
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	// The caps above add up to about 64 KiB; a result that outgrew them
	// would show here first.
	if len(data) > 96<<10 {
		t.Errorf("the result is %d bytes of JSON", len(data))
	}
	t.Logf("result: %d bytes of JSON, %d transcript lines (%d bytes), EHLO %d bytes", len(data), len(r.Transcript), text, ehlo)
}
