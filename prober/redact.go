package prober

import (
	"encoding/base64"
	"strings"
)

// redactedSecret replaces a credential found in text the prober keeps.
const redactedSecret = "<redacted>"

// plainPayload is the base64 AUTH PLAIN payload (RFC 4616) for user and password.
func plainPayload(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
}

// secretForms are the password in every form the prober sends it: as is,
// base64 (AUTH LOGIN) and inside the base64 AUTH PLAIN payload. A hostile
// or careless server may quote what it received in a reply, which would
// carry it into the transcript, the error, the logs and the debug output.
func secretForms(user, password string) []string {
	if password == "" {
		return nil
	}
	return []string{
		plainPayload(user, password),
		base64.StdEncoding.EncodeToString([]byte(password)),
		password,
	}
}

// redact hides the module's password in text that may come from the server.
// It runs before text is cut to length, so no part of a secret survives.
func (p *probe) redact(text string) string {
	for _, s := range p.secrets {
		text = strings.ReplaceAll(text, s, redactedSecret)
	}
	return text
}
