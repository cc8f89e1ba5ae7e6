// Package version says which build of Facefleet a process is: module version, VCS revision and Go version, read
// from the build information the Go toolchain embeds (`go build` in a git checkout stamps the revision).
package version

import (
	"runtime/debug"
	"strings"
)

// Build is what the toolchain recorded about this binary.
type Build struct {
	Module   string // the main module's version: "(devel)" for a build from a checkout
	Revision string // VCS commit, "" when the build was not stamped (go test, -buildvcs=false)
	Modified bool   // the work tree had uncommitted changes
	Time     string // the commit's time, RFC 3339
	Go       string // the toolchain, e.g. go1.26.8
}

// stamp is the revision the Makefile passes with -ldflags -X ("<sha>" or "<sha>+modified"): the toolchain stamps
// none where GOFLAGS=-buildvcs=false (this project's CI machines) or the build sees no git checkout (an image build
// from a copied tree).
var stamp string

// Read is this binary's Build.
func Read() Build {
	return withStamp(FromInfo(debug.ReadBuildInfo()), stamp)
}

// withStamp fills b's revision from the linker's stamp when the toolchain recorded none.
func withStamp(b Build, stamp string) Build {
	if b.Revision == "" && stamp != "" {
		b.Revision, b.Modified = strings.CutSuffix(stamp, "+modified")
	}
	return b
}

// FromInfo extracts a Build from debug.ReadBuildInfo's answer; ok false (a binary built without module support)
// gives "(unknown)".
func FromInfo(bi *debug.BuildInfo, ok bool) Build {
	if !ok || bi == nil {
		return Build{Module: "(unknown)"}
	}
	b := Build{Module: bi.Main.Version, Go: bi.GoVersion}
	if b.Module == "" {
		b.Module = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		case "vcs.time":
			b.Time = s.Value
		}
	}
	return b
}

// String is one line: "facefleet (devel) rev 339195d1c2ab+modified 2026-12-06T21:58:00Z go1.26.8". It is what
// `version` prints first and what the fleet heartbeat's Version carries.
func (b Build) String() string {
	parts := []string{"facefleet", b.Module}
	if b.Revision != "" {
		rev := b.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if b.Modified {
			rev += "+modified"
		}
		parts = append(parts, "rev "+rev)
		if b.Time != "" {
			parts = append(parts, b.Time)
		}
	}
	if b.Go != "" {
		parts = append(parts, b.Go)
	}
	return strings.Join(parts, " ")
}

// String is Read().String().
func String() string { return Read().String() }
