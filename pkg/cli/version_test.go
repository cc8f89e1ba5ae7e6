package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/facefleet/facefleet/pkg/version"
)

// `version` and --version print the same report on both binaries: the build line (what heartbeats carry) first.
func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		root func() *cobra.Command
		args []string
	}{
		{"coordinator version", Coordinator, []string{"version"}},
		{"coordinator --version", Coordinator, []string{"--version"}},
		{"worker version", Worker, []string{"version"}},
		{"worker --version", Worker, []string{"--version"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			root := tc.root()
			root.SetArgs(tc.args)
			root.SetOut(&out)
			root.SetErr(&out)
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 2 || lines[0] != version.String() || !strings.HasPrefix(lines[1], "onnxruntime ") {
				t.Errorf("got %q: want %q and the onnxruntime line", out.String(), version.String())
			}
		})
	}
}
