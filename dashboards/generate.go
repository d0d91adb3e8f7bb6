package dashboards

// The JSON files are written by internal/dashgen, the dashboards as Go code
// (see its package comment to add a panel or a dashboard).
//go:generate go run ./gen
