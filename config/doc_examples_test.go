package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// yamlBlock is a fenced YAML example of a Markdown file.
var yamlBlock = regexp.MustCompile("(?ms)^```yaml\n(.*?)^```")

// TestDocExamples: every configuration example of the README and of
// docs/configuration.md holds only keys the config knows, and each whole
// module example that names no file loads (the others need files that only
// the reader has).
func TestDocExamples(t *testing.T) {
	for _, file := range []string{"README.md", "docs/configuration.md"} {
		doc, err := os.ReadFile(filepath.Join("..", file))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range yamlBlock.FindAllStringSubmatch(string(doc), -1) {
			block := m[1]
			first, _, _ := strings.Cut(block, ":")
			if first != "modules" && first != "allowed_targets" && first != "port_modules" {
				continue // not a config file: a Prometheus one
			}
			n++
			var root yaml.Node
			if err := yaml.Unmarshal([]byte(block), &root); err != nil {
				t.Errorf("%s: example %d does not parse: %v\n%s", file, n, err, block)
				continue
			}
			if err := checkKeys(root.Content[0], reflect.TypeFor[Config](), nil); err != nil {
				t.Errorf("%s: example %d: %v\n%s", file, n, err, block)
			}
			if first == "modules" && !strings.Contains(block, "_file:") {
				if _, err := Parse([]byte(block)); err != nil {
					t.Errorf("%s: example %d does not load: %v\n%s", file, n, err, block)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s has no configuration example", file)
		}
	}
}
