package cli

import (
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/facefleet/facefleet/pkg/standalone"
)

// verbs lists every command of a tree, the root included, but cobra's own help and completion.
func verbs(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		if sub.Name() != "help" && sub.Name() != "completion" {
			out = append(out, verbs(sub)...)
		}
	}
	return out
}

// renderHelp is what `<path> --help` prints, from a fresh tree.
func renderHelp(t *testing.T, newRoot func() *cobra.Command, path []string) string {
	t.Helper()
	root := newRoot()
	var b strings.Builder
	root.SetOut(&b)
	root.SetErr(&b)
	root.SetArgs(append(slices.Clone(path), "--help"))
	if err := root.Execute(); err != nil {
		t.Fatalf("%v --help: %v", path, err)
	}
	return b.String()
}

// parseExample parses a command line the help shows (an example) as the binary would, running nothing.
func parseExample(newRoot func() *cobra.Command, line string) error {
	root := newRoot()
	args := strings.Fields(line)[1:] // the binary's name
	cmd, rest, err := root.Find(RoopArgs(root, args))
	if err != nil {
		return err
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	return cmd.ValidateArgs(cmd.Flags().Args())
}

// balanced reports whether s closes every parenthesis it opens and has an even number of double quotes.
func balanced(s string) bool {
	depth := 0
	for _, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		}
		if depth < 0 {
			return false
		}
	}
	return depth == 0 && strings.Count(s, `"`)%2 == 0
}

// Every verb of both binaries has help without rendering glitches: an example that parses as its own command line,
// lines within helpWidth, no backquote in a flag's text (pflag takes `word` for the value's name: serve's help
// read "--keep-ended delete ... (0 = keep until delete)"), parentheses and quotes closed, no fmt error.
func TestHelpRendering(t *testing.T) {
	for _, tree := range []struct {
		name string
		new  func() *cobra.Command
	}{{"coordinator", Coordinator}, {"worker", Worker}} {
		for _, c := range verbs(tree.new()) {
			path := strings.Fields(c.CommandPath())[1:]
			t.Run(c.CommandPath(), func(t *testing.T) {
				help := renderHelp(t, tree.new, path)
				for i, line := range strings.Split(help, "\n") {
					if n := utf8.RuneCountInString(line); n > helpWidth {
						t.Errorf("line %d is %d characters: %q", i+1, n, line)
					}
				}
				if strings.Contains(help, "%!") {
					t.Errorf("fmt error in help:\n%s", help)
				}
				if c.Example == "" {
					t.Errorf("no example")
				}
				for _, line := range strings.Split(help, "\n") {
					ex, ok := strings.CutPrefix(line, "  e.g. ")
					if !ok && strings.Contains(c.Example, line) && strings.HasPrefix(line, "  "+tree.name) {
						ex, ok = strings.TrimSpace(line), true
					}
					if !ok {
						continue
					}
					if !strings.HasPrefix(ex, tree.name+" ") {
						t.Errorf("example %q does not start with %s", ex, tree.name)
					} else if err := parseExample(tree.new, ex); err != nil {
						t.Errorf("example %q: %v", ex, err)
					}
				}
				c.Flags().VisitAll(func(f *pflag.Flag) {
					if strings.Contains(f.Usage, "`") {
						name, _ := pflag.UnquoteUsage(f)
						t.Errorf("--%s: a backquote in its text makes %q its value's name", f.Name, name)
					}
					if !balanced(f.Usage) {
						t.Errorf("--%s: unbalanced parentheses or quotes in %q", f.Name, f.Usage)
					}
				})
			})
		}
	}
}

// run's help shows its flags in groups, each with an example: every flag is in one, and each group lists only
// flags run has.
func TestRunHelpGroups(t *testing.T) {
	cmd, _, err := Coordinator().Find([]string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, g := range runGroups {
		if len(g.flags) == 0 || g.example == "" {
			t.Errorf("group %s: no flags or no example", g.id)
		}
		for _, name := range g.flags {
			if cmd.Flags().Lookup(name) == nil {
				t.Errorf("group %s lists --%s, which run does not have", g.id, name)
			}
			if other, ok := seen[name]; ok {
				t.Errorf("--%s is in groups %s and %s", name, other, g.id)
			}
			seen[name] = g.id
		}
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if _, ok := seen[f.Name]; !ok && f.Name != "help" {
			t.Errorf("--%s is in no group", f.Name)
		}
	})
	help := renderHelp(t, Coordinator, []string{"run"})
	for _, title := range []string{"Input and output:", "Faces:", "Models:", "Memory:", "Execution:", "Output encoding:"} {
		if !strings.Contains(help, "\n"+title+"\n") {
			t.Errorf("no %q block in run's help", title)
		}
	}
	if n := strings.Count(help, "\n  e.g. coordinator run "); n != len(runGroups) {
		t.Errorf("%d group examples, want %d", n, len(runGroups))
	}
}

// --keep-frames's folder is the same in run's help, in the README's flag table, and in the code that makes it.
func TestKeepFramesFolder(t *testing.T) {
	want := "`" + standalone.FramesDir("out.mp4") + "/"
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `--keep-frames`") {
			row = line
		}
	}
	if !strings.Contains(row, want) {
		t.Errorf("README's --keep-frames row %q does not name %s`", row, want)
	}
	if help := renderHelp(t, Coordinator, []string{"run"}); !strings.Contains(help, strings.Trim(want, "`")+" for out.mp4") {
		t.Errorf("run's help does not name %s", want)
	}
}
