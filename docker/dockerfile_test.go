package docker

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// The build context of every image is the repository root (scripts/images.sh).
const contextDir = ".."

// dockerfile is one parsed Dockerfile.
type dockerfile struct {
	name   string
	stages []instructions.Stage
	meta   []instructions.ArgCommand
}

func parseDockerfile(name string, src []byte) (*dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	stages, meta, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s: no FROM", name)
	}
	return &dockerfile{name: name, stages: stages, meta: meta}, nil
}

func (d *dockerfile) final() instructions.Stage { return d.stages[len(d.stages)-1] }

func (d *dockerfile) stage(name string) (instructions.Stage, bool) {
	for _, s := range d.stages {
		if s.Name == name {
			return s, true
		}
	}
	return instructions.Stage{}, false
}

// args is every ARG's default, wherever it is declared; the same name with two defaults is itself a problem.
func (d *dockerfile) args() (map[string]string, []string) {
	out, problems := map[string]string{}, []string(nil)
	add := func(a instructions.ArgCommand) {
		for _, kv := range a.Args {
			if kv.Value == nil {
				continue
			}
			if v, ok := out[kv.Key]; ok && v != *kv.Value {
				problems = append(problems, fmt.Sprintf("%s: ARG %s has two defaults: %q and %q", d.name, kv.Key, v, *kv.Value))
			}
			out[kv.Key] = *kv.Value
		}
	}
	for _, a := range d.meta {
		add(a)
	}
	for _, s := range d.stages {
		for _, c := range s.Commands {
			if a, ok := c.(*instructions.ArgCommand); ok {
				add(*a)
			}
		}
	}
	return out, problems
}

// checkCopySources: every COPY from the build context names a path that exists there and that .dockerignore lets
// through; from a directory, .dockerignore may drop only tests.
func checkCopySources(d *dockerfile, context string, ignore []string) []string {
	pm, err := patternmatcher.New(ignore)
	if err != nil {
		return []string{fmt.Sprintf(".dockerignore: %v", err)}
	}
	excluded := func(p string) bool {
		m, err := pm.MatchesOrParentMatches(filepath.ToSlash(p))
		return err != nil || m
	}
	var problems []string
	for _, s := range d.stages {
		for _, c := range s.Commands {
			cp, ok := c.(*instructions.CopyCommand)
			if !ok || cp.From != "" {
				continue
			}
			for _, src := range cp.SourcePaths {
				rel := filepath.Clean(strings.TrimPrefix(src, "/"))
				full := filepath.Join(context, rel)
				st, err := os.Stat(full)
				switch {
				case err != nil:
					problems = append(problems, fmt.Sprintf("%s: COPY %s: not in the build context", d.name, src))
				case excluded(rel):
					problems = append(problems, fmt.Sprintf("%s: COPY %s: excluded by .dockerignore", d.name, src))
				case st.IsDir():
					keeps, needed := walkContext(full, context, excluded)
					if !keeps {
						problems = append(problems, fmt.Sprintf("%s: COPY %s: .dockerignore excludes every file in it", d.name, src))
					}
					if needed != "" {
						problems = append(problems, fmt.Sprintf("%s: COPY %s: .dockerignore drops %s, which the build needs", d.name, src, needed))
					}
				}
			}
		}
	}
	return problems
}

// buildOnly is what .dockerignore may drop from a copied directory: the build compiles no tests.
var buildOnly = regexp.MustCompile(`(_test\.go$|(^|/)testdata(/|$))`)

// walkContext reports whether dir keeps a file past .dockerignore, and the first file it drops that the build needs.
func walkContext(dir, context string, excluded func(string) bool) (keeps bool, needed string) {
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(context, p)
		if e.IsDir() {
			return nil
		}
		switch {
		case !excluded(rel):
			keeps = true
		case needed == "" && !buildOnly.MatchString(filepath.ToSlash(rel)):
			needed = rel
		}
		return nil
	})
	return keeps, needed
}

// checkUser: the final stage runs as the agreed numeric non-root user (Kubernetes' runAsNonRoot can only verify a
// number).
func checkUser(d *dockerfile, want string) []string {
	user := ""
	for _, c := range d.final().Commands {
		if u, ok := c.(*instructions.UserCommand); ok {
			user = u.User
		}
	}
	switch {
	case user == "":
		return []string{d.name + ": the final stage has no USER: it would run as root"}
	case user != want:
		return []string{fmt.Sprintf("%s: final USER %q, want %q", d.name, user, want)}
	}
	return nil
}

// compilerWord matches a package or command that is a compiler or a toolchain.
var compilerWord = regexp.MustCompile(`^(gcc|g\+\+|cc|c\+\+|clang|cpp|build-essential|golang|make|[a-z0-9.+-]+-dev|gcc-[0-9]+|g\+\+-[0-9]+)$`)

// checkNoCompiler: the final stage installs no compiler or -dev package and copies nothing from a Go toolchain.
func checkNoCompiler(d *dockerfile) []string {
	var problems []string
	for _, c := range d.final().Commands {
		switch c := c.(type) {
		case *instructions.RunCommand:
			for _, w := range strings.Fields(strings.Join(c.CmdLine, " ")) {
				if compilerWord.MatchString(w) {
					problems = append(problems, fmt.Sprintf("%s: the final stage installs %q", d.name, w))
				}
			}
		case *instructions.CopyCommand:
			for _, src := range c.SourcePaths {
				if strings.Contains(src, "/usr/local/go") || strings.Contains(src, "/go/") {
					problems = append(problems, fmt.Sprintf("%s: the final stage copies %s", d.name, src))
				}
			}
		}
	}
	return problems
}

// env is the final stage's environment as its ENV lines set it.
func env(d *dockerfile) map[string]string {
	out := map[string]string{}
	for _, c := range d.final().Commands {
		if e, ok := c.(*instructions.EnvCommand); ok {
			for _, kv := range e.Env {
				out[kv.Key] = kv.Value
			}
		}
	}
	return out
}

// checkRuntime: the binary sits where the manifests expect it and finds ONNX Runtime and the models by itself.
func checkRuntime(d *dockerfile, binary, ortLib string) []string {
	var problems []string
	e := env(d)
	if e["FACEFLEET_ORT_LIB"] != ortLib {
		problems = append(problems, fmt.Sprintf("%s: ENV FACEFLEET_ORT_LIB=%q, want %q", d.name, e["FACEFLEET_ORT_LIB"], ortLib))
	}
	if e["FACEFLEET_MODELS"] != "/models" {
		problems = append(problems, fmt.Sprintf("%s: ENV FACEFLEET_MODELS=%q, want /models", d.name, e["FACEFLEET_MODELS"]))
	}
	var entry []string
	copied := false
	for _, c := range d.final().Commands {
		switch c := c.(type) {
		case *instructions.EntrypointCommand:
			entry = c.CmdLine
		case *instructions.CopyCommand:
			copied = copied || c.DestPath == binary
		}
	}
	if !copied {
		problems = append(problems, fmt.Sprintf("%s: nothing is copied to %s", d.name, binary))
	}
	if len(entry) == 0 || entry[0] != binary {
		problems = append(problems, fmt.Sprintf("%s: ENTRYPOINT %q, want %s", d.name, entry, binary))
	}
	return problems
}

// checkNVML: NVML inside a container needs the driver's utility libraries, compute is ONNX Runtime's CUDA.
func checkNVML(d *dockerfile) []string {
	caps := strings.Split(env(d)["NVIDIA_DRIVER_CAPABILITIES"], ",")
	if !slices.Contains(caps, "utility") || !slices.Contains(caps, "compute") {
		return []string{fmt.Sprintf("%s: NVIDIA_DRIVER_CAPABILITIES=%q must include compute and utility", d.name, strings.Join(caps, ","))}
	}
	return nil
}

// checkSameStages: stages that two Dockerfiles share are written the same, so they cannot drift apart and one build
// of them serves both images from the layer cache.
func checkSameStages(a, b *dockerfile, names ...string) []string {
	var problems []string
	for _, n := range names {
		sa, oka := a.stage(n)
		sb, okb := b.stage(n)
		if !oka || !okb {
			problems = append(problems, fmt.Sprintf("stage %q missing from %s or %s", n, a.name, b.name))
			continue
		}
		code := func(s instructions.Stage) []string {
			out := []string{s.SourceCode}
			for _, c := range s.Commands {
				out = append(out, fmt.Sprint(c))
			}
			return out
		}
		if ca, cb := code(sa), code(sb); !slices.Equal(ca, cb) {
			problems = append(problems, fmt.Sprintf("stage %q differs between %s and %s", n, a.name, b.name))
		}
	}
	return problems
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadDockerfile(t *testing.T, name string) *dockerfile {
	t.Helper()
	d, err := parseDockerfile(name, readFile(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func dockerignore(t *testing.T) []string {
	t.Helper()
	p, err := ignorefile.ReadAll(bytes.NewReader(readFile(t, filepath.Join(contextDir, ".dockerignore"))))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Agreed with the manifests (deploy/k8s) and the other images.
const (
	imageUser = "10001:10001"
	ortLib    = "/opt/onnxruntime/libonnxruntime.so.1"
)

func TestDockerfiles(t *testing.T) {
	ignore := dockerignore(t)
	for _, tc := range []struct {
		file, binary string
		gpu          bool
	}{
		{"Dockerfile.coordinator", "/usr/local/bin/coordinator", false},
		{"Dockerfile.worker", "/usr/local/bin/worker", false},
		{"Dockerfile.worker-gpu", "/usr/local/bin/worker", true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d := loadDockerfile(t, tc.file)
			_, problems := d.args()
			problems = append(problems, checkCopySources(d, contextDir, ignore)...)
			problems = append(problems, checkUser(d, imageUser)...)
			problems = append(problems, checkNoCompiler(d)...)
			problems = append(problems, checkRuntime(d, tc.binary, ortLib)...)
			if tc.gpu {
				problems = append(problems, checkNVML(d)...)
			}
			for _, p := range problems {
				t.Error(p)
			}
		})
	}
	t.Run("shared stages", func(t *testing.T) {
		for _, p := range checkSameStages(loadDockerfile(t, "Dockerfile.coordinator"), loadDockerfile(t, "Dockerfile.worker"), "build", "ort") {
			t.Error(p)
		}
	})
}

// submatch is the first group of re in the file at path.
func submatch(t *testing.T, path, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindSubmatch(readFile(t, path))
	if m == nil {
		t.Fatalf("%s: no match for %s", path, re)
	}
	return string(m[1])
}

// TestPins: the versions and checksums the images build with are the ones the repository builds and tests with.
func TestPins(t *testing.T) {
	goVersion := submatch(t, filepath.Join(contextDir, "go.mod"), `(?m)^go ([0-9.]+)$`)
	ortVersion := submatch(t, filepath.Join(contextDir, "pkg/ort/ort.go"), `LibraryVersion = "([0-9.]+)"`)
	ortSHA := submatch(t, filepath.Join(contextDir, "scripts/setup.sh"), `(?m)^ORT_SHA256=([0-9a-f]{64})$`)
	setupORT := submatch(t, filepath.Join(contextDir, "scripts/setup.sh"), `(?m)^ORT_VERSION=([0-9.]+)$`)
	if setupORT != ortVersion {
		t.Errorf("scripts/setup.sh ORT_VERSION=%s, pkg/ort LibraryVersion=%s", setupORT, ortVersion)
	}
	toolchainSHA := map[string]string{}
	for _, tc := range []struct {
		file string
		want map[string]string
	}{
		{"Dockerfile.coordinator", map[string]string{"GO_VERSION": goVersion, "ORT_VERSION": ortVersion, "ORT_SHA256": ortSHA}},
		{"Dockerfile.worker", map[string]string{"GO_VERSION": goVersion, "ORT_VERSION": ortVersion, "ORT_SHA256": ortSHA}},
		// The GPU image's ONNX Runtime is another release file: its version must still be the one the code expects.
		{"Dockerfile.worker-gpu", map[string]string{"GO_VERSION": goVersion, "ORT_VERSION": ortVersion}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			args, problems := loadDockerfile(t, tc.file).args()
			for _, p := range problems {
				t.Error(p)
			}
			for k, want := range tc.want {
				if args[k] != want {
					t.Errorf("ARG %s=%q, want %q", k, args[k], want)
				}
			}
			toolchainSHA[tc.file] = args["GO_TOOLCHAIN_SHA256"]
		})
	}
	if len(slices.Compact(slices.Sorted(func(yield func(string) bool) {
		for _, v := range toolchainSHA {
			if !yield(v) {
				return
			}
		}
	}))) != 1 {
		t.Errorf("GO_TOOLCHAIN_SHA256 differs between the Dockerfiles: %v", toolchainSHA)
	}
}

// TestChecks: each check finds the fault it is for, in Dockerfiles written to have it.
func TestChecks(t *testing.T) {
	ctx := t.TempDir()
	for _, f := range []string{"go.mod", "pkg/a.go", "pkg/a_test.go", "pkg/testdata/x", "pkg/b/b.go", "docs/x.md", "only/a_test.go"} {
		if err := os.MkdirAll(filepath.Join(ctx, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ctx, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ignore := []string{"*", "!go.mod", "!pkg/", "!only/", "**/*_test.go", "**/testdata"}
	good := `FROM debian AS build
RUN apt-get install -y gcc
COPY go.mod pkg ./
FROM debian
ENV FACEFLEET_ORT_LIB=/opt/onnxruntime/libonnxruntime.so.1 FACEFLEET_MODELS=/models NVIDIA_DRIVER_CAPABILITIES=compute,utility
RUN apt-get install -y ffmpeg
COPY --from=build /src/bin/worker /usr/local/bin/worker
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/worker"]
`
	for _, tc := range []struct {
		name, edit, with string // good with edit replaced by with
		ignore           string // a .dockerignore line added
		want             string // a problem that must be reported; "" for none
	}{
		{"good", "", "", "", ""},
		{"missing source", "COPY go.mod pkg ./", "COPY go.mod nothere ./", "", "not in the build context"},
		{"ignored source", "COPY go.mod pkg ./", "COPY docs/x.md ./", "", "excluded by .dockerignore"},
		{"directory of ignored files", "COPY go.mod pkg ./", "COPY only ./", "", "excludes every file"},
		{"needed file ignored", "", "", "pkg/b", "drops pkg/b/b.go"},
		{"no user", "USER 10001:10001\n", "", "", "no USER"},
		{"root user", "USER 10001:10001", "USER root", "", "final USER"},
		{"compiler", "install -y ffmpeg", "install -y ffmpeg g++", "", `installs "g++"`},
		{"dev package", "install -y ffmpeg", "install -y ffmpeg libavcodec-dev", "", `installs "libavcodec-dev"`},
		{"toolchain copied", "ENTRYPOINT", "COPY --from=build /usr/local/go /usr/local/go\nENTRYPOINT", "", "copies /usr/local/go"},
		{"no utility", "compute,utility", "compute", "", "NVIDIA_DRIVER_CAPABILITIES"},
		{"no ORT path", " FACEFLEET_ORT_LIB=/opt/onnxruntime/libonnxruntime.so.1", "", "", "FACEFLEET_ORT_LIB"},
		{"other entrypoint", `ENTRYPOINT ["/usr/local/bin/worker"]`, `ENTRYPOINT ["/bin/sh"]`, "", "ENTRYPOINT"},
		{"two defaults", "FROM debian AS build\n", "FROM debian AS build\nARG V=1\nARG V=2\n", "", "two defaults"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := good
			if tc.edit != "" {
				if !strings.Contains(src, tc.edit) {
					t.Fatalf("edit %q not in the Dockerfile", tc.edit)
				}
				src = strings.Replace(src, tc.edit, tc.with, 1)
			}
			d, err := parseDockerfile("Dockerfile.test", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			_, problems := d.args()
			problems = append(problems, checkCopySources(d, ctx, append(slices.Clone(ignore), tc.ignore))...)
			problems = append(problems, checkUser(d, imageUser)...)
			problems = append(problems, checkNoCompiler(d)...)
			problems = append(problems, checkRuntime(d, "/usr/local/bin/worker", ortLib)...)
			problems = append(problems, checkNVML(d)...)
			if tc.want == "" {
				if len(problems) > 0 {
					t.Fatalf("problems in a good Dockerfile: %q", problems)
				}
				return
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Fatalf("no problem mentions %q; got %q", tc.want, problems)
			}
		})
	}
	t.Run("different shared stage", func(t *testing.T) {
		a, _ := parseDockerfile("a", []byte("FROM debian AS build\nRUN true\nFROM debian\n"))
		b, _ := parseDockerfile("b", []byte("FROM debian AS build\nRUN false\nFROM debian\n"))
		if p := checkSameStages(a, b, "build"); len(p) == 0 {
			t.Fatal("stages that differ were reported equal")
		}
		if p := checkSameStages(a, a, "build"); len(p) != 0 {
			t.Fatalf("a stage differs from itself: %q", p)
		}
	})
}
