// Package grafanasdk holds what the tests of the generated Grafana files
// need around the foundation SDK's strict decoders.
package grafanasdk

import (
	"errors"

	"github.com/grafana/grafana-foundation-sdk/go/alerting"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// StrictError returns the error of an SDK UnmarshalJSONStrict call. Those
// return their error list even when it is empty (a nil cog.BuildErrors in a
// non-nil error interface), which is success.
func StrictError(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

// DecodeDashboard decodes a dashboard with the SDK's strict decoder, which
// rejects unknown and missing required fields in the dashboard, its panels
// (options and field config of every panel type the SDK knows) and its
// queries, then runs the SDK's validation. Read values with encoding/json,
// not from the result: the SDK's nested strict decoders report their empty
// error lists as errors, which leaves some fields (panels, query models)
// unset although nothing is wrong.
func DecodeDashboard(b []byte) (dashboard.Dashboard, error) {
	plugins.RegisterDefaultPlugins()
	var d dashboard.Dashboard
	if err := StrictError(d.UnmarshalJSONStrict(b)); err != nil {
		return d, err
	}
	return d, d.Validate()
}

// DecodeRuleGroup decodes a rule group as Grafana's provisioning API takes
// it with the SDK's strict decoder (every query's model too, by its data
// source type: Prometheus or server-side expression), then validates it.
func DecodeRuleGroup(b []byte) (alerting.RuleGroup, error) {
	plugins.RegisterDefaultPlugins()
	var g alerting.RuleGroup
	if err := StrictError(g.UnmarshalJSONStrict(b)); err != nil {
		return g, err
	}
	return g, g.Validate()
}

// DecodeRule decodes one alert rule as the provisioning API takes it,
// strictly, then validates it.
func DecodeRule(b []byte) (alerting.Rule, error) {
	plugins.RegisterDefaultPlugins()
	var r alerting.Rule
	if err := StrictError(r.UnmarshalJSONStrict(b)); err != nil {
		return r, err
	}
	return r, r.Validate()
}
