// Package dane decides what a DANE-validating SMTP sender (RFC 7672) would
// make of a server: from the TLSA records a resolver returned, whether the
// answer was DNSSEC-secure, and the certificate chain the server presented,
// it computes one status and the record that matched, with the reason each
// other record did not. It does no I/O: the lookup belongs to the resolver,
// the chain to the prober.
package dane

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Status is a DANE verdict. The values are a public interface (the status
// label of probe_smtp_dane_status).
type Status string

// The statuses, as in RFC 7672 §2.2 and §3.
const (
	// StatusNone: no TLSA records, and the absence is DNSSEC-secure.
	StatusNone Status = "none"
	// StatusInsecure: the answer was not DNSSEC-secure (no AD bit): DANE
	// does not apply, whatever records were returned.
	StatusInsecure Status = "insecure"
	// StatusBogus: the validating resolver failed to validate the answer
	// (SERVFAIL): DANE senders defer mail.
	StatusBogus Status = "bogus"
	// StatusUnusable: secure TLSA records, none usable for SMTP (usages 0
	// and 1, unknown selectors or matching types, malformed data): senders
	// use unauthenticated TLS.
	StatusUnusable Status = "unusable"
	// StatusValidated: a usable record matches the presented chain.
	StatusValidated Status = "validated"
	// StatusFailed: usable records, none matches: DANE senders defer mail.
	StatusFailed Status = "failed"
)

// Statuses lists every status in a fixed order, for stable series.
var Statuses = []Status{
	StatusNone, StatusInsecure, StatusBogus, StatusUnusable, StatusValidated, StatusFailed,
}

// Certificate usages (RFC 6698 §2.1.1, acronyms RFC 7218).
const (
	UsagePKIXTA  uint8 = 0
	UsagePKIXEE  uint8 = 1
	UsageDANETA  uint8 = 2
	UsageDANEEE  uint8 = 3
	SelectorCert uint8 = 0
	SelectorSPKI uint8 = 1
	MatchFull    uint8 = 0
	MatchSHA256  uint8 = 1
	MatchSHA512  uint8 = 2
)

// Usages lists the usage values reported as their own series (0 to 3);
// records with other usages are still counted, as "other".
var Usages = []uint8{UsagePKIXTA, UsagePKIXEE, UsageDANETA, UsageDANEEE}

// Record is one TLSA record: the three parameters and the association data.
type Record struct {
	Usage        uint8  `json:"usage"`
	Selector     uint8  `json:"selector"`
	MatchingType uint8  `json:"matching_type"`
	Data         []byte `json:"-"`
}

// MarshalText gives the record in presentation form, "3 1 1 <hex>".
func (r Record) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// String is the record in presentation form, "3 1 1 <hex>".
func (r Record) String() string {
	return fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, hex.EncodeToString(r.Data))
}

// UsageName is the RFC 7218 acronym of the usage, or its number.
func UsageName(u uint8) string {
	switch u {
	case UsagePKIXTA:
		return "PKIX-TA"
	case UsagePKIXEE:
		return "PKIX-EE"
	case UsageDANETA:
		return "DANE-TA"
	case UsageDANEEE:
		return "DANE-EE"
	}
	return strconv.Itoa(int(u))
}

// maxDataLen bounds a record's association data (a full certificate);
// the DNS limits an RR to 64 KiB anyway.
const maxDataLen = 65535

// ParseRecord reads a record in presentation form: "usage selector
// matching-type hex", the hex possibly split by spaces (as zone files and
// dig print it).
func ParseRecord(s string) (Record, error) {
	f := strings.Fields(s)
	if len(f) < 4 {
		return Record{}, errors.New("a TLSA record is 'usage selector matching-type data'")
	}
	var nums [3]uint8
	for i := range 3 {
		n, err := strconv.ParseUint(f[i], 10, 8)
		if err != nil {
			return Record{}, fmt.Errorf("field %d (%q) is not a number from 0 to 255", i+1, f[i])
		}
		nums[i] = uint8(n)
	}
	h := strings.Join(f[3:], "")
	if len(h) > 2*maxDataLen {
		return Record{}, errors.New("association data longer than 65535 bytes")
	}
	data, err := hex.DecodeString(h)
	if err != nil {
		return Record{}, fmt.Errorf("association data is not hex: %w", err)
	}
	return Record{Usage: nums[0], Selector: nums[1], MatchingType: nums[2], Data: data}, nil
}

// Lookup is what the resolver found at _PORT._tcp.HOST.
type Lookup struct {
	// AddressesInsecure: the host's address records (A, AAAA) were not
	// DNSSEC-secure, so DANE does not apply and the TLSA records were not
	// asked for (RFC 7672 §2.2.2).
	AddressesInsecure bool
	// Secure: the answer (records or their absence) carried the AD bit from
	// a validating resolver.
	Secure bool
	// Bogus: the validating resolver answered SERVFAIL (validation failed).
	Bogus bool
	// Records are the TLSA records of the answer.
	Records []Record
}

// RecordVerdict is the verdict on one record.
type RecordVerdict struct {
	Record  Record `json:"record"`
	Usable  bool   `json:"usable"`
	Matched bool   `json:"matched"`
	// Why says why the record is unusable or did not match, or what it
	// matched.
	Why string `json:"why"`
}

// Result is the DANE verdict for one TLS session.
type Result struct {
	Status Status `json:"status"`
	// Matched is the record that validated the chain (Status validated).
	Matched *Record `json:"matched,omitempty"`
	// Verdicts has one entry per record, in the order of the answer.
	Verdicts []RecordVerdict `json:"checks,omitempty"`
	// Detail says in words why the status is what it is.
	Detail string `json:"detail"`
}

// Usable reports whether a record can authenticate an SMTP server (RFC 7672
// §3.1.3: only DANE-TA and DANE-EE; known selectors and matching types; a
// digest of the digest's length), with the reason when it cannot.
func Usable(r Record) (bool, string) {
	switch r.Usage {
	case UsagePKIXTA, UsagePKIXEE:
		return false, fmt.Sprintf("usage %d (%s) is not usable for SMTP (RFC 7672 §3.1.3)", r.Usage, UsageName(r.Usage))
	case UsageDANETA, UsageDANEEE:
	default:
		return false, fmt.Sprintf("unknown usage %d", r.Usage)
	}
	if r.Selector != SelectorCert && r.Selector != SelectorSPKI {
		return false, fmt.Sprintf("unknown selector %d", r.Selector)
	}
	switch r.MatchingType {
	case MatchFull:
		if len(r.Data) == 0 {
			return false, "empty association data"
		}
	case MatchSHA256:
		if len(r.Data) != sha256.Size {
			return false, fmt.Sprintf("SHA-256 data of %d bytes, not 32", len(r.Data))
		}
	case MatchSHA512:
		if len(r.Data) != sha512.Size {
			return false, fmt.Sprintf("SHA-512 data of %d bytes, not 64", len(r.Data))
		}
	default:
		return false, fmt.Sprintf("unknown matching type %d", r.MatchingType)
	}
	return true, ""
}

// Association computes the data a record of this selector and matching type
// holds for cert; ok is false for unknown selectors or matching types.
func Association(selector, matchingType uint8, cert *x509.Certificate) ([]byte, bool) {
	var in []byte
	switch selector {
	case SelectorCert:
		in = cert.Raw
	case SelectorSPKI:
		in = cert.RawSubjectPublicKeyInfo
	default:
		return nil, false
	}
	switch matchingType {
	case MatchFull:
		return in, true
	case MatchSHA256:
		s := sha256.Sum256(in)
		return s[:], true
	case MatchSHA512:
		s := sha512.Sum512(in)
		return s[:], true
	}
	return nil, false
}

// matches reports whether r's data is the association of cert.
func matches(r Record, cert *x509.Certificate) bool {
	a, ok := Association(r.Selector, r.MatchingType, cert)
	return ok && len(a) == len(r.Data) && subtle.ConstantTimeCompare(a, r.Data) == 1
}

// Verify decides the DANE status of a TLS session. chain is the chain the
// server presented, leaf first (empty when there was no TLS session);
// names are the reference identifiers a DANE-TA match requires the leaf to
// carry (the MX host name, and the TLSA base domain when a CNAME led
// elsewhere; RFC 7672 §3.2.2); now is the time the leaf must be valid at.
func Verify(l Lookup, chain []*x509.Certificate, names []string, now time.Time) Result {
	if l.AddressesInsecure {
		return Result{Status: StatusInsecure, Detail: "the host's address records are not DNSSEC-secure (no AD bit): DANE does not apply, its TLSA records are not looked up"}
	}
	if l.Bogus {
		return Result{Status: StatusBogus, Detail: "the validating resolver could not validate the TLSA answer (SERVFAIL): DANE senders defer mail"}
	}
	if !l.Secure {
		d := "the TLSA answer is not DNSSEC-secure (no AD bit): DANE does not apply"
		if len(l.Records) > 0 {
			d = fmt.Sprintf("%d TLSA records, but the answer is not DNSSEC-secure (no AD bit): DANE does not apply", len(l.Records))
		}
		return Result{Status: StatusInsecure, Detail: d}
	}
	if len(l.Records) == 0 {
		return Result{Status: StatusNone, Detail: "no TLSA records (securely denied)"}
	}
	res := Result{Verdicts: make([]RecordVerdict, len(l.Records))}
	usable := 0
	for i, r := range l.Records {
		c := RecordVerdict{Record: r}
		c.Usable, c.Why = Usable(r)
		if c.Usable {
			usable++
			c.Matched, c.Why = check(r, chain, names, now)
			if c.Matched && res.Matched == nil {
				m := r
				res.Matched = &m
			}
		}
		res.Verdicts[i] = c
	}
	switch {
	case usable == 0:
		res.Status = StatusUnusable
		res.Detail = fmt.Sprintf("%d TLSA records, none usable for SMTP: senders use TLS without authentication", len(l.Records))
	case res.Matched != nil:
		res.Status = StatusValidated
		res.Detail = fmt.Sprintf("record %s matches the presented chain", res.Matched)
	case len(chain) == 0:
		res.Status = StatusFailed
		res.Detail = fmt.Sprintf("%d usable TLSA records, but no certificate was presented: DANE senders defer mail", usable)
	default:
		res.Status = StatusFailed
		res.Detail = fmt.Sprintf("%d usable TLSA records, none matches the presented chain: DANE senders defer mail", usable)
	}
	return res
}

// check matches one usable record against the chain, with the reason.
func check(r Record, chain []*x509.Certificate, names []string, now time.Time) (bool, string) {
	if len(chain) == 0 {
		return false, "no certificate presented"
	}
	leaf := chain[0]
	if r.Usage == UsageDANEEE {
		// RFC 7672 §3.1.1: the leaf's key or certificate is all that counts;
		// names, dates and issuers are ignored.
		if matches(r, leaf) {
			return true, "matches the leaf certificate (names and dates are not checked for DANE-EE)"
		}
		return false, "does not match the leaf certificate" + whichCert(r, chain)
	}
	// DANE-TA (RFC 7672 §3.1.2): a certificate the server presents above
	// the leaf must match, the leaf must chain to it, be in date and name
	// the host.
	ta := -1
	for i := 1; i < len(chain); i++ {
		if matches(r, chain[i]) {
			ta = i
			break
		}
	}
	if ta < 0 {
		if matches(r, leaf) {
			return false, "matches the leaf, but a DANE-TA record must match an issuer certificate in the presented chain"
		}
		return false, "matches no issuer certificate in the presented chain"
	}
	roots := x509.NewCertPool()
	roots.AddCert(chain[ta])
	inter := x509.NewCertPool()
	for i := 1; i < ta; i++ {
		inter.AddCert(chain[i])
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	subj := chain[ta].Subject.CommonName
	if err != nil {
		return false, fmt.Sprintf("matches %q (chain position %d), but the leaf does not chain to it at %s: %v",
			subj, ta, now.UTC().Format(time.RFC3339), err)
	}
	for _, n := range names {
		if n = strings.TrimSuffix(n, "."); n != "" && leaf.VerifyHostname(n) == nil {
			return true, fmt.Sprintf("matches %q (chain position %d), which issued the leaf; the leaf names %s", subj, ta, n)
		}
	}
	return false, fmt.Sprintf("matches %q (chain position %d), but the leaf names none of %s", subj, ta, strings.Join(names, ", "))
}

// whichCert says which other certificate of the chain a DANE-EE record
// matches, a common mistake (the intermediate's hash published as 3 x x).
func whichCert(r Record, chain []*x509.Certificate) string {
	for i := 1; i < len(chain); i++ {
		if matches(r, chain[i]) {
			return fmt.Sprintf(" (it matches %q at chain position %d: publish it as usage 2)", chain[i].Subject.CommonName, i)
		}
	}
	return ""
}

// FromTLSA converts a TLSA resource record of github.com/miekg/dns.
func FromTLSA(rr *dns.TLSA) (Record, error) {
	if len(rr.Certificate) > 2*maxDataLen {
		return Record{}, errors.New("association data longer than 65535 bytes")
	}
	data, err := hex.DecodeString(rr.Certificate)
	if err != nil {
		return Record{}, fmt.Errorf("association data is not hex: %w", err)
	}
	return Record{Usage: rr.Usage, Selector: rr.Selector, MatchingType: rr.MatchingType, Data: data}, nil
}
