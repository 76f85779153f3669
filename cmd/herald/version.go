package main

import (
	"runtime/debug"
)

// version is the build's version, set by `make build` from git describe:
// go build -ldflags "-X main.version=$(git describe --always --dirty)".
// Empty: buildVersion reads it from the build information.
var version string

// buildVersion is what --version prints, the start log line says and
// /api/stats and herald_build_info report: the -X version when the build
// set one; otherwise the main module's version (a tagged module, or the
// pseudo-version the go command stamps from a git checkout), or failing
// that the VCS revision; "(devel)" when nothing is known.
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	return vcsVersion(bi.Settings)
}

// vcsVersion is the short revision of the checkout the binary was built
// from, with "-dirty" when it had changes; "(devel)" without one.
func vcsVersion(settings []debug.BuildSetting) string {
	var rev, dirty string
	for _, s := range settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return "(devel)"
	}
	return rev[:min(len(rev), 12)] + dirty
}
