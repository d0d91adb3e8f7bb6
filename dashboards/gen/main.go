// Command gen writes the dashboards built by internal/dashgen into the
// current directory: `go generate ./dashboards` runs it in dashboards/.
package main

import (
	"fmt"
	"os"

	"github.com/smtp-exporter/smtp_exporter/internal/dashgen"
)

func main() {
	if err := dashgen.Write("."); err != nil {
		fmt.Fprintln(os.Stderr, "dashboards/gen:", err)
		os.Exit(1)
	}
}
