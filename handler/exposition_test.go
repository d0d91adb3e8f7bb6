package handler

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/smtp-exporter/smtp_exporter/collector"
	"github.com/smtp-exporter/smtp_exporter/prober"
)

// TestProbeExpositionFormats checks that /probe answers every format a
// scraper may ask for with the same series: the text format written
// straight from the result, protobuf through a registry; and that the
// answer is not compressed (docs/performance.md says why).
func TestProbeExpositionFormats(t *testing.T) {
	result := func(module string) *prober.Result {
		r := okResult(module)
		r.TLS = &prober.TLSInfo{
			Version: tls.VersionTLS13, Cipher: "TLS_AES_128_GCM_SHA256", Verified: true,
			Certificates:   []prober.CertInfo{{Subject: `CN=mx "quoted"`, Issuer: "CN=CA", SANs: []string{"mx.example.com"}, SerialNumber: "2a"}},
			EarliestExpiry: time.Unix(1900000000, 0), LastChainExpiry: time.Unix(1900000000, 0),
		}
		r.EHLO = &prober.EHLOInfo{Extensions: []prober.Extension{{Keyword: "STARTTLS"}, {Keyword: "AUTH"}}, AuthMechanisms: []string{"PLAIN"}}
		return r
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.New(result("smtp")))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for _, mf := range mfs {
		expfmt.MetricFamilyToText(&want, mf)
	}

	for _, tc := range []struct {
		name, accept string
		wantType     expfmt.FormatType
	}{
		{"no Accept header", "", expfmt.TypeTextPlain},
		{"Prometheus 2 (OpenMetrics preferred)", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", expfmt.TypeTextPlain},
		{"text with UTF-8 names allowed", "text/plain;version=0.0.4;escaping=allow-utf-8", expfmt.TypeTextPlain},
		{"protobuf", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.9,text/plain;version=0.0.4;q=0.5", expfmt.TypeProtoDelim},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newProbe(t, testConfig, &fakeProber{result: result})
			header := http.Header{"Accept-Encoding": {"gzip"}}
			if tc.accept != "" {
				header.Set("Accept", tc.accept)
			}
			rec := serve(h, http.MethodGet, "target=mx.example.com:25", header)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if enc := rec.Header().Get("Content-Encoding"); enc != "" {
				t.Errorf("Content-Encoding %q, want none", enc)
			}
			format := expfmt.ResponseFormat(rec.Header())
			if format.FormatType() != tc.wantType {
				t.Fatalf("Content-Type %q, want a %v format", rec.Header().Get("Content-Type"), tc.wantType)
			}
			dec := expfmt.NewDecoder(rec.Body, format)
			var decoded []*dto.MetricFamily
			for {
				mf := new(dto.MetricFamily)
				if err := dec.Decode(mf); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				decoded = append(decoded, mf)
			}
			// The text decoder hands families back in map order.
			slices.SortFunc(decoded, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
			var got bytes.Buffer
			for _, mf := range decoded {
				expfmt.MetricFamilyToText(&got, mf)
			}
			if got.String() != want.String() {
				t.Errorf("series differ from the registry's:\n got %s\nwant %s", got.String(), want.String())
			}
			if !strings.Contains(got.String(), `subject="CN=mx \"quoted\""`) {
				t.Errorf("the certificate subject is missing or badly escaped:\n%s", got.String())
			}
		})
	}
}
