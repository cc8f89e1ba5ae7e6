package version_test

import (
	"runtime/debug"
	"testing"

	"github.com/facefleet/facefleet/pkg/version"
)

func TestFromInfo(t *testing.T) {
	stamped := func(kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/facefleet/facefleet", Version: "(devel)"}}
		for i := 0; i < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	cases := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no build info", nil, false, "facefleet (unknown)"},
		{"go test: not stamped", stamped(), true, "facefleet (devel) go1.26.8"},
		{"clean checkout", stamped("vcs.revision", "339195d1c2ab0123456789abcdef0123456789ab", "vcs.modified", "false", "vcs.time", "2026-12-06T21:58:00Z"),
			true, "facefleet (devel) rev 339195d1c2ab 2026-12-06T21:58:00Z go1.26.8"},
		{"modified checkout", stamped("vcs.revision", "339195d1c2ab0123456789abcdef0123456789ab", "vcs.modified", "true"),
			true, "facefleet (devel) rev 339195d1c2ab+modified go1.26.8"},
		{"short revision, tagged module", func() *debug.BuildInfo {
			bi := stamped("vcs.revision", "abc")
			bi.Main.Version = "v1.2.3"
			return bi
		}(), true, "facefleet v1.2.3 rev abc go1.26.8"},
		{"empty module version", func() *debug.BuildInfo { bi := stamped(); bi.Main.Version = ""; return bi }(), true, "facefleet (devel) go1.26.8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := version.FromInfo(tc.bi, tc.ok).String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
