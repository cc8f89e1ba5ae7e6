package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

// processorFlag is the frame-processor list's flag: roop's name, on `run` and `submit`.
const processorFlag = "frame-processor"

// RoopArgs rewrites roop's space-separated processor list (`--frame-processor face_swapper face_enhancer`, argparse's
// nargs='+') into the one comma-separated value pflag takes, for a verb that has the flag. The words after the
// flag's value, up to the next word that starts with "-", are the list's, as argparse reads them; nothing else is
// touched, so a stray word elsewhere is still cobra's "unknown command". `--frame-processor=a b` keeps one value,
// as in argparse, and nothing after "--" is read.
func RoopArgs(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd.Flags().Lookup(processorFlag) == nil {
		return args
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		out = append(out, args[i])
		if args[i] == "--" {
			return append(out, args[i+1:]...)
		}
		if args[i] != "--"+processorFlag || i+1 == len(args) {
			continue
		}
		i++
		list := args[i]
		for i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			i++
			list += "," + args[i]
		}
		out = append(out, list)
	}
	return out
}
