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
	cases := []struct{ in, want string }{
		{"535 5.7.8 Authentication credentials invalid", "535 5.7.8"},
		{"535-5.7.8 first half", "535-5.7.8"},
		{"235 2.7.0 ok", "235 2.7.0"},
		{"334 VXNlcm5hbWU6", "334"},
		{"334 ", "334"},
		{"535 secret-without-status", "535"},
		{"535-secret", "535-"},
		{"421 4.7.0", "421 4.7.0"},
		{"535 5.7.8x text", "535"},
		{"535 6.7.8 text", "535"},
		{"535 5.7777.8 text", "535"},
		{"5x5 secret", "(a line that is not a reply; its text is dropped after credentials were sent)"},
	}
	for _, tc := range cases {
		if got := codeOnly(tc.in); got != tc.want {
			t.Errorf("codeOnly(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := replyStatus(Reply{Code: 535, Lines: []string{"5.7.8 echo", "5.7.8 more"}}); got != "535 5.7.8" {
		t.Errorf("replyStatus = %q", got)
	}
}
