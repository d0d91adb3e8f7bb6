// Package mtasts owns the MTA-STS rules of RFC 8461 and the TLS-RPT record
// of RFC 8460: parsing the _mta-sts TXT record, fetching and parsing the
// policy, matching MX host names against its patterns, and parsing the
// _smtp._tls record. Parsing is pure; the fetcher is the only network code
// and takes its dialer from the caller, so lookups go through the module's
// resolver and allow-list.
package mtasts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNoRecord is returned when no TXT record at _mta-sts begins with
// v=STSv1: the domain has no MTA-STS (not an error of the domain's).
var ErrNoRecord = errors.New("no v=STSv1 TXT record")

// Record is the _mta-sts TXT record.
type Record struct {
	ID  string `json:"id"`
	Raw string `json:"raw"`
}

// maxTXT bounds a record's length; DNS bounds it far above what any real
// record needs.
const maxTXT = 4096

// ParseRecord picks the one record beginning with v=STSv1 among the TXT
// records of _mta-sts.DOMAIN (each given with its strings joined) and
// parses it (RFC 8461 §3.1). Records that do not begin with v=STSv1 are
// ignored, as senders ignore them; more than one is an error.
func ParseRecord(txts []string) (Record, error) {
	var sts []string
	for _, t := range txts {
		if hasVersion(t, "v=STSv1") {
			sts = append(sts, t)
		}
	}
	switch {
	case len(sts) == 0:
		return Record{}, ErrNoRecord
	case len(sts) > 1:
		return Record{}, fmt.Errorf("%d TXT records begin with v=STSv1; senders need exactly one", len(sts))
	}
	raw := sts[0]
	if len(raw) > maxTXT {
		return Record{}, fmt.Errorf("record of %d bytes, longer than %d", len(raw), maxTXT)
	}
	fields, err := splitFields(raw)
	if err != nil {
		return Record{}, err
	}
	rec := Record{Raw: raw}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		switch {
		case k == "id":
			if rec.ID != "" {
				return Record{}, errors.New("more than one id field")
			}
			if !validID(v) {
				return Record{}, fmt.Errorf("id %q is not 1 to 32 letters and digits", v)
			}
			rec.ID = v
		case !validExtName(k):
			return Record{}, fmt.Errorf("field name %q is not valid", k)
		case !validExtValue(v):
			return Record{}, fmt.Errorf("value of field %q is not valid", k)
		}
	}
	if rec.ID == "" {
		return Record{}, errors.New("no id field")
	}
	return rec, nil
}

// hasVersion: s begins with the version tag, followed by the end, a
// semicolon or white space (the RFC's "begin with v=STSv1;" read with
// the grammar's optional white space before the delimiter).
func hasVersion(s, v string) bool {
	if !strings.HasPrefix(s, v) {
		return false
	}
	rest := s[len(v):]
	return rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t'
}

// splitFields splits a TXT record at its delimiters (*WSP ";" *WSP) and
// checks that every field is key=value; a trailing delimiter is allowed,
// an empty field elsewhere is not. The first field is the version.
func splitFields(raw string) ([]string, error) {
	parts := strings.Split(raw, ";")
	if n := len(parts); n > 1 && strings.Trim(parts[n-1], " \t") == "" {
		parts = parts[:n-1]
	}
	if len(parts) < 2 {
		return nil, errors.New("no field after the version")
	}
	for i, p := range parts {
		p = strings.Trim(p, " \t")
		if i == 0 {
			parts[i] = p
			continue
		}
		if p == "" {
			return nil, errors.New("empty field")
		}
		if !strings.Contains(p, "=") {
			return nil, fmt.Errorf("field %q is not key=value", p)
		}
		parts[i] = p
	}
	return parts, nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func validID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := range len(s) {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// validExtName: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".").
func validExtName(s string) bool {
	if s == "" || len(s) > 32 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// validExtValue: 1*(%x21-3A / %x3C / %x3E-7E): visible ASCII but ; and =.
func validExtValue(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == ';' || c == '=' {
			return false
		}
	}
	return true
}

// Mode is a policy's mode. The values are a public interface (the mode
// label of probe_smtp_mta_sts_mode).
type Mode string

// The modes of RFC 8461 §5.
const (
	ModeEnforce Mode = "enforce"
	ModeTesting Mode = "testing"
	ModeNone    Mode = "none"
)

// Modes lists every mode in a fixed order, for stable series.
var Modes = []Mode{ModeEnforce, ModeTesting, ModeNone}

// MaxMaxAge is the largest max_age RFC 8461 §3.2 allows (about a year).
const MaxMaxAge = 31557600

// MaxPolicySize is the largest policy a sender must accept (RFC 8461 §3.3
// lets senders limit it; 64 KiB is the common limit).
const MaxPolicySize = 64 << 10

// maxMX bounds the mx patterns kept from one policy.
const maxMX = 1000

// Policy is a parsed policy file.
type Policy struct {
	Version string   `json:"version"`
	Mode    Mode     `json:"mode"`
	MX      []string `json:"mx"`
	MaxAge  int64    `json:"max_age"`
	// Warnings are what senders tolerate but an operator should fix
	// (repeated fields, unknown fields are not warned about: RFC 8461
	// allows extensions).
	Warnings []string `json:"warnings,omitempty"`
}

// ParsePolicy parses a policy file (RFC 8461 §3.2): "key: value" lines
// ending in LF or CRLF; version STSv1, a mode, max_age, and mx patterns
// (at least one unless the mode is none). Unknown fields are ignored; a
// repeated field other than mx keeps its first value, with a warning.
func ParsePolicy(body []byte) (Policy, error) {
	if len(body) > MaxPolicySize {
		return Policy{}, fmt.Errorf("policy of %d bytes, larger than %d", len(body), MaxPolicySize)
	}
	var p Policy
	seen := map[string]bool{}
	maxAge := ""
	for n, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.Trim(line, " \t") == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return Policy{}, fmt.Errorf("line %d is not 'key: value'", n+1)
		}
		if !validExtName(k) {
			return Policy{}, fmt.Errorf("line %d: field name %q is not valid", n+1, k)
		}
		v = strings.Trim(v, " \t")
		for i := range len(v) {
			if c := v[i]; (c < 0x20 || c > 0x7e) && c != '\t' {
				return Policy{}, fmt.Errorf("line %d: control or non-ASCII byte in the value of %s", n+1, k)
			}
		}
		if k == "mx" {
			if len(p.MX) >= maxMX {
				return Policy{}, fmt.Errorf("more than %d mx patterns", maxMX)
			}
			if err := validPattern(v); err != nil {
				return Policy{}, fmt.Errorf("line %d: mx %q: %w", n+1, v, err)
			}
			p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(v, ".")))
			continue
		}
		if k != "version" && k != "mode" && k != "max_age" {
			continue
		}
		if seen[k] {
			p.Warnings = append(p.Warnings, fmt.Sprintf("line %d: %s repeated; senders use the first", n+1, k))
			continue
		}
		seen[k] = true
		switch k {
		case "version":
			p.Version = v
		case "mode":
			p.Mode = Mode(v)
		case "max_age":
			maxAge = v
		}
	}
	switch {
	case !seen["version"]:
		return Policy{}, errors.New("no version field")
	case p.Version != "STSv1":
		return Policy{}, fmt.Errorf("version %q, not STSv1", p.Version)
	case !seen["mode"]:
		return Policy{}, errors.New("no mode field")
	case p.Mode != ModeEnforce && p.Mode != ModeTesting && p.Mode != ModeNone:
		return Policy{}, fmt.Errorf("mode %q is not enforce, testing or none", p.Mode)
	case !seen["max_age"]:
		return Policy{}, errors.New("no max_age field")
	case len(p.MX) == 0 && p.Mode != ModeNone:
		return Policy{}, fmt.Errorf("no mx pattern in %s mode", p.Mode)
	}
	if maxAge == "" || len(maxAge) > 10 || strings.Trim(maxAge, "0123456789") != "" {
		return Policy{}, fmt.Errorf("max_age %q is not 1 to 10 digits", maxAge)
	}
	age, _ := strconv.ParseInt(maxAge, 10, 64)
	if age > MaxMaxAge {
		return Policy{}, fmt.Errorf("max_age %d is larger than %d", age, MaxMaxAge)
	}
	p.MaxAge = age
	return p, nil
}

// validPattern: a host name, or "*." and a host name (RFC 8461 §3.2).
func validPattern(s string) error {
	name := strings.TrimPrefix(s, "*.")
	name = strings.TrimSuffix(name, ".")
	if len(name) > 253 {
		return errors.New("longer than 253 characters")
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 && name != s {
		return errors.New("a wildcard needs a domain of at least one label")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return errors.New("empty or over-long label")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return errors.New("label begins or ends with a hyphen")
		}
		for i := range len(l) {
			if c := l[i]; !isAlnum(c) && c != '-' && c != '_' {
				return fmt.Errorf("character %q is not allowed in a host name", c)
			}
		}
	}
	return nil
}

// MatchMX reports whether host matches pattern (RFC 8461 §4.1): case
// insensitive, trailing dots ignored; "*.example.com" matches exactly one
// label in front of example.com.
func MatchMX(pattern, host string) bool {
	pattern = strings.ToLower(strings.TrimSuffix(pattern, "."))
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || pattern == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		first, parent, found := strings.Cut(host, ".")
		return found && first != "" && parent == rest
	}
	return pattern == host
}

// Match returns the first pattern of the policy that host matches.
func (p Policy) Match(host string) (string, bool) {
	for _, pat := range p.MX {
		if MatchMX(pat, host) {
			return pat, true
		}
	}
	return "", false
}
