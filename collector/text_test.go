package collector

import (
	"bytes"
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/smtp-exporter/smtp_exporter/prober"
)

// TestWriteTextMatchesRegistry holds WriteText to byte equality with the
// registry and expfmt's text encoder (what TestGolden compares with the
// golden files), for every golden case and for label values that need
// escaping or repair.
func TestWriteTextMatchesRegistry(t *testing.T) {
	cases := goldenCases()

	hostile := *cases[2].result // STARTTLS with certificates
	tlsInfo := *hostile.TLS
	leaf := tlsInfo.Certificates[0]
	leaf.Subject = `CN=quote " backslash \ newline` + "\n" + `end`
	leaf.Issuer = "CN=invalid UTF-8 \xff\xfe here"
	leaf.SANs = []string{`a"b`, `c\d`}
	tlsInfo.Certificates = []prober.CertInfo{leaf}
	tlsInfo.Cipher = "TLS_\\_CIPHER"
	hostile.TLS = &tlsInfo
	hostile.EHLOTLS = &prober.EHLOInfo{
		Extensions:     []prober.Extension{{Keyword: "Z-LAST"}, {Keyword: "A-FIRST"}, {Keyword: "M_MIDDLE"}},
		AuthMechanisms: []string{"XOAUTH2", "CRAM-MD5", "PLAIN"}, SizeLimit: 1 << 40,
	}
	hostile.Duration = 1234567 * time.Nanosecond
	cases = append(cases, goldenCase{"escaping, unsorted labels, large and small values", "submission", &hostile})

	infinite := *cases[0].result
	infinite.Duration = time.Duration(math.MaxInt64)
	cases = append(cases, goldenCase{"longest duration", "smtp", &infinite})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, want := render(t, tc.result)
			var got bytes.Buffer
			if err := WriteText(&got, tc.result); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("WriteText differs from the registry's text:\n%s", lineDiff(string(want), got.String()))
			}
		})
	}
}

func TestAppendFloat(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{1, "1"},
		{-1, "-1"},
		{0.061, "0.061"},
		{1.838624629e+09, "1.838624629e+09"},
		{1e21, "1e+21"},
		{math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"},
		{math.NaN(), "NaN"},
	} {
		if got := string(appendFloat(nil, tc.in)); got != tc.want {
			t.Errorf("appendFloat(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("client went away") }

func TestWriteTextReportsWriteError(t *testing.T) {
	if err := WriteText(failingWriter{}, goldenCases()[0].result); err == nil {
		t.Error("WriteText hid the writer's error")
	}
}

// BenchmarkExposition compares the two ways /probe renders a STARTTLS
// result as text: a registry per probe with expfmt, and WriteText.
func BenchmarkExposition(b *testing.B) {
	r := goldenCases()[2].result
	b.Run("registry", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			reg := prometheus.NewRegistry()
			reg.MustRegister(New(r))
			mfs, err := reg.Gather()
			if err != nil {
				b.Fatal(err)
			}
			enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, mf := range mfs {
				if err := enc.Encode(mf); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("WriteText", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := WriteText(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
