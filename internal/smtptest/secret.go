package smtptest

import (
	"encoding/base64"
	"strings"
	"testing"
)

// AssertNoSecret fails the test when out shows the password in any form a
// careless formatter could produce: plain, or as the base64 of an AUTH LOGIN
// line or an AUTH PLAIN payload.
func AssertNoSecret(t testing.TB, out, username, password string) {
	t.Helper()
	forms := map[string]string{
		"plain":         password,
		"LOGIN payload": base64.StdEncoding.EncodeToString([]byte(password)),
		"PLAIN payload": base64.StdEncoding.EncodeToString([]byte("\x00" + username + "\x00" + password)),
	}
	for form, secret := range forms {
		if strings.Contains(out, secret) {
			t.Errorf("the output shows the password (%s form)", form)
		}
	}
}
