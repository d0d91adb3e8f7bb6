package prober

import (
	"context"
	"strings"
	"testing"

	"github.com/smtp-exporter/smtp_exporter/internal/smtptest"
)

func TestMaskedGreeting(t *testing.T) {
	cases := []struct {
		text string
		want bool
	}{
		// What a Cisco ASA's mask-banner leaves of a Postfix greeting.
		{"****************************************0******0*******************2002*******2000*0*0", true},
		{"**************************3*7", true},
		{"mx.example.org ESMTP Postfix (Debian/GNU)", false},
		{"mail.example.com Microsoft ESMTP MAIL Service ready at Mon, 1 Jun 2025", false},
		// A banner that merely decorates itself.
		{"*** Welcome to mx.example.org ***", false},
		{"***", false},
	}
	for _, tc := range cases {
		if got := MaskedGreeting([]string{tc.text}); got != tc.want {
			t.Errorf("MaskedGreeting(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

func TestStrippedStartTLS(t *testing.T) {
	cases := []struct {
		keywords []string
		want     string
	}{
		{[]string{"PIPELINING", "XXXXXXXA", "8BITMIME"}, "XXXXXXXA"},
		{[]string{"XXXXXXXX"}, "XXXXXXXX"},
		// Real extensions starting with X are not the mark.
		{[]string{"XCLIENT", "XFORWARD", "XEXCH50", "X-LINK2STATE", "XOORG"}, ""},
		{[]string{"STARTTLS"}, ""},
		{nil, ""},
	}
	for _, tc := range cases {
		e := &EHLOInfo{}
		for _, k := range tc.keywords {
			e.Extensions = append(e.Extensions, Extension{Keyword: k})
		}
		if got := StrippedStartTLS(e); got != tc.want {
			t.Errorf("StrippedStartTLS(%v) = %q, want %q", tc.keywords, got, tc.want)
		}
	}
	if StrippedStartTLS(nil) != "" {
		t.Error("StrippedStartTLS(nil) found a keyword")
	}
}

// TestStartTLSStripped: behind an ASA's ESMTP inspection the reason is
// starttls_stripped, not starttls_not_advertised, and a warning where the
// module does not require TLS; a server that simply has no STARTTLS keeps
// starttls_not_advertised (a warning on an opportunistic module).
func TestStartTLSStripped(t *testing.T) {
	e := newEnv(t)
	asa := func(t *testing.T) string {
		return smtptest.NewRawServer(t, smtptest.ASA(smtptest.Config{StartTLS: e.good})).Addr
	}
	plain := func(t *testing.T) string { return smtptest.NewServer(t, smtptest.Config{}).Addr }
	cases := []struct {
		name, module string
		server       func(t *testing.T) string
		failure      Reason
		warning      Reason
		errorHas     string
	}{
		{
			"starttls module behind an ASA", "tls: starttls", asa, ReasonStartTLSStripped, "",
			"the EHLO reply has XXXXXXXA where STARTTLS belongs, and the greeting is masked with asterisks",
		},
		{"opportunistic module behind an ASA", "tls: opportunistic", asa, "", ReasonStartTLSStripped, ""},
		{"starttls module, no STARTTLS", "tls: starttls", plain, ReasonStartTLSNotAdvertised, "", "does not advertise STARTTLS"},
		{"opportunistic module, no STARTTLS", "tls: opportunistic", plain, "", ReasonStartTLSNotAdvertised, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Probe(context.Background(), mustTarget(t, tc.server(t)), "test", testModule(t, tc.module), nil, Options{})
			expect(t, "failure", r.Failure, tc.failure)
			if !strings.Contains(r.Error, tc.errorHas) {
				t.Errorf("error %q lacks %q", r.Error, tc.errorHas)
			}
			got := Reason("")
			if len(r.Warnings) > 0 {
				got = r.Warnings[0].Reason
			}
			expect(t, "warning", got, tc.warning)
			expect(t, "encrypted", r.Encrypted, false)
		})
	}
}
