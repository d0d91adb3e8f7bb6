// Command gen rewrites the generated sections of the reference
// documentation in the current directory: `go generate ./docs` runs it in
// docs/.
package main

import (
	"fmt"
	"os"

	"github.com/smtp-exporter/smtp_exporter/docs"
)

func main() {
	for _, name := range docs.Generated {
		if err := rewrite(name); err != nil {
			fmt.Fprintln(os.Stderr, "docs/gen:", err)
			os.Exit(1)
		}
	}
}

func rewrite(name string) error {
	old, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	text, err := docs.Generate(old)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return os.WriteFile(name, text, 0o644) //nolint:gosec // documentation, readable by all
}
