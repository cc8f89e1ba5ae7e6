package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// helpWidth is the widest line help prints: flag descriptions are wrapped to it.
const helpWidth = 120

// groupAnnotation is the pflag annotation that puts a flag in a help group (flagGroup.id).
const groupAnnotation = "facefleet_help_group"

// flagGroup is a titled block of flags in a verb's help, with one example of them (the flags only; the test runs
// each as `<binary> <verb> <example>` through the parser).
type flagGroup struct {
	id, title, example string
	flags              []string
}

// runGroups are `run`'s flags, block by block, in the order help shows them.
var runGroups = []flagGroup{
	{"io", "Input and output", "-s face.jpg -t video.mp4 -o out/ --keep-frames --temp-frame-format jpg",
		[]string{"source", "target", "output", "skip-audio", "keep-audio", "keep-fps", "keep-frames",
			"temp-frame-format", "temp-frame-quality", "max-width", "max-height", "work-dir"}},
	{"faces", "Faces", "--frame-processor face_swapper face_enhancer --many-faces --face-mask-blur 0.2",
		[]string{"frame-processor", "many-faces", "face-selector-mode", "reference-face-position", "reference-frame-number",
			"similar-face-distance", "face-detector-size", "face-detector-score", "face-mask-blur", "face-mask-padding",
			"face-blend", "face-enhancer-blend"}},
	{"models", "Models", "--face-swapper-model inswapper_128 --face-detector-model det_10g --models-dir /data/models",
		[]string{"face-swapper-model", "face-detector-model", "face-recognizer-model", "face-enhancer-model", "models-dir",
			"onnxruntime-library"}},
	{"memory", "Memory", "--memory-optimization --batch-size 2 --max-memory 6 --segment-seconds 20",
		[]string{"max-memory", "max-gpu-memory", "memory-optimization", "batch-size", "segment-seconds", "workers"}},
	{"execution", "Execution", "--execution-provider cuda --execution-device-id 1 --execution-threads 4",
		[]string{"execution-provider", "execution-device-id", "execution-gpu-mem-limit", "execution-arena-extend-strategy",
			"execution-cudnn-conv-algo-search", "execution-threads"}},
	{"encoding", "Output encoding", "--output-video-encoder libx265 --output-video-quality 20",
		[]string{"output-video-encoder", "output-video-quality"}},
	{"guard", "Responsible use", "--watermark --content-filter-model open_nsfw --content-filter-max-percent 5",
		[]string{"content-filter-model", "content-filter-threshold", "content-filter-max-percent", "watermark"}},
	{"logs", "Progress and logs", "-v --log-format json", []string{"quiet", "verbose", "log-level", "log-format"}},
}

// examples is a verb's Example: each line a command, indented as cobra shows them.
func examples(lines ...string) string {
	return "  " + strings.Join(lines, "\n  ")
}

// groupFlags files each named flag of f under its group (flags it does not have are skipped: groups list `run`'s).
func groupFlags(f *pflag.FlagSet, groups []flagGroup) {
	for _, g := range groups {
		for _, name := range g.flags {
			if f.Lookup(name) != nil {
				_ = f.SetAnnotation(name, groupAnnotation, []string{g.id})
			}
		}
	}
}

// withHelp gives every command of a tree the usage text below: cobra's, with the flags wrapped to helpWidth and, for
// a verb with flag groups, in its groups.
func withHelp(root *cobra.Command, groups []flagGroup) *cobra.Command {
	root.SetUsageFunc(func(c *cobra.Command) error { return writeUsage(c.OutOrStderr(), c, groups) })
	return root
}

// writeUsage is cobra's default usage (cobra.defaultUsageFunc) with the flags rendered by flagUsages.
func writeUsage(w io.Writer, c *cobra.Command, groups []flagGroup) error {
	var b strings.Builder
	b.WriteString("Usage:")
	if c.Runnable() {
		fmt.Fprintf(&b, "\n  %s", c.UseLine())
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "\n  %s [command]", c.CommandPath())
	}
	if c.HasExample() {
		fmt.Fprintf(&b, "\n\nExamples:\n%s", c.Example)
	}
	if c.HasAvailableSubCommands() {
		b.WriteString("\n\nAvailable Commands:")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() || sub.Name() == "help" {
				fmt.Fprintf(&b, "\n  %-*s %s", sub.NamePadding(), sub.Name(), sub.Short)
			}
		}
	}
	if c.HasAvailableLocalFlags() {
		b.WriteString(flagUsages(c, c.LocalFlags(), groups))
	}
	if c.HasAvailableInheritedFlags() {
		fmt.Fprintf(&b, "\n\nGlobal Flags:\n%s", strings.TrimRight(c.InheritedFlags().FlagUsagesWrapped(helpWidth), " \n"))
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "\n\nUse \"%s [command] --help\" for more information about a command.", c.CommandPath())
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// flagUsages renders a command's own flags: in its groups, each with its example, when it has any; the flags in no
// group (cobra's --help) come last as "Other".
func flagUsages(c *cobra.Command, local *pflag.FlagSet, groups []flagGroup) string {
	sets := map[string]*pflag.FlagSet{}
	var other *pflag.FlagSet
	local.VisitAll(func(f *pflag.Flag) {
		id := ""
		if v := f.Annotations[groupAnnotation]; len(v) == 1 {
			id = v[0]
		}
		if id == "" {
			if other == nil {
				other = pflag.NewFlagSet("other", pflag.ContinueOnError)
			}
			other.AddFlag(f)
			return
		}
		if sets[id] == nil {
			sets[id] = pflag.NewFlagSet(id, pflag.ContinueOnError)
			sets[id].SortFlags = false
		}
		sets[id].AddFlag(f)
	})
	if len(sets) == 0 {
		return "\n\nFlags:\n" + strings.TrimRight(local.FlagUsagesWrapped(helpWidth), " \n")
	}
	var b strings.Builder
	for _, g := range groups {
		s := sets[g.id]
		if s == nil {
			continue
		}
		// Each group's flags in the order the group lists them.
		ordered := pflag.NewFlagSet(g.id, pflag.ContinueOnError)
		ordered.SortFlags = false
		for _, name := range g.flags {
			if f := s.Lookup(name); f != nil {
				ordered.AddFlag(f)
			}
		}
		fmt.Fprintf(&b, "\n\n%s:\n%s", g.title, strings.TrimRight(ordered.FlagUsagesWrapped(helpWidth), " \n"))
		fmt.Fprintf(&b, "\n  e.g. %s %s", c.CommandPath(), g.example)
	}
	if other != nil {
		fmt.Fprintf(&b, "\n\nOther:\n%s", strings.TrimRight(other.FlagUsagesWrapped(helpWidth), " \n"))
	}
	return b.String()
}
