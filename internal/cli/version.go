package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Release builds (make dist) stamp these with -ldflags -X; other builds
// leave them empty and report what the Go toolchain recorded (the module
// version for go install, the VCS revision and commit time for a build in a
// checkout). They are link-time constants, never written at run time.
var (
	version string
	commit  string
	date    string
)

// buildInfo is what `mcplink --version` reports.
type buildInfo struct {
	Version  string // v1.2.3, or "dev"
	Commit   string // full revision, "" when unknown
	Dirty    bool   // built from a modified checkout
	Date     string // commit time, RFC 3339 UTC, "" when unknown
	Go       string // toolchain, go1.26.8
	Platform string // GOOS/GOARCH
}

// readBuildInfo combines the link-time stamps with the toolchain's build
// information: a stamp wins over what the toolchain recorded.
func readBuildInfo(stampVersion, stampCommit, stampDate string, bi *debug.BuildInfo, platform string) buildInfo {
	info := buildInfo{Version: stampVersion, Commit: stampCommit, Date: stampDate, Platform: platform, Go: runtime.Version()}
	if bi != nil {
		info.Go = bi.GoVersion
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if info.Date == "" {
					info.Date = s.Value
				}
			case "vcs.modified":
				info.Dirty = s.Value == "true" && stampCommit == ""
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	return info
}

// String is the one line `mcplink --version` prints after "mcplink ":
// "v1.2.3 (commit 0123456789ab, 2026-12-01T10:00:00Z, go1.26.8 linux/amd64)".
func (b buildInfo) String() string {
	c := b.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if c == "" {
		c = "unknown"
	} else if b.Dirty {
		c += "-dirty"
	}
	d := b.Date
	if d == "" {
		d = "date unknown"
	}
	return fmt.Sprintf("%s (commit %s, %s, %s %s)", b.Version, c, d, b.Go, b.Platform)
}

func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return readBuildInfo(version, commit, date, bi, runtime.GOOS+"/"+runtime.GOARCH)
}

// Version returns the version line: version, commit, commit date, Go
// toolchain and platform.
func Version() string { return currentBuild().String() }
