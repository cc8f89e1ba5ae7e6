package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/models"
)

// runCoordinator runs the coordinator command in-process and returns its stdout, stderr and error.
func runCoordinator(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := Coordinator()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

// row returns the `models list` line of a model, fields split on runs of spaces.
func row(t *testing.T, list, name string) []string {
	t.Helper()
	for line := range strings.SplitSeq(list, "\n") {
		if f := regexp.MustCompile(`\s{2,}`).Split(line, -1); f[0] == name {
			return f
		}
	}
	t.Fatalf("%s not in the list:\n%s", name, list)
	return nil
}

func TestModelsCommands(t *testing.T) {
	mirror := filepath.Join(testenv.SharedDir(t), "models")
	dir := filepath.Join(t.TempDir(), "models")

	out, _, err := runCoordinator(t, "models", "list", "--models-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if f := row(t, out, "yunet"); strings.Join(f[1:5], " ") != "face_detection_yunet_2026may.onnx detector default missing" {
		t.Errorf("yunet row %q", f)
	}
	if f := row(t, out, "inswapper_128"); f[2] != "swapper" || f[3] != "user" || f[4] != "missing" || !strings.Contains(f[5], "non-commercial") {
		t.Errorf("inswapper row %q", f)
	}
	if f := row(t, out, "scrfd_500m_320"); f[3] != "tests-only" {
		t.Errorf("scrfd row %q", f)
	}

	// fetch without names: the default set from the mirror, and nothing else.
	out, progress, err := runCoordinator(t, "models", "fetch", "--mirror", mirror, "--models-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range models.Defaults() {
		if !strings.Contains(out, e.Name+": ok ("+e.Path(dir)+")") {
			t.Errorf("fetch output lacks %s:\n%s", e.Name, out)
		}
	}
	if !strings.Contains(progress, "(100%)") {
		t.Errorf("no progress on stderr: %q", progress)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(models.Defaults()) {
		t.Errorf("%d files after fetching %d defaults: %v", len(ents), len(models.Defaults()), ents)
	}

	// tests-only models need --include-tests, by name or in the default set.
	if _, _, err := runCoordinator(t, "models", "fetch", "scrfd_500m_320", "--mirror", mirror, "--models-dir", dir); err == nil ||
		!strings.Contains(err.Error(), "--include-tests") {
		t.Fatalf("tests-only fetch without --include-tests: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "scrfd_500m_bnkps_shape320x320.onnx")); err == nil {
		t.Fatal("a tests-only model was fetched without --include-tests")
	}
	out, _, err = runCoordinator(t, "models", "fetch", "--include-tests", "--mirror", mirror, "--models-dir", dir)
	if err != nil || !strings.Contains(out, "scrfd_500m_320: ok") || !strings.Contains(out, "mobilefacenet_128d: ok") {
		t.Fatalf("fetch --include-tests: %v\n%s", err, out)
	}

	// A user model: never downloaded, a one-line error telling the user what to do.
	_, _, err = runCoordinator(t, "models", "fetch", "inswapper_128", "--models-dir", dir)
	if err == nil || !strings.Contains(OneLine(err), "copy your own into "+dir) || OneLine(err) != err.Error() {
		t.Fatalf("user model fetch: %v", err)
	}
	// ... that the user copies in; one without a known sha256 lists as unverified.
	if err := os.WriteFile(filepath.Join(dir, "GFPGANv1.4.onnx"), []byte("an export"), 0o644); err != nil {
		t.Fatal(err)
	}

	out, _, err = runCoordinator(t, "models", "verify", "--models-dir", dir)
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	if !strings.Contains(out, "yunet: ok") || !strings.Contains(out, "scrfd_500m_640: ok") ||
		!strings.Contains(out, "gfpgan_v1.4: unverified") || strings.Contains(out, "inswapper_128") {
		t.Errorf("verify (every present model, nothing else):\n%s", out)
	}
	out, _, _ = runCoordinator(t, "models", "list", "--models-dir", dir)
	if f := row(t, out, "gfpgan_v1.4"); f[4] != "unverified" {
		t.Errorf("gfpgan_v1.4 row %q", f)
	}
	if f := row(t, out, "face_landmark"); f[4] != "ok" {
		t.Errorf("face_landmark row %q", f)
	}

	// A corrupted file: MISMATCH in the list, verify fails with the fix, fetch repairs it.
	yunet, _ := models.Lookup("yunet")
	if err := os.WriteFile(yunet.Path(dir), []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, _ = runCoordinator(t, "models", "list", "--models-dir", dir)
	if f := row(t, out, "yunet"); f[4] != "MISMATCH" {
		t.Errorf("corrupted yunet row %q", f)
	}
	out, _, err = runCoordinator(t, "models", "verify", "--models-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "does not match") ||
		!strings.Contains(err.Error(), "coordinator models fetch yunet --models-dir "+dir) || !strings.Contains(out, "yunet: MISMATCH") {
		t.Fatalf("verify corrupted: %v\n%s", err, out)
	}
	if _, _, err := runCoordinator(t, "models", "fetch", "yunet", "--mirror", mirror, "--models-dir", dir); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCoordinator(t, "models", "verify", "yunet", "--models-dir", dir); err != nil || out != "yunet: ok\n" {
		t.Fatalf("verify after repair: %v %q", err, out)
	}

	// Named but missing, and unknown names.
	if _, _, err := runCoordinator(t, "models", "verify", "codeformer", "--models-dir", dir); err == nil ||
		!strings.Contains(err.Error(), "codeformer.onnx: model file missing") {
		t.Fatalf("verify missing: %v", err)
	}
	if _, _, err := runCoordinator(t, "models", "fetch", "nope", "--models-dir", dir); err == nil || !strings.Contains(err.Error(), "unknown model") {
		t.Fatalf("unknown: %v", err)
	}
	if out, _, err := runCoordinator(t, "models", "verify", "--models-dir", t.TempDir()); err != nil || !strings.HasPrefix(out, "no model files in") {
		t.Fatalf("verify an empty dir: %v %q", err, out)
	}
}
