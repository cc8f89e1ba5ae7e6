package validate

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
)

// Flag is one flag a command defines, as its --help lists it.
type Flag struct {
	Name      string
	Value     bool   // takes a value (pflag prints its type after the name); false for a bool switch
	Default   string // "(default X)" of the help text, "" when none is shown
	Shorthand string
}

// flagLine is a pflag usage line: "  -s, --source string   help (default x)" or "      --many-faces   help".
var flagLine = regexp.MustCompile(`^\s+(?:-([a-zA-Z0-9]), )?--([a-z0-9][a-z0-9-]*)(?: ([a-zA-Z0-9.]+))?\s{2,}(.*)$`)

var defaultText = regexp.MustCompile(`\(default "?([^")]*)"?\)\s*$`)

// HelpFlags runs `bin args... --help` and parses the flags it lists (the command's own and the inherited ones).
func HelpFlags(bin string, args ...string) (map[string]Flag, error) {
	var out bytes.Buffer
	cmd := exec.Command(bin, append(args, "--help")...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s --help: %w: %s", bin, strings.Join(args, " "), err, out.String())
	}
	return ParseHelp(out.String()), nil
}

// continuation is a flag's text wrapped onto a further line: indented past the flag lines' own indent (at most six
// spaces), to the text's column. A group's "  e.g. ..." line is not one.
var continuation = regexp.MustCompile(`^ {7,}\S`)

// ParseHelp reads the flags of a cobra command's help text, their text wrapped over several lines or not (the
// binaries wrap it at 120 characters, so a "(default X)" may be on a line of its own).
func ParseHelp(help string) map[string]Flag {
	flags := map[string]Flag{}
	var last *Flag
	var text string
	done := func() {
		if last == nil {
			return
		}
		if d := defaultText.FindStringSubmatch(text); d != nil {
			last.Default = d[1]
		}
		flags[last.Name] = *last
		last = nil
	}
	for _, line := range strings.Split(help, "\n") {
		m := flagLine.FindStringSubmatch(line)
		if m == nil {
			if last != nil && continuation.MatchString(line) {
				text += " " + strings.TrimSpace(line)
				continue
			}
			done()
			continue
		}
		done()
		last, text = &Flag{Shorthand: m[1], Name: m[2], Value: m[3] != ""}, m[4]
	}
	done()
	return flags
}

// ParseArgs checks a container's flag arguments against a command's flags and returns each flag's value ("true" for
// a switch given without one). A word that is no flag, a flag the command lacks, a flag given twice or one missing
// its value is an error.
func ParseArgs(args []string, flags map[string]Flag) (map[string]string, error) {
	vals := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			return nil, fmt.Errorf("argument %q: want a --flag (the command takes no positional arguments here)", a)
		}
		name, val, hasVal := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		f, ok := flags[name]
		if !ok {
			return nil, fmt.Errorf("--%s: the command defines no such flag", name)
		}
		if _, dup := vals[name]; dup {
			return nil, fmt.Errorf("--%s given twice", name)
		}
		switch {
		case hasVal:
		case !f.Value:
			val = "true"
		case i+1 < len(args):
			i++
			val = args[i]
		default:
			return nil, fmt.Errorf("--%s: missing its value", name)
		}
		vals[name] = val
	}
	return vals, nil
}
