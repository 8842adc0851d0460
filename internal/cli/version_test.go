package cli

import (
	"runtime/debug"
	"testing"
)

func TestReadBuildInfo(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/mcplink/mcplink", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "4966dcf1a2b3c4d5e6f708192a3b4c5d6e7f8091"},
			{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	cases := []struct {
		name              string
		ver, commit, date string
		bi                *debug.BuildInfo
		want              string
	}{
		{"make dist stamps win", "v0.4.0", "0123456789abcdef0123456789abcdef01234567", "2026-11-30T09:00:00Z", vcs,
			"v0.4.0 (commit 0123456789ab, 2026-11-30T09:00:00Z, go1.26.8 windows/arm64)"},
		{"a build in a checkout", "", "", "", vcs,
			"dev (commit 4966dcf1a2b3-dirty, 2026-12-01T10:00:00Z, go1.26.8 windows/arm64)"},
		{"go install pkg@version", "", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.4.0"}},
			"v0.4.0 (commit unknown, date unknown, go1.26.8 windows/arm64)"},
	}
	for _, c := range cases {
		if got := readBuildInfo(c.ver, c.commit, c.date, c.bi, "windows/arm64").String(); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
	if got := readBuildInfo("", "", "", nil, "linux/amd64"); got.Version != "dev" || got.Commit != "" || got.Go == "" {
		t.Errorf("no build info: %+v", got)
	}
}
