package cli

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
)

// The content filter's flags are checked before anything starts, on run and serve alike: one line naming the flag.
func TestContentFilterFlagsRefused(t *testing.T) {
	noConfigFile(t)
	face := testenv.Face(t, "astronaut_eileen_collins.png")
	run := []string{"run", "-s", face, "-t", face, "-o", filepath.Join(t.TempDir(), "o.png")}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"run threshold 1", append(run, "--content-filter-threshold", "1"), "--content-filter-threshold 1: want 0 <= t < 1"},
		{"run negative threshold", append(run, "--content-filter-threshold", "-0.5"), "--content-filter-threshold -0.5"},
		{"run percent over 100", append(run, "--content-filter-max-percent", "150"), "--content-filter-max-percent 150: want 0-100"},
		{"run NaN percent", append(run, "--content-filter-max-percent", "NaN"), "content-filter-max-percent"},
		{"run a detector as the classifier", append(run, "--content-filter-model", "yunet"), "--content-filter-model yunet: a detector model, not a content_filter"},
		{"serve percent over 100", []string{"serve", "--content-filter-max-percent", "101"}, "--content-filter-max-percent 101"},
		{"serve unknown classifier", []string{"serve", "--content-filter-model", "nsfw_9"}, "nsfw_9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			var store string
			if args[0] == "serve" {
				var cl []string
				cl, store = embeddedCluster(t)
				args = append(args, cl...)
			}
			err := execute(t, Coordinator(), args...)
			if err == nil || !strings.Contains(OneLine(err), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v: want one line naming %q", err, tc.want)
			}
			if store != "" && len(files(t, store)) > 0 {
				t.Fatal("refused, but stored something")
			}
		})
	}
}

// TestInspectCommand: `inspect` on run's real outputs (a picture and a video) and on changed copies, with the exit
// statuses scripts branch on: 0 verified, 1 unreadable, 2 no label, 3 labelled but not verified.
func TestInspectCommand(t *testing.T) {
	noConfigFile(t)
	dir := t.TempDir()
	face := testenv.Face(t, "astronaut_eileen_collins.png")
	models := filepath.Join(testenv.SharedDir(t), "models")
	clip := filepath.Join(dir, "clip.mp4")
	if out, err := exec.Command("nice", "-n", "19", "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
		"testsrc2=s=64x48:r=10:d=1", "-c:v", "libx264", "-preset", "ultrafast", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	picture := filepath.Join(dir, "swapped.png")
	video := filepath.Join(dir, "passed.mp4")
	for _, args := range [][]string{
		{"run", "-q", "-s", face, "-t", face, "-o", picture, "--models-dir", models, "--onnxruntime-library", testenv.ORTLib(t)},
		{"run", "-q", "-s", face, "-t", clip, "-o", video, "--frame-processor", "none", "--models-dir", models},
	} {
		if _, stderr, err := runCoordinator(t, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr)
		}
	}
	copyOf := func(src, name string, sidecar bool, change func([]byte) []byte) string {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, change(b), 0o644); err != nil {
			t.Fatal(err)
		}
		if sidecar {
			s, err := os.ReadFile(src + ".provenance.json")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p+".provenance.json", s, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	same := func(b []byte) []byte { return b }
	changed := func(b []byte) []byte { return append(b, 0) }
	plain := filepath.Join(dir, "plain.mp4")
	if err := os.Rename(clip, plain); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file string
		code       int // 0 verified, -1 an error (exit 1)
		want       string
	}{
		{"run's picture", picture, 0, "made by Facefleet (labelled as synthetic media; its provenance record matches the file)"},
		{"run's video", video, 0, "made by Facefleet"},
		{"a picture changed after", copyOf(picture, "changed.png", true, changed), 3, "the file was changed after it was made"},
		{"a video without its record", copyOf(video, "alone.mp4", false, same), 3, "provenance record " + filepath.Join(dir, "alone.mp4") + ".provenance.json is missing"},
		{"an unlabelled video", plain, 2, "no Facefleet label"},
		{"an unlabelled picture", face, 2, "no Facefleet label"},
		{"a missing file", filepath.Join(dir, "nothing.mp4"), -1, "nothing.mp4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := runCoordinator(t, "inspect", tc.file)
			var exit *ExitError
			switch {
			case tc.code == 0 && err != nil, tc.code > 0 && (!errors.As(err, &exit) || exit.Code != tc.code):
				t.Fatalf("err %v, want exit %d", err, tc.code)
			case tc.code < 0:
				if err == nil || errors.As(err, &exit) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err %v, want an error naming %q", err, tc.want)
				}
				return
			}
			if !strings.HasPrefix(stdout, tc.file+": ") || !strings.Contains(stdout, tc.want) {
				t.Fatalf("report:\n%s\nwant %q", stdout, tc.want)
			}
			if tc.code == 0 && (!strings.Contains(stdout, "source:     sha256 ") || !strings.Contains(stdout, "made:       ")) {
				t.Fatalf("report without the inputs' hashes and time:\n%s", stdout)
			}
		})
	}
}
