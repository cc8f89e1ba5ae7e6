package benchdoc

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestReplace(t *testing.T) {
	doc := "# B\n\nprose\n" + Begin("scale") + "\nold | table\n" + End("scale") + "\nafter\n"
	for _, c := range []struct {
		name, doc, section, body, want string
		err                            error
	}{
		{"replaced", doc, "scale", "\nnew\n\n", "# B\n\nprose\n" + Begin("scale") + "\nnew\n" + End("scale") + "\nafter\n", nil},
		{"empty body", doc, "scale", "", "# B\n\nprose\n" + Begin("scale") + "\n\n" + End("scale") + "\nafter\n", nil},
		{"other section", doc, "pinned", "x", "", ErrNoSection},
		{"end before begin", End("scale") + Begin("scale"), "scale", "x", "", ErrNoSection},
		{"twice", doc + doc, "scale", "x", "", ErrNoSection},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Replace(c.doc, c.section, c.body)
			if !errors.Is(err, c.err) || got != c.want {
				t.Errorf("Replace = %q, %v; want %q, %v", got, err, c.want, c.err)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "B.md")
	if err := os.WriteFile(path, []byte(Begin("s")+"\n"+End("s")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(Env, "")
	if err := Write("s", "ignored"); err != nil {
		t.Fatal(err)
	}
	t.Setenv(Env, path)
	if err := Write("s", "| a |"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != Begin("s")+"\n| a |\n"+End("s")+"\n" {
		t.Errorf("document %q", b)
	}
	if err := Write("missing", "x"); !errors.Is(err, ErrNoSection) {
		t.Errorf("missing section: %v", err)
	}
}
