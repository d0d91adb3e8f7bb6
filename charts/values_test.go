package charts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/smtp-exporter/smtp_exporter/config"
)

func readSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chart, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	return s
}

func readValues(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// resolveRef follows a schema's local "$ref".
func resolveRef(root, s map[string]any) map[string]any {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		s, _ = at(root, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...).(map[string]any)
	}
}

// yamlFields returns the YAML names of a struct's exported fields.
func yamlFields(typ reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		fields[name] = f.Type
	}
	return fields
}

// compareSchema checks that the schema s lists exactly the YAML fields of
// typ, and recurses into the structs both describe.
func compareSchema(t *testing.T, root map[string]any, path string, typ reflect.Type, s map[string]any, chartOnly ...string) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	s = resolveRef(root, s)
	if typ.Kind() == reflect.Map {
		elem, _ := s["additionalProperties"].(map[string]any)
		if patterns, ok := s["patternProperties"].(map[string]any); ok && len(patterns) == 1 {
			for _, p := range patterns {
				elem, _ = p.(map[string]any)
			}
		}
		if elem == nil {
			t.Errorf("%s: the schema does not describe the map's values", path)
			return
		}
		compareSchema(t, root, path+".*", typ.Elem(), elem)
		return
	}
	if typ.Kind() != reflect.Struct {
		return
	}
	props, _ := s["properties"].(map[string]any)
	if props == nil {
		return
	}
	fields := yamlFields(typ)
	for _, name := range sortedKeys(fields) {
		p, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("values.schema.json lacks %s.%s (config %s): add it, or the chart refuses configs that use it", path, name, typ)
			continue
		}
		compareSchema(t, root, path+"."+name, fields[name], p)
	}
	for _, name := range sortedKeys(props) {
		if _, ok := fields[name]; !ok && !slices.Contains(chartOnly, name) {
			t.Errorf("values.schema.json has %s.%s, which config %s does not know", path, name, typ)
		}
	}
}

// TestSchemaKnowsEveryConfigField: values.schema.json describes config.yml
// with the exporter's own field names (config.Config and below), so the
// schema refuses a misspelled module field and accepts every real one.
func TestSchemaKnowsEveryConfigField(t *testing.T) {
	root := readSchema(t)
	cfg := at(root, "properties", "config").(map[string]any)
	compareSchema(t, root, "config", reflect.TypeFor[config.Config](), cfg, "existingSecret", "existingSecretKey")
}

// TestValuesSchemaAndDefaults: the schema knows every top-level value and
// nothing else, and the defaults satisfy it (helm lint checks the latter
// too; this names the key).
func TestValuesSchemaAndDefaults(t *testing.T) {
	schemaKeys := sortedKeys(at(readSchema(t), "properties").(map[string]any))
	schemaKeys = slices.DeleteFunc(schemaKeys, func(k string) bool { return k == "global" })
	if valueKeys := sortedKeys(readValues(t)); !slices.Equal(valueKeys, schemaKeys) {
		t.Errorf("values.yaml's top-level keys %v, the schema's %v", valueKeys, schemaKeys)
	}
}

// TestDocsListEveryValue: the values table of docs/deployment.md (Helm)
// names every top-level value, and only values the schema knows.
func TestDocsListEveryValue(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "deployment.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "### Values")
	if start < 0 {
		t.Fatal("docs/deployment.md has no ### Values section")
	}
	section := doc[start:]
	if end := strings.Index(section[4:], "\n#"); end >= 0 {
		section = section[:end+4]
	}
	schema := readSchema(t)
	documented := map[string]bool{}
	key := regexp.MustCompile("`([^`]+)`")
	for line := range strings.SplitSeq(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		for _, m := range key.FindAllStringSubmatch(cells[1], -1) {
			documented[strings.TrimSuffix(strings.Split(m[1], ".")[0], "[]")] = true
			if !schemaHas(schema, m[1]) {
				t.Errorf("docs/deployment.md documents %s, which values.schema.json does not know", m[1])
			}
		}
	}
	for _, k := range sortedKeys(readValues(t)) {
		if !documented[k] {
			t.Errorf("docs/deployment.md's values table does not document %s", k)
		}
	}
}

// schemaHas: path (a.b, a[].b) is a property the schema describes.
func schemaHas(root map[string]any, path string) bool {
	s := root
	for part := range strings.SplitSeq(path, ".") {
		name, isList := strings.CutSuffix(part, "[]")
		s = resolveRef(root, s)
		p, ok := at(s, "properties", name).(map[string]any)
		if !ok {
			return false
		}
		s = p
		if isList {
			if s, ok = at(resolveRef(root, s), "items").(map[string]any); !ok {
				return false
			}
		}
	}
	return true
}
