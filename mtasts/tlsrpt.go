package mtasts

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrNoTLSRPT is returned when no TXT record at _smtp._tls begins with v=TLSRPTv1.
var ErrNoTLSRPT = errors.New("no v=TLSRPTv1 TXT record")

// TLSRPT is the _smtp._tls TXT record (RFC 8460 §3).
type TLSRPT struct {
	RUA []string `json:"rua"`
	Raw string   `json:"raw"`
}

// maxRUA bounds the report URIs kept from one record.
const maxRUA = 100

// ParseTLSRPT picks the one record beginning with v=TLSRPTv1 among the TXT
// records of _smtp._tls.DOMAIN and parses it: one rua field, a comma
// separated list of mailto: and https: URIs. Other fields are extensions.
func ParseTLSRPT(txts []string) (TLSRPT, error) {
	var recs []string
	for _, t := range txts {
		if hasVersion(t, "v=TLSRPTv1") {
			recs = append(recs, t)
		}
	}
	switch {
	case len(recs) == 0:
		return TLSRPT{}, ErrNoTLSRPT
	case len(recs) > 1:
		return TLSRPT{}, fmt.Errorf("%d TXT records begin with v=TLSRPTv1; senders need exactly one", len(recs))
	}
	raw := recs[0]
	if len(raw) > maxTXT {
		return TLSRPT{}, fmt.Errorf("record of %d bytes, longer than %d", len(raw), maxTXT)
	}
	fields, err := splitFields(raw)
	if err != nil {
		return TLSRPT{}, err
	}
	r := TLSRPT{Raw: raw}
	seenRUA := false
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		if k != "rua" {
			if !validExtName(k) || !validExtValue(v) {
				return TLSRPT{}, fmt.Errorf("field %q is not valid", f)
			}
			continue
		}
		if seenRUA {
			return TLSRPT{}, errors.New("more than one rua field")
		}
		seenRUA = true
		for u := range strings.SplitSeq(v, ",") {
			u = strings.Trim(u, " \t")
			if err := validRUA(u); err != nil {
				return TLSRPT{}, fmt.Errorf("rua %q: %w", u, err)
			}
			if len(r.RUA) >= maxRUA {
				return TLSRPT{}, fmt.Errorf("more than %d rua URIs", maxRUA)
			}
			r.RUA = append(r.RUA, u)
		}
	}
	if !seenRUA {
		return TLSRPT{}, errors.New("no rua field")
	}
	return r, nil
}

func validRUA(s string) error {
	if s == "" {
		return errors.New("empty URI")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URI")
	}
	switch strings.ToLower(u.Scheme) {
	case "mailto":
		local, domain, ok := strings.Cut(u.Opaque, "@")
		if !ok || local == "" || domain == "" {
			return errors.New("a mailto: URI needs an address")
		}
	case "https":
		if u.Host == "" {
			return errors.New("an https: URI needs a host")
		}
	default:
		return errors.New("only mailto: and https: URIs are allowed")
	}
	return nil
}
