package dashgen

import (
	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The panel kinds the dashboards use, each with the options all panels of
// that kind share; callers add title, size, queries and what differs.

// statPanel is one number now, its background colored by thresholds.
func statPanel(title, description, expr string) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		WithTarget(instant(expr)).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Fields("").Values(false)).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		TextMode(common.BigValueTextModeAuto).
		JustifyMode(common.BigValueJustifyModeAuto).
		Orientation(common.VizOrientationAuto).
		Unit("none").
		Thresholds(thresholds("green"))
}

// tablePanel shows instant queries as rows, filterable.
func tablePanel(title, description string, queries ...*prometheus.DataqueryBuilder) *table.PanelBuilder {
	p := table.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		ShowHeader(true).
		CellHeight(common.TableCellHeightSm).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"})).
		Align(common.FieldTextAlignmentAuto).
		CellOptions(cellAuto()).
		Filterable(true).
		Thresholds(thresholds("green"))
	for _, q := range queries {
		p.WithTarget(q)
	}
	return p
}

// timeseriesPanel draws range queries as lines with a table legend.
func timeseriesPanel(title, description, unit string, queries ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Unit(unit).
		DrawStyle(common.GraphDrawStyleLine).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		SpanNulls(common.BoolOrFloat64{Bool: new(false)}).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNone).Group("A")).
		Thresholds(thresholds("green")).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementRight).
			Calcs([]string{"lastNotNull", "max"}).
			ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
	for _, q := range queries {
		p.WithTarget(q)
	}
	return p
}

// stacked stacks the series of a time series panel.
func stacked() *common.StackingConfigBuilder {
	return common.NewStackingConfigBuilder().Mode(common.StackingModeNormal).Group("A")
}

// barGaugePanel is one horizontal bar per series, its value now.
func barGaugePanel(title, description string, q *prometheus.DataqueryBuilder) *bargauge.PanelBuilder {
	return bargauge.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		WithTarget(q).
		Orientation(common.VizOrientationHorizontal).
		ShowUnfilled(true).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Fields("").Values(false))
}

// stateTimelinePanel shows values over time as colored bands.
func stateTimelinePanel(title, description string, queries ...*prometheus.DataqueryBuilder) *statetimeline.PanelBuilder {
	p := statetimeline.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		MergeValues(true).
		RowHeight(0.8).
		AlignValue(common.TimelineValueAlignmentLeft).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeSingle).Sort(common.SortOrderNone))
	for _, q := range queries {
		p.WithTarget(q)
	}
	return p
}

func cellAuto() common.TableCellOptions {
	return common.TableCellOptions{TableAutoCellOptions: &common.TableAutoCellOptions{Type: common.TableCellDisplayModeAuto}}
}

func cellColorBackground() common.TableCellOptions {
	return common.TableCellOptions{TableColoredBackgroundCellOptions: &common.TableColoredBackgroundCellOptions{Type: common.TableCellDisplayModeColorBackground}}
}

// Field override properties, as Grafana stores them.
func prop(id string, value any) dashboard.DynamicConfigValue {
	return dashboard.DynamicConfigValue{Id: id, Value: value}
}

func cellTypeProp(t string) dashboard.DynamicConfigValue {
	return prop("custom.cellOptions", map[string]any{"type": t})
}

// drillDown links a table's target column to the target dashboard,
// keeping the data source and the time range.
func drillDown() dashboard.DynamicConfigValue {
	return prop("links", []map[string]string{{
		"title": "Drill down into ${__value.text}",
		"url":   "/d/" + UIDTarget + "/smtp-target?${datasource:queryparam}&var-instance=${__value.text}&${__url_time_range}",
	}})
}

// transformation is one step of a panel's data transformations.
func transformation(id string, options any) dashboard.DataTransformerConfig {
	return dashboard.DataTransformerConfig{Id: id, Options: options}
}

// organize hides, renames and orders the columns of a table.
func organize(exclude []string, rename map[string]string, order ...string) dashboard.DataTransformerConfig {
	ex := map[string]bool{}
	for _, e := range exclude {
		ex[e] = true
	}
	idx := map[string]int{}
	for i, o := range order {
		idx[o] = i
	}
	if rename == nil {
		rename = map[string]string{}
	}
	return transformation("organize", map[string]any{"excludeByName": ex, "renameByName": rename, "indexByName": idx})
}

// mapping is a value mapping from values to text and color.
func valueMapping(options map[string]dashboard.ValueMappingResult) dashboard.ValueMapping {
	return dashboard.ValueMapping{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: options}}
}

func result(text, color string, index int32) dashboard.ValueMappingResult {
	r := dashboard.ValueMappingResult{Text: &text, Index: &index}
	if color != "" {
		r.Color = &color
	}
	return r
}

// boolMapping shows a 0/1 gauge as no/yes (or other words), colored.
func boolMapping(no, noColor, yes, yesColor string) []dashboard.ValueMapping {
	return []dashboard.ValueMapping{valueMapping(map[string]dashboard.ValueMappingResult{
		"0": result(no, noColor, 0),
		"1": result(yes, yesColor, 1),
	})}
}

// yesNo: 1 is good.
func yesNo() []dashboard.ValueMapping { return boolMapping("no", "red", "yes", "green") }

// row starts a row: the panels added after it (with WithPanel, not inside
// the row builder: those would be the hidden panels of a collapsed row)
// flow below its title until the next row.
func row(title string) *dashboard.RowBuilder {
	return dashboard.NewRowBuilder(title).Collapsed(false)
}
