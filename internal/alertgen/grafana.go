package alertgen

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/alerting"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/expr"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/prometheus/common/model"
)

// Options are what the Grafana rules need beyond the rule file.
type Options struct {
	// DatasourceUID is the UID of the Prometheus data source in Grafana
	// that every rule queries.
	DatasourceUID string
	// FolderUID and FolderTitle name the Grafana folder of the rules (the
	// API needs the UID, file provisioning the title).
	FolderUID, FolderTitle string
	OrgID                  int64
}

// Defaults are the options `go generate ./alerts` uses.
var Defaults = Options{
	DatasourceUID: "prometheus",
	FolderUID:     "smtp-exporter",
	FolderTitle:   "SMTP",
	OrgID:         1,
}

// Ref ids of each Grafana rule's queries and expressions.
const (
	// RefQuery is the Prometheus rule's PromQL, an instant query.
	RefQuery = "A"
	// RefReduce is its last value per series: the $values.B.Value of the
	// annotations.
	RefReduce = "B"
	// RefMath is 1 for every series the PromQL returns (any number, NaN or
	// infinity), as in Prometheus, where any result fires: the threshold
	// is already in the PromQL (`== 1`, `< 21 >= 7`), and a threshold in
	// Grafana could not express `up == 0` firing with the value 0.
	RefMath = "C"
	// RefThreshold is the rule's condition: C above 0.
	RefThreshold = "D"
)

// Rules on what a Grafana rule does when there is no data or the query
// fails; see NoDataState and ExecErrState.
const (
	// NoDataState OK: the PromQL selects only what is wrong, so an empty
	// result is the healthy case: every port open, every certificate far
	// from expiry. A blocked port is not "no data": the exporter reports it
	// as probe_smtp_failure{reason="connect_timeout"} 1 (every failure
	// reason is a series on every probe), so the rule sees a series and
	// fires. When the exporter is down, every probe_* series goes stale and
	// the probe rules see nothing, as the Prometheus alerts do:
	// SMTPProbeScrapeFailing and SMTPExporterDown (on `up`, which
	// Prometheus writes itself) fire instead.
	NoDataState = alerting.RuleNoDataStateOK
	// ExecErrState Error: when Grafana cannot query Prometheus, the rule
	// raises a DatasourceError alert instead of going quiet (OK) or
	// freezing (KeepLast).
	ExecErrState = alerting.RuleExecErrStateError
)

// uidOK is what Grafana accepts as a rule UID.
var uidOK = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,40}$`)

// Build returns the Grafana rule groups for the alerting rules of the
// Prometheus rule groups (recording rules are left to Prometheus).
func Build(groups []PromGroup, o Options) ([]alerting.RuleGroup, error) {
	var out []alerting.RuleGroup
	for _, g := range groups {
		interval := time.Minute // Prometheus' default evaluation_interval
		if g.Interval != "" {
			d, err := model.ParseDuration(g.Interval)
			if err != nil {
				return nil, fmt.Errorf("group %s: interval: %w", g.Name, err)
			}
			interval = time.Duration(d)
		}
		names := map[string]int{}
		for _, r := range g.Rules {
			if r.Alert != "" {
				names[r.Alert]++
			}
		}
		gb := alerting.NewRuleGroupBuilder(g.Name).
			FolderUid(o.FolderUID).
			Interval(alerting.Duration(interval / time.Second))
		uids := map[string]bool{}
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			rb, uid, err := rule(g.Name, r, names[r.Alert] > 1, o)
			if err != nil {
				return nil, fmt.Errorf("group %s: alert %s: %w", g.Name, r.Alert, err)
			}
			if uids[uid] {
				return nil, fmt.Errorf("group %s: alert %s: uid %s used twice (two rules of the same name and severity)", g.Name, r.Alert, uid)
			}
			uids[uid] = true
			gb.WithRule(rb)
		}
		rg, err := gb.Build()
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", g.Name, err)
		}
		out = append(out, rg)
	}
	return out, nil
}

// rule builds the Grafana rule of one Prometheus alert. An alert name the
// file uses more than once (a warning and a critical threshold) gets the
// severity in its title and UID: Grafana wants both unique.
func rule(group string, r PromRule, shared bool, o Options) (*alerting.RuleBuilder, string, error) {
	if r.Expr == "" || r.For == "" {
		return nil, "", errors.New("no expr or no for")
	}
	title := r.Alert
	uid := strings.ToLower(r.Alert)
	if shared {
		sev := r.Labels["severity"]
		if sev == "" {
			return nil, "", errors.New("the alert name is used twice: tell the rules apart by a severity label")
		}
		title += " (" + sev + ")"
		uid += "-" + sev
	}
	if !uidOK.MatchString(uid) {
		return nil, "", fmt.Errorf("uid %q: Grafana wants at most 40 letters, digits, - and _", uid)
	}
	annotations := map[string]string{}
	for k, v := range r.Annotations {
		g, err := GrafanaTemplate(v)
		if err != nil {
			return nil, "", fmt.Errorf("annotation %s: %w", k, err)
		}
		annotations[k] = g
	}
	b := alerting.NewRuleBuilder(title).
		Uid(uid).
		OrgID(o.OrgID).
		FolderUID(o.FolderUID).
		RuleGroup(group).
		For(r.For).
		Labels(maps.Clone(r.Labels)).
		Annotations(annotations).
		NoDataState(NoDataState).
		ExecErrState(ExecErrState).
		IsPaused(false).
		Condition(RefThreshold).
		WithQuery(alerting.NewQueryBuilder(RefQuery).
			DatasourceUid(o.DatasourceUID).
			// An instant query; the range only bounds Prometheus' lookback.
			RelativeTimeRange(600, 0).
			Model(prometheus.NewDataqueryBuilder().
				RefId(RefQuery).
				Expr(strings.TrimSpace(r.Expr)).
				Instant().
				Datasource(common.DataSourceRef{Type: new("prometheus"), Uid: new(o.DatasourceUID)}))).
		WithQuery(exprQuery(RefReduce, expr.NewExprBuilder().TypeReduce(expr.NewTypeReduceBuilder().
			RefId(RefReduce).
			Datasource(exprDatasource()).
			Expression(RefQuery).
			// No settings: Grafana's strict mode, where a NaN sample stays
			// NaN and still fires, as in Prometheus.
			Reducer(expr.TypeReduceReducerLast)))).
		WithQuery(exprQuery(RefMath, expr.NewExprBuilder().TypeMath(expr.NewTypeMathBuilder().
			RefId(RefMath).
			Datasource(exprDatasource()).
			Expression("is_number($"+RefReduce+") || is_nan($"+RefReduce+") || is_inf($"+RefReduce+")")))).
		WithQuery(exprQuery(RefThreshold, expr.NewExprBuilder().TypeThreshold(expr.NewTypeThresholdBuilder().
			RefId(RefThreshold).
			Datasource(exprDatasource()).
			Expression(RefMath).
			Conditions([]cog.Builder[expr.ExprTypeThresholdConditions]{
				expr.NewExprTypeThresholdConditionsBuilder().
					Evaluator(expr.NewExprTypeThresholdConditionsEvaluatorBuilder().
						Type(expr.ExprTypeThresholdConditionsEvaluatorTypeGt).
						Params([]float64{0})),
			}))))
	if r.KeepFiringFor != "" {
		b.KeepFiringFor(r.KeepFiringFor)
	}
	return b, uid, nil
}

// exprDatasourceUID is Grafana's pseudo data source of server-side
// expressions.
const exprDatasourceUID = "__expr__"

func exprDatasource() common.DataSourceRef {
	return common.DataSourceRef{Type: new(exprDatasourceUID), Uid: new(exprDatasourceUID)}
}

func exprQuery(ref string, model *expr.ExprBuilder) *alerting.QueryBuilder {
	return alerting.NewQueryBuilder(ref).
		DatasourceUid(exprDatasourceUID).
		RelativeTimeRange(0, 0).
		Model(model)
}
