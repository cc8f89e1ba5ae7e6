package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/facefleet/facefleet/pkg/contentfilter"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/provenance"
)

// contentFilterFlags are the content filter's settings, the same on `run` and `serve`.
func contentFilterFlags(f *pflag.FlagSet, c *contentfilter.Config) {
	f.StringVar(&c.Model, "content-filter-model", c.Model, "content classifier screening every target before any swap: a content_filter model of the manifest (your own file in --models-dir; without it targets are not screened, said once)")
	f.Float64Var(&c.Threshold, "content-filter-threshold", c.Threshold, "a sample scoring above this is flagged, 0-1 (0 = the classifier's own: 0.8 for open_nsfw)")
	f.Float64Var(&c.MaxPercent, "content-filter-max-percent", c.MaxPercent, "refuse a target when more than this percent of its samples (one a second; an image's one) are flagged")
}

// watermarkFlag is --watermark, the same on `run` and `submit` (a cluster's workers draw it).
func watermarkFlag(f *pflag.FlagSet, on *bool) {
	f.BoolVar(on, "watermark", false, "draw a small visible \"AI-generated\" mark in the bottom-right corner of every output frame")
}

// serveFilter opens the daemon's content filter: nil, said in one line on w, when no classifier is installed.
func serveFilter(c contentfilter.Config, w io.Writer) (*contentfilter.Filter, error) {
	f, err := contentfilter.Open(c)
	if errors.Is(err, contentfilter.ErrNotInstalled) {
		fmt.Fprintf(w, "content filter: %v\n", err)
		return nil, nil
	}
	return f, err
}

// ExitError is a result a script branches on by exit code, not a failure: main exits with Code and prints nothing
// more (the command printed its report).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

func inspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect FILE",
		Short: "Say whether FILE was made by Facefleet: its synthetic-media label and provenance record, checked",
		Long: "Reads FILE's synthetic-media label (container tags of a video, PNG text chunks or the JPEG comment of a\n" +
			"picture) and its sidecar FILE.provenance.json, and checks the sidecar's sha256 against the file.\n" +
			"Exit status: 0 made by Facefleet and verified (label present, the record matches the file);\n" +
			"1 FILE cannot be read; 2 no label and no record; 3 labelled (or recorded) but not verified:\n" +
			"the record is missing, unreadable or of another file (FILE changed after it was made), or the label is gone.",
		Example: examples("coordinator inspect out.mp4", "coordinator inspect photo.png"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := provenance.Inspect(cmd.Context(), args[0], media.ReadMetadata)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), r.String())
			if r.Verdict != provenance.Verified {
				return &ExitError{Code: int(r.Verdict)}
			}
			return nil
		},
	}
}
