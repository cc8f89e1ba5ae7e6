package cli

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/facefleet/facefleet/models"
)

func modelsCmd() *cobra.Command {
	dir := models.DefaultDir()
	mirror := ""
	c := &cobra.Command{Use: "models", Short: "List, fetch and verify model files"}
	c.PersistentFlags().StringVar(&dir, "models-dir", dir, "directory of model files")
	list := &cobra.Command{Use: "list", Short: "List the models the product knows", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tFILE\tDEFAULT\tSTATUS\tLICENSE")
			for _, e := range models.Manifest() {
				status := "ok"
				if err := models.Verify(dir, e); err != nil {
					status = "missing"
					if _, statErr := os.Stat(e.Path(dir)); statErr == nil {
						status = "MISMATCH"
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", e.Name, e.File, e.Default, status, e.License)
			}
			return tw.Flush()
		}}
	fetch := &cobra.Command{Use: "fetch [NAME...]", Short: "Fetch models (default: the default set) from a mirror directory",
		RunE: func(cmd *cobra.Command, names []string) error {
			if mirror == "" {
				return fmt.Errorf("--mirror is required: this build fetches from a mirror directory only")
			}
			entries, err := pick(names)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if err := models.FetchFromMirror(mirror, dir, e); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%s)\n", e.Name, e.Path(dir))
			}
			return nil
		}}
	fetch.Flags().StringVar(&mirror, "mirror", "", "directory holding the model files (a machine without internet)")
	verify := &cobra.Command{Use: "verify [NAME...]", Short: "Check model files against the manifest sha256",
		RunE: func(cmd *cobra.Command, names []string) error {
			entries, err := pick(names)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if err := models.Verify(dir, e); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", e.Name)
			}
			return nil
		}}
	c.AddCommand(list, fetch, verify)
	return c
}

func pick(names []string) ([]models.Entry, error) {
	var out []models.Entry
	if len(names) == 0 {
		for _, e := range models.Manifest() {
			if e.Default {
				out = append(out, e)
			}
		}
		return out, nil
	}
	for _, n := range names {
		e, err := models.Lookup(n)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
