package main

import (
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/common/version"
)

// buildDateLayout is the Makefile's BUILD_DATE layout, which -ldflags sets.
const buildDateLayout = "20060102-15:04:05"

// versionFromBuild fills in what -ldflags did not set (`go run .`, `go
// build`, `go install`) from the build information the go tool embeds:
// the module version, and the commit and its time when the binary was
// built in a checkout (vcs.revision, vcs.time; -modified for a dirty
// tree), so that --version, the landing page and smtp_exporter_build_info
// say what was built instead of "version=, revision=unknown".
func versionFromBuild() {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	v := fromBuildInfo(info)
	if version.Version == "" {
		version.Version = v.version
	}
	if version.Revision == "" {
		version.Revision = v.revision
	}
	if version.BuildDate == "" {
		version.BuildDate = v.date
	}
}

type buildVersion struct{ version, revision, date string }

func fromBuildInfo(info *debug.BuildInfo) buildVersion {
	var v buildVersion
	// "(devel)" is what a build outside any module version control knows.
	if mv := info.Main.Version; mv != "" && mv != "(devel)" {
		v.version = strings.TrimPrefix(mv, "v")
	}
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.revision = s.Value
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				v.date = t.UTC().Format(buildDateLayout)
			}
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if v.revision != "" && modified {
		v.revision += "-modified"
	}
	return v
}
