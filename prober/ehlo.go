package prober

import (
	"strconv"
	"strings"
)

// Bounds on what one EHLO reply may add to a result (and so to the metrics).
const (
	maxExtensions      = 64
	maxExtensionParams = 32
	maxKeywordBytes    = 64
	maxParamBytes      = 128
	maxDomainBytes     = 255
	// maxAuthMechanisms bounds the distinct SASL mechanisms kept from all
	// the AUTH lines of one reply together (a server may send several).
	maxAuthMechanisms = 32
	// maxEHLOBytes bounds the parameters kept from one reply together:
	// real servers send a few hundred bytes; 64 extensions of 32 parameters
	// of 128 bytes would be 256 KiB.
	maxEHLOBytes = 4096
	// ownLineBytes: what is kept of a reply line longer than this is
	// copied, so that a few words do not keep a 2 KB line alive.
	ownLineBytes = 256
)

// ParseEHLO reads the extensions from a 250 reply to EHLO. The first line
// is the server's domain and greeting; every further line is a keyword with
// optional parameters (RFC 5321 section 4.1.1.1). Keywords are upper-cased,
// and both "AUTH PLAIN" and the old "AUTH=PLAIN" syntax are understood.
func ParseEHLO(reply Reply) *EHLOInfo { return parseEHLO(reply, Sanitize) }

// parseEHLO is ParseEHLO with the function that makes the server's words
// fit to keep (the probe's clean, which also redacts).
func parseEHLO(reply Reply, clean func(string, int) string) *EHLOInfo {
	info := &EHLOInfo{Extensions: []Extension{}}
	if len(reply.Lines) == 0 {
		return info
	}
	if fields := strings.Fields(reply.Lines[0]); len(fields) > 0 {
		info.Domain = clean(fields[0], maxDomainBytes)
		if len(reply.Lines[0]) > ownLineBytes {
			info.Domain = strings.Clone(info.Domain)
		}
	}
	seenMech := map[string]bool{}
	budget := maxEHLOBytes
	for _, line := range reply.Lines[1:] {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		long := len(line) > ownLineBytes
		keyword := strings.ToUpper(fields[0])
		params := fields[1:]
		if k, v, ok := strings.Cut(keyword, "="); ok && k == "AUTH" {
			// "AUTH=LOGIN PLAIN", written by old servers for old clients.
			keyword = k
			params = append([]string{v}, params...)
		}
		if !validKeyword(keyword) {
			continue
		}
		n := min(len(params), maxExtensionParams)
		if long {
			// Own copies: the slice of fields and the words would keep the line.
			keyword = strings.Clone(keyword)
			params = append(make([]string, 0, n), params[:n]...)
		} else {
			params = params[:n:n]
		}
		for i, p := range params {
			p = clean(p, maxParamBytes)
			if len(p) > budget {
				params = params[:i]
				break
			}
			budget -= len(p)
			if long {
				p = strings.Clone(p)
			}
			params[i] = p
		}
		switch keyword {
		case "AUTH":
			for _, m := range params {
				m = strings.ToUpper(m)
				if m != "" && !seenMech[m] && len(info.AuthMechanisms) < maxAuthMechanisms && validKeyword(m) {
					seenMech[m] = true
					info.AuthMechanisms = append(info.AuthMechanisms, m)
				}
			}
		case "SIZE":
			if len(params) > 0 {
				if n, err := strconv.ParseInt(params[0], 10, 64); err == nil && n > 0 {
					info.SizeLimit = n
				}
			}
		}
		if info.Has(keyword) {
			continue
		}
		if len(info.Extensions) >= maxExtensions {
			break
		}
		info.Extensions = append(info.Extensions, Extension{Keyword: keyword, Params: params})
	}
	return info
}

// validKeyword accepts an ESMTP keyword or SASL mechanism name: letters,
// digits, dash and underscore, so that nothing else reaches a label.
func validKeyword(s string) bool {
	if s == "" || len(s) > maxKeywordBytes {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// keywordsOnly drops what the server wrote freely (its name, the
// parameters of extensions) for a module with credentials, keeping the
// keywords, the AUTH mechanisms and the SIZE limit, a number.
func (e *EHLOInfo) keywordsOnly() {
	e.Domain = ""
	for i := range e.Extensions {
		x := &e.Extensions[i]
		switch {
		case x.Keyword == "AUTH":
			x.Params = e.AuthMechanisms
		case x.Keyword == "SIZE" && e.SizeLimit > 0:
			x.Params = []string{strconv.FormatInt(e.SizeLimit, 10)}
		default:
			x.Params = nil
		}
	}
}
