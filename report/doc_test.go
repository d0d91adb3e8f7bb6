package report

import (
	"bytes"
	"encoding"
	"encoding/json"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtp-exporter/smtp_exporter/maildomain"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// TestDomainJSONDocumented holds docs/probe-output.md's table of the mail
// domain's JSON to the fields the JSON can have, both ways: every field of
// maildomain.Result (and what it holds, down to a pair's result, which the
// single-target table documents) has a row, and every row names a field.
func TestDomainJSONDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/probe-output.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Mail domain JSON\n")
	if !ok {
		t.Fatal("docs/probe-output.md has no \"## Mail domain JSON\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var documented []string
	name := regexp.MustCompile("`([a-z_.\\[\\]]+)`")
	for line := range strings.SplitSeq(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			documented = append(documented, m[1])
		}
	}
	fields := jsonFields(reflect.TypeFor[maildomain.Result](), "")
	for _, f := range fields {
		if !slices.Contains(documented, f) {
			t.Errorf("the domain JSON has %s, which docs/probe-output.md does not document", f)
		}
	}
	for _, d := range documented {
		if !slices.Contains(fields, d) {
			t.Errorf("docs/probe-output.md documents %s, which the domain JSON does not have", d)
		}
	}
}

var (
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	timeType      = reflect.TypeFor[time.Time]()
	resultType    = reflect.TypeFor[prober.Result]()
)

// jsonFields lists the JSON names of t's fields, as dotted paths with []
// for the elements of a list. What marshals as text (addresses, times,
// TLS versions, warnings) and a pair's single-target result are leaves.
func jsonFields(t reflect.Type, prefix string) []string {
	var out []string
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		path := prefix + name
		out = append(out, path)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		list := ft.Kind() == reflect.Slice
		if list {
			ft = ft.Elem()
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			path += "[]"
		}
		if ft.Kind() == reflect.Struct && ft != timeType && ft != resultType && !ft.Implements(textMarshaler) && !reflect.PointerTo(ft).Implements(textMarshaler) {
			out = append(out, jsonFields(ft, path+".")...)
		}
	}
	return out
}

// TestPortIsAString: "port" has one JSON type in every document, a
// string, as the single-target result always had it; the mail domain's
// was a number.
func TestPortIsAString(t *testing.T) {
	pair := &prober.Result{Target: "mx.example.com:25", Host: "mx.example.com", Port: 25}
	for name, o := range map[string]prober.Outcome{
		"single target": pair,
		"mail domain": &maildomain.Result{Domain: "example.com", Port: 25, Pairs: []*maildomain.Pair{
			{MX: "mx.example.com", Address: netip.MustParseAddr("192.0.2.1"), Result: pair},
		}},
	} {
		var js bytes.Buffer
		if err := WriteJSON(&js, o); err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Port  any `json:"port"`
			Pairs []struct {
				Result struct {
					Port any `json:"port"`
				} `json:"result"`
			} `json:"pairs"`
		}
		if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Port != "25" {
			t.Errorf("%s: port is %#v, want the string \"25\"", name, doc.Port)
		}
		for _, p := range doc.Pairs {
			if p.Result.Port != "25" {
				t.Errorf("%s: a pair's port is %#v, want the string \"25\"", name, p.Result.Port)
			}
		}
		// The document reads back as what was written.
		back := reflect.New(reflect.TypeOf(o).Elem()).Interface()
		if err := json.Unmarshal(js.Bytes(), back); err != nil || back.(prober.Outcome).Summary().Target != o.Summary().Target {
			t.Errorf("%s: the JSON does not read back: %v", name, err)
		}
	}
}
