package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/facefleet/facefleet/models"
)

func modelsCmd() *cobra.Command {
	dir := models.DefaultDir()
	c := &cobra.Command{Use: "models", Short: "List, fetch and verify model files",
		Long: "Model files live in --models-dir and are checked against the manifest built into this binary.\n" +
			"Distributions: default (fetched without names), optional (fetched by name), user (never downloaded:\n" +
			"non-commercial or unclear licence, copy your own files into --models-dir), tests-only (test fixtures,\n" +
			"fetched only with --include-tests).",
		Example: examples("coordinator models list", "coordinator models fetch --mirror /mnt/models")}
	c.PersistentFlags().StringVar(&dir, "models-dir", dir, "directory of model files")

	list := &cobra.Command{Use: "list", Short: "List the models the product knows and their state in --models-dir", Args: cobra.NoArgs,
		Example: examples("coordinator models list --models-dir /data/models"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tFILE\tKIND\tDISTRIBUTION\tSTATUS\tLICENSE")
			for _, e := range models.Manifest() {
				st, _ := models.Check(dir, e)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.File, e.Kind, e.Distribution, st, e.License)
			}
			return tw.Flush()
		}}

	var mirror string
	var includeTests bool
	fetch := &cobra.Command{Use: "fetch [NAME...]",
		Short: "Fetch models (default: the default set) over the network, or from --mirror",
		Long: "Fetch downloads each model from its URL, resuming a partial download (<file>.part), and checks its size\n" +
			"and sha256 before it takes its final name; a mismatch is deleted and refused. With --mirror it copies from a\n" +
			"directory instead (machines without internet). User models are never downloaded: copy them in, or use --mirror.",
		Example: examples("coordinator models fetch", "coordinator models fetch yunet_2023mar blazeface_front",
			"coordinator models fetch gfpgan_1.4 --mirror /mnt/models"),
		RunE: func(cmd *cobra.Command, names []string) error {
			entries, err := pickFetch(names, includeTests)
			if err != nil {
				return err
			}
			cfg := models.FetchConfig{Dir: dir, Mirror: mirror, Client: downloadClient(), Progress: cmd.ErrOrStderr(),
				IncludeTests: includeTests}
			for _, e := range entries {
				if err := models.Fetch(cmd.Context(), cfg, e); err != nil {
					return err
				}
				state := "ok"
				if !e.Known() {
					state = "present, unverified (no known sha256)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s (%s)\n", e.Name, state, e.Path(dir))
			}
			return nil
		}}
	fetch.Flags().StringVar(&mirror, "mirror", "", "directory holding the model files (a machine without internet)")
	fetch.Flags().BoolVar(&includeTests, "include-tests", false, "allow tests-only models (and add them to the default set)")

	verify := &cobra.Command{Use: "verify [NAME...]", Short: "Check model files (default: every one present) against the manifest",
		Example: examples("coordinator models verify", "coordinator models verify inswapper_128"),
		RunE: func(cmd *cobra.Command, names []string) error {
			entries, err := pickVerify(dir, names)
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "no model files in %s\n", dir)
				return nil
			}
			var failed []error
			for _, e := range entries {
				st, err := models.Check(dir, e)
				switch st {
				case models.StatusOK:
					fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", e.Name)
				case models.StatusUnverified:
					fmt.Fprintf(cmd.OutOrStdout(), "%s: unverified (the manifest knows no sha256 for %s)\n", e.Name, e.File)
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s: %v\n", e.Name, st, err)
					failed = append(failed, fmt.Errorf("%v; run: %s", err, e.FetchCommand(dir)))
				}
			}
			switch len(failed) {
			case 0:
				return nil
			case 1:
				return failed[0]
			}
			return fmt.Errorf("%d of %d models failed verification, first: %w", len(failed), len(entries), failed[0])
		}}
	c.AddCommand(list, fetch, verify)
	return c
}

// downloadClient bounds the steps of a download that can hang; the body itself is bounded by the command's
// context (Ctrl-C), since a model may take minutes to arrive.
func downloadClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 30 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: t}
}

// pickFetch is the named entries, or the default set (plus the tests-only set with --include-tests).
func pickFetch(names []string, includeTests bool) ([]models.Entry, error) {
	if len(names) == 0 {
		var out []models.Entry
		for _, e := range models.Manifest() {
			if e.Distribution == models.DistDefault || includeTests && e.Distribution == models.DistTestsOnly {
				out = append(out, e)
			}
		}
		return out, nil
	}
	return lookup(names)
}

// pickVerify is the named entries, or every entry whose file is in dir.
func pickVerify(dir string, names []string) ([]models.Entry, error) {
	if len(names) > 0 {
		return lookup(names)
	}
	var out []models.Entry
	for _, e := range models.Manifest() {
		if _, err := os.Stat(e.Path(dir)); !errors.Is(err, fs.ErrNotExist) {
			out = append(out, e)
		}
	}
	return out, nil
}

func lookup(names []string) ([]models.Entry, error) {
	var out []models.Entry
	for _, n := range names {
		e, err := models.Lookup(n)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
