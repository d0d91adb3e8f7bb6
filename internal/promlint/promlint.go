// Package promlint runs promtool's metric linter for the tests and drops
// the findings the exporter accepts on purpose, so that every other
// finding still fails a test.
package promlint

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
)

// Accepted are promtool findings on names that are public interface, each
// with why the name stays.
var Accepted = map[string]string{
	// Key sizes are spoken of in bits everywhere (RSA 2048, P-256); a
	// _bytes metric would invite wrong thresholds. The name is issue 15's.
	`probe_ssl_leaf_key_bits use base unit "bytes" instead of "bits"`: "key sizes are counted in bits",
}

// Check runs `promtool check metrics` on text and returns its findings
// minus the accepted ones, or the error when promtool failed to run.
func Check(promtool string, text []byte) (string, error) {
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	out, err := cmd.CombinedOutput()
	if _, isExit := errors.AsType[*exec.ExitError](err); err != nil && !isExit {
		return "", err
	}
	return Filter(string(out)), nil
}

// Filter drops the accepted findings from promtool's output.
func Filter(out string) string {
	var kept []string
	for l := range strings.SplitSeq(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if _, ok := Accepted[l]; ok {
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, "\n")
}
