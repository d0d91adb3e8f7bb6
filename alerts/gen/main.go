// Command gen writes the Grafana-managed alert rules generated from the
// Prometheus rule file: `go generate ./alerts` runs it in alerts/.
//
//	go run ./alerts/gen -root . -datasource-uid UID
//
// writes them for another Prometheus data source UID (or edit the one
// anchored datasourceUid line of alerting/smtp_exporter.yml).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/smtp-exporter/smtp_exporter/internal/alertgen"
)

func main() {
	o := alertgen.Defaults
	root := flag.String("root", "..", "the repository root")
	flag.StringVar(&o.DatasourceUID, "datasource-uid", o.DatasourceUID, "UID of the Prometheus data source in Grafana")
	flag.StringVar(&o.FolderUID, "folder-uid", o.FolderUID, "UID of the Grafana folder of the rules")
	flag.StringVar(&o.FolderTitle, "folder-title", o.FolderTitle, "title of the Grafana folder of the rules")
	flag.Parse()
	if err := run(*root, o); err != nil {
		fmt.Fprintln(os.Stderr, "alerts/gen:", err)
		os.Exit(1)
	}
}

func run(root string, o alertgen.Options) error {
	rules, err := os.ReadFile(filepath.Join(root, "alerts", "smtp_exporter.rules.yml"))
	if err != nil {
		return err
	}
	files, err := alertgen.Generate(rules, o)
	if err != nil {
		return err
	}
	for name, b := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil { //nolint:gosec // rule files are meant to be world-readable
			return err
		}
	}
	return nil
}
