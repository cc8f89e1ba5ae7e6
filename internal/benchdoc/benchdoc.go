// Package benchdoc writes a benchmark's table into docs/BENCHMARKS.md, between the markers of its section, so that
// `make bench` leaves the document holding what it measured instead of numbers copied by hand.
package benchdoc

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Env names the document a benchmark writes its section into; unset, benchmarks only print.
const Env = "FACEFLEET_BENCH_DOC"

// ErrNoSection is returned when the document lacks the section's markers: a section is placed by hand once, with
// its prose around it, and only its body is rewritten.
var ErrNoSection = errors.New("no section markers")

// Begin and End are the markers around section name's generated body.
func Begin(name string) string { return "<!-- bench:" + name + " begin (written by make bench) -->" }
func End(name string) string   { return "<!-- bench:" + name + " end -->" }

// Replace returns doc with the body between name's markers replaced by body.
func Replace(doc, name, body string) (string, error) {
	b, e := Begin(name), End(name)
	i := strings.Index(doc, b)
	j := strings.Index(doc, e)
	if i < 0 || j < i || strings.Count(doc, b) != 1 || strings.Count(doc, e) != 1 {
		return "", fmt.Errorf("section %q: %w (want one %q before one %q)", name, ErrNoSection, b, e)
	}
	body = strings.Trim(body, "\n")
	return doc[:i+len(b)] + "\n" + body + "\n" + doc[j:], nil
}

// Write replaces section name's body in the file $FACEFLEET_BENCH_DOC, through a temporary file renamed over it;
// with the variable unset it does nothing.
func Write(name, body string) error {
	path := os.Getenv(Env)
	if path == "" {
		return nil
	}
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc, err := Replace(string(old), name, body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(doc), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
