package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/dane"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

func TestWriteDANE(t *testing.T) {
	ee := dane.Record{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{0xab, 0xcd}}
	pk := dane.Record{Usage: 1, Selector: 1, MatchingType: 1, Data: []byte{0x01}}
	r := &prober.Result{
		Target: "mx.example.net:25", Module: "mx", Failure: prober.ReasonDANEFailed,
		DANE: &prober.DANEResult{
			Mode: "check", Name: "_25._tcp.mx.example.net", Server: "127.0.0.1:53", Secure: true,
			Result: dane.Result{
				Status: dane.StatusFailed, Detail: "1 usable TLSA records, none matches",
				Verdicts: []dane.RecordVerdict{{Record: ee, Usable: true, Why: "does not match the leaf certificate"}, {Record: pk, Why: "usage 1 (PKIX-EE) is not usable for SMTP"}},
			},
		},
	}
	var b bytes.Buffer
	Write(&b, r, Options{})
	out := b.String()
	for _, want := range []string{
		"DANE (RFC 7672), module dane: check",
		"TLSA name:   _25._tcp.mx.example.net (asked 127.0.0.1:53)",
		"DNSSEC:      secure (the resolver set the AD bit)",
		"status:      failed: 1 usable TLSA records, none matches",
		"[0] 3 1 1 abcd",
		"no match (DANE-EE): does not match the leaf certificate",
		"unusable (PKIX-EE): usage 1 (PKIX-EE) is not usable for SMTP",
		"DANE-validating senders defer mail",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	r.DANE = &prober.DANEResult{Mode: "check", Result: dane.Result{Status: dane.StatusValidated, Matched: &ee, Verdicts: []dane.RecordVerdict{{Record: ee, Usable: true, Matched: true, Why: "matches the leaf"}}}}
	b.Reset()
	Write(&b, r, Options{})
	if !strings.Contains(b.String(), "matched:     3 1 1 abcd (DANE-EE)") || !strings.Contains(b.String(), "MATCH (DANE-EE): matches the leaf") {
		t.Errorf("validated report:\n%s", b.String())
	}
	b.Reset()
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"dane": {`, `"status": "validated"`, `"matched": "3 1 1 abcd"`, `"record": "3 1 1 abcd"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b.String())
		}
	}
}
