// Package config fills a command's flags from, in order of precedence, the command line, FACEFLEET_* environment
// variables, a flat YAML config file and the flags' own defaults. It works on any pflag.FlagSet, so every flag gets
// an environment variable and a config key without being declared twice. It owns no settings of its own and must
// never know what a flag means: parsing and validating each value is the flag's job (pflag's Set).
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the environment variable of every flag.
const EnvPrefix = "FACEFLEET_"

// EnvConfig names the config file in place of DefaultPath's search. It is also the variable of a --config flag.
const EnvConfig = EnvPrefix + "CONFIG"

// Where a flag's value came from, as reported in Sources.
const (
	FromFlag    = "flag"
	FromEnv     = "env"
	FromFile    = "file"
	FromDefault = "default"
)

// Sources maps each flag name to where its value came from: FromFlag, FromEnv, FromFile or FromDefault.
type Sources map[string]string

// Write prints every flag of fs as a config-file line with its source as a comment, secrets masked, for a
// --print-config style debug.
func (s Sources) Write(w io.Writer, fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || notConfigurable[f.Name] {
			return
		}
		v := f.Value.String()
		if IsSecret(f.Name) && v != "" {
			v = "***"
		}
		src := s[f.Name]
		if src == "" {
			src = FromDefault
		}
		_, err = fmt.Fprintf(w, "%s: %s # %s\n", f.Name, v, src)
	})
	return err
}

// EnvName is the environment variable of a flag: s3-access-key -> FACEFLEET_S3_ACCESS_KEY.
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// IsSecret reports whether a key holds a credential, by its name.
func IsSecret(key string) bool {
	k := strings.ToLower(key)
	return strings.Contains(k, "password") || strings.Contains(k, "secret") || strings.Contains(k, "token")
}

// DefaultPath is the config file read when none is named: $FACEFLEET_CONFIG, else
// $XDG_CONFIG_HOME/facefleet/config.yaml, else ~/.config/facefleet/config.yaml. Empty when there is no home.
func DefaultPath() string {
	if p := os.Getenv(EnvConfig); p != "" {
		return p
	}
	// Not os.UserConfigDir: on macOS that is ~/Library/Application Support, and make cluster writes ~/.config.
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "facefleet", "config.yaml")
}

// Locate returns the config file a command should read: the value of its flag named flag when given on the command
// line, else DefaultPath(). explicit reports whether the user named the file (the flag or $FACEFLEET_CONFIG), in
// which case a missing file is an error.
func Locate(fs *pflag.FlagSet, flag string) (path string, explicit bool) {
	if f := fs.Lookup(flag); f != nil && f.Changed {
		return f.Value.String(), true
	}
	return DefaultPath(), os.Getenv(EnvConfig) != ""
}

// FlagNames collects the flag names of every command in the given trees: the keys a shared config file may hold.
func FlagNames(roots ...*cobra.Command) map[string]bool {
	names := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(f *pflag.Flag) { names[f.Name] = true }
		c.Flags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return names
}

// Option changes how Apply works.
type Option func(*options)

type options struct {
	known map[string]bool
	warn  io.Writer
}

// WithKnown makes a file key that is neither a flag of this command nor in known an error: one file serves every
// command, so a key only another command has is fine, but a key no command has is a typo.
func WithKnown(known map[string]bool) Option { return func(o *options) { o.known = known } }

// WithWarnings sends warnings (a config file holding secrets that others can read) to w, one line each.
func WithWarnings(w io.Writer) Option { return func(o *options) { o.warn = w } }

// notConfigurable flags come from the command line only: FACEFLEET_HELP=1 would turn every command into its help.
var notConfigurable = map[string]bool{"help": true}

// Apply sets each flag of fs not given on the command line from its environment variable, else from the config file
// at path; flags set by neither keep their defaults. Values go through fs.Set, so each flag validates its own; a bad
// value is an error naming where it came from. A missing file is an error only when explicit. Call it after flags are
// parsed and before they are read (a cobra PersistentPreRunE); the flags it sets count as Changed, so required flags
// may come from the environment or the file.
func Apply(fs *pflag.FlagSet, path string, explicit bool, opts ...Option) (Sources, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	entries, err := readFile(path, explicit, o.warn)
	if err != nil {
		return nil, err
	}
	file := map[string]entry{}
	for _, e := range entries {
		if notConfigurable[e.key] || e.key == "config" { // a config file naming another one would be ignored
			return nil, fmt.Errorf("%s:%d: %s: cannot be set in a config file", path, e.line, e.key)
		}
		if fs.Lookup(e.key) == nil && o.known != nil && !o.known[e.key] {
			return nil, fmt.Errorf("%s:%d: unknown key %q: not a flag of any facefleet command", path, e.line, e.key)
		}
		file[e.key] = e
	}

	src := Sources{}
	var firstErr error
	fs.VisitAll(func(f *pflag.Flag) {
		switch {
		case firstErr != nil:
			return
		case f.Changed:
			src[f.Name] = FromFlag
			return
		case notConfigurable[f.Name]:
			src[f.Name] = FromDefault
			return
		}
		env := EnvName(f.Name)
		// An empty variable counts as unset: `FACEFLEET_X= cmd` is how a shell clears one for a single command.
		if v := os.Getenv(env); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				firstErr = fmt.Errorf("%s=%q: %w", env, v, err)
			}
			src[f.Name] = FromEnv
			return
		}
		e, ok := file[f.Name]
		if !ok {
			src[f.Name] = FromDefault
			return
		}
		if err := setFromFile(fs, f, e); err != nil {
			firstErr = fmt.Errorf("%s:%d: %s: %w", path, e.line, f.Name, err)
		}
		src[f.Name] = FromFile
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return src, nil
}

// entry is one key of the config file: a scalar, or a list for slice flags.
type entry struct {
	key    string
	line   int
	value  string
	list   []string
	isList bool
}

func setFromFile(fs *pflag.FlagSet, f *pflag.Flag, e entry) error {
	if !e.isList {
		return fs.Set(f.Name, e.value)
	}
	sv, ok := f.Value.(pflag.SliceValue)
	if !ok {
		return fmt.Errorf("a list, but the flag takes one %s", f.Value.Type())
	}
	if len(e.list) == 0 {
		f.Changed = true
		return sv.Replace(nil)
	}
	// Set marks the flag changed and checks the first item; Replace then takes the items whole, where Set would
	// split an item that holds a comma.
	if err := fs.Set(f.Name, e.list[0]); err != nil {
		return err
	}
	return sv.Replace(e.list)
}

// readFile parses the flat YAML mapping at path, in file order. No file is no entries unless explicit.
func readFile(path string, explicit bool, warn io.Writer) ([]entry, error) {
	if path == "" {
		if explicit {
			return nil, errors.New("config file: empty path")
		}
		return nil, nil
	}
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("config file %s: is a directory", path)
	}
	data, err := io.ReadAll(fh)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	entries, err := parse(path, data)
	if err != nil {
		return nil, err
	}
	if warn != nil && st.Mode().Perm()&0o044 != 0 {
		var secrets []string
		for _, e := range entries {
			if IsSecret(e.key) {
				secrets = append(secrets, e.key)
			}
		}
		if len(secrets) > 0 {
			sort.Strings(secrets)
			fmt.Fprintf(warn, "warning: %s holds %s but others can read it (mode %04o); run chmod 600 %s\n",
				path, strings.Join(secrets, ", "), st.Mode().Perm(), path)
		}
	}
	return entries, nil
}

// parse reads a flat mapping of names to scalars or lists of scalars; path only labels errors.
func parse(path string, data []byte) ([]entry, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err) // "yaml: line N: ..."
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil // an empty file, or only comments
	}
	m := doc.Content[0]
	if m.Kind == yaml.ScalarNode && m.Tag == "!!null" {
		return nil, nil
	}
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping of flag names to values", path, m.Line)
	}
	var out []entry
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], resolve(m.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s:%d: want a flag name as the key", path, k.Line)
		}
		// The YAML library keeps the last of repeated keys silently; which one wins is a guess, so refuse.
		if first, ok := seen[k.Value]; ok {
			return nil, fmt.Errorf("%s:%d: %s: repeated (first at line %d)", path, k.Line, k.Value, first)
		}
		seen[k.Value] = k.Line
		e := entry{key: k.Value, line: k.Line}
		switch v.Kind {
		case yaml.ScalarNode:
			e.value = scalar(v)
		case yaml.SequenceNode:
			e.isList = true
			for _, item := range v.Content {
				item = resolve(item)
				if item.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("%s:%d: %s: want a list of plain values", path, item.Line, k.Value)
				}
				e.list = append(e.list, scalar(item))
			}
		default:
			return nil, fmt.Errorf("%s:%d: %s: want a value or a list of values", path, v.Line, k.Value)
		}
		out = append(out, e)
	}
	return out, nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// scalar is a value as the flag should see it: `key:` and `key: ~` are the empty string, not "~".
func scalar(n *yaml.Node) string {
	if n.Tag == "!!null" {
		return ""
	}
	return n.Value
}
