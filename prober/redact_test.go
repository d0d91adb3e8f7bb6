package prober

import (
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"
)

func TestClean(t *testing.T) {
	const pw = `pa"ss\wo` + "\x01rd"
	p := &conversation{secrets: secretForms("user", pw)}
	sanitizedPW := `pa"ss\wo` + "\uFFFD" + "rd"
	cases := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"plain text is kept", "250 OK", 512, "250 OK"},
		{"the password", "x " + pw + " y", 512, "x <redacted> y"},
		{"as sanitizing renders it", "x " + sanitizedPW, 512, "x <redacted>"},
		// The cut comes after redaction: no prefix of the password is left.
		{"the password across the cap", strings.Repeat("a", 20) + pw, 24, strings.Repeat("a", 20) + "<…"},
		{"control characters", "a\x00b\x1bc", 512, "a\uFFFDb\uFFFDc"},
		{"invalid UTF-8", "a\xffb", 512, "a\uFFFDb"},
		{"a cut is marked and within the cap", strings.Repeat("é", 100), 11, "éééé…"},
	}
	for _, tc := range cases {
		got := p.clean(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("%s: clean(%q, %d) = %q, want %q", tc.name, tc.in, tc.max, got, tc.want)
		}
		if len(got) > tc.max || !utf8.ValidString(got) {
			t.Errorf("%s: %q is %d bytes (cap %d) or not UTF-8", tc.name, got, len(got), tc.max)
		}
		if strings.Contains(got, "pa\"ss") {
			t.Errorf("%s: %q shows part of the password", tc.name, got)
		}
	}
}

func TestCapTextCopies(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	got := capText(big, MaxErrorBytes)
	if len(got) != MaxErrorBytes || !strings.HasSuffix(got, cutMarker) {
		t.Fatalf("capText: %d bytes, want %d ending in the marker", len(got), MaxErrorBytes)
	}
	// The cut must not share the big string's memory (it would keep it alive).
	if unsafe.StringData(got) == unsafe.StringData(big) {
		t.Fatal("the cut shares memory with the original")
	}
}

func TestCodeOnly(t *testing.T) {
	cases := []struct {
		in       string
		ehloLine bool
		want     string
	}{
		{"535 5.7.8 Authentication credentials invalid", false, "535 5.7.8"},
		{"535-5.7.8 first half", false, "535-5.7.8"},
		{"235 2.7.0 ok", false, "235 2.7.0"},
		{"334 VXNlcm5hbWU6", false, "334"},
		{"334 ", false, "334"},
		{"535 secret-without-status", false, "535"},
		{"535-secret", false, "535-"},
		{"421 4.7.0", false, "421 4.7.0"},
		{"535 5.7.8x text", false, "535"},
		{"535 6.7.8 text", false, "535"},
		{"535 5.7777.8 text", false, "535"},
		{"5x5 secret", false, "(a line that is not a reply; its text is not kept for a module with credentials)"},
		// A greeting is free text, however it looks.
		{"220 mx.example.net ESMTP Kq7Xw", false, "220"},
		{"220-STARTTLS", false, "220-"},
		// EHLO lines keep their keyword, and AUTH its mechanisms.
		{"250-PIPELINING", true, "250-PIPELINING"},
		{"250-size 10240000", true, "250-SIZE 10240000"},
		{"250-SIZE 1024 Kq7", true, "250-SIZE"},
		{"250-SIZE 10k", true, "250-SIZE"},
		{"250-AUTH PLAIN login CRAM-MD5", true, "250-AUTH PLAIN LOGIN CRAM-MD5"},
		{"250-AUTH=LOGIN PLAIN", true, "250-AUTH LOGIN PLAIN"},
		{"250-AUTH PLAIN Kq7\"Xw\\Pz", true, "250-AUTH PLAIN"},
		{"250-XCLIENT NAME ADDR Kq7\"Xw", true, "250-XCLIENT"},
		{"250 8BITMIME", true, "250 8BITMIME"},
		{"250-Kq7\"Xw\\Pz half", true, "250-"},
		{"250-5.0.0 Kq7\"Xw", true, "250-5.0.0"},
	}
	for _, tc := range cases {
		if got := codeOnly(tc.in, tc.ehloLine); got != tc.want {
			t.Errorf("codeOnly(%q, %v) = %q, want %q", tc.in, tc.ehloLine, got, tc.want)
		}
	}
	if got := replyStatus(Reply{Code: 535, Lines: []string{"5.7.8 echo", "5.7.8 more"}}); got != "535 5.7.8" {
		t.Errorf("replyStatus = %q", got)
	}
}
