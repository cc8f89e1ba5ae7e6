package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/facefleet/facefleet/pkg/ort"
	"github.com/facefleet/facefleet/pkg/version"
)

func init() {
	// --version prints what `version` does; cobra's flag takes a template, and a template can only call functions
	// registered here.
	cobra.AddTemplateFunc("facefleetVersion", func() string { return versionReport(ort.DefaultLibraryPath()) })
}

// withVersion gives a command tree's root --version and a `version` command.
func withVersion(root *cobra.Command) *cobra.Command {
	root.Version = version.String()
	root.SetVersionTemplate("{{facefleetVersion}}\n")
	root.AddCommand(&cobra.Command{
		Use:     "version",
		Short:   "Print the build (module version, VCS revision, Go) and the ONNX Runtime library's version",
		Example: examples(root.Name() + " version"),
		Args:    cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), versionReport(ort.DefaultLibraryPath()))
		},
	})
	return root
}

// versionReport is the build's line (the heartbeat's Version) and the ONNX Runtime library's: loading it is cheap
// and says whether this machine can run models at all.
func versionReport(lib string) string {
	if err := ort.Init(lib); err != nil {
		return version.String() + "\nonnxruntime: not loaded: " + OneLine(err)
	}
	return fmt.Sprintf("%s\nonnxruntime %s (%s)", version.String(), ort.Version(), lib)
}
