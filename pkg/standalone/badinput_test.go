package standalone

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
)

// The binary, built once: bad input is judged where users meet it, by exit code and stderr.
func buildCoordinator(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "coordinator")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/coordinator")
	cmd.Dir = testenv.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func TestBadInput(t *testing.T) {
	bin := buildCoordinator(t)
	dir := t.TempDir()
	face := testenv.Face(t, "astronaut_eileen_collins.png")
	video := faceTarget(t, dir)

	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	whole, _ := os.ReadFile(video)
	truncated := write("truncated.mp4", whole[:len(whole)/2])
	text := write("notes.mp4", []byte("this is not a video\n"))
	empty := write("empty.mp4", nil)
	noFace := filepath.Join(dir, "noface.png")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=s=320x240", "-frames:v", "1", noFace)
	audioOnly := filepath.Join(dir, "audio.m4a")
	ffmpeg(t, "-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", audioOnly)
	unwritable := filepath.Join(dir, "ro")
	if err := os.Mkdir(unwritable, 0o555); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		unwritable = "/sys" // root writes through mode bits; sysfs refuses new files even to root
	}

	tests := []struct {
		name           string
		source, target string
		outDir         string
		wantPath       string // the file the error must name
		wantText       string
		ortLib         string // --onnxruntime-library; "" is the installed one
	}{
		{"missing source", filepath.Join(dir, "nope.png"), video, dir, "nope.png", "not found", ""},
		{"missing target", face, filepath.Join(dir, "nope.mp4"), dir, "nope.mp4", "not found", ""},
		{"text file named .mp4", face, text, dir, text, "not a media file", ""},
		{"zero-byte target", face, empty, dir, empty, "empty", ""},
		{"zero-byte source", empty, video, dir, empty, "empty", ""},
		{"truncated mp4", face, truncated, dir, truncated, "truncated", ""},
		{"source without a face", noFace, video, dir, noFace, "no face", ""},
		{"target without video", face, audioOnly, dir, audioOnly, "no video stream", ""},
		{"unwritable output directory", face, video, unwritable, unwritable, "not writable", ""},
		{"missing onnxruntime library", face, video, dir, "/nonexistent/libonnxruntime.so.1", "onnxruntime", "/nonexistent/libonnxruntime.so.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := map[string]string{}
			for _, p := range []string{tc.source, tc.target} {
				before[p] = sha(t, p)
			}
			outDir := tc.outDir
			if outDir == dir {
				outDir = t.TempDir()
			}
			out := filepath.Join(outDir, "out.mp4")
			var stderr bytes.Buffer
			ortLib := tc.ortLib
			if ortLib == "" {
				ortLib = testenv.ORTLib(t)
			}
			cmd := exec.Command(bin, "run", "-q", "-s", tc.source, "-t", tc.target, "-o", out,
				"--models-dir", filepath.Join(testenv.SharedDir(t), "models"), "--onnxruntime-library", ortLib,
				"--work-dir", t.TempDir())
			cmd.Stderr = &stderr
			err := cmd.Run()
			if err == nil {
				t.Fatal("exit 0 on bad input")
			}
			msg := strings.TrimRight(stderr.String(), "\n")
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line:\n%s", msg)
			}
			if !strings.Contains(msg, tc.wantPath) || !strings.Contains(strings.ToLower(msg), tc.wantText) {
				t.Errorf("error %q does not name %s and %q", msg, tc.wantPath, tc.wantText)
			}
			for p, s := range before {
				if sha(t, p) != s {
					t.Errorf("%s was modified", p)
				}
			}
			if entries, _ := os.ReadDir(outDir); outDir != "/sys" && len(entries) != 0 {
				t.Errorf("output directory holds %d entries after a failure", len(entries))
			}
		})
	}
}
