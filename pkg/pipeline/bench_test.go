package pipeline_test

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/pipeline"
)

// blind is a no-op processor that says it reads no pixels (as frame processor none does), so the pipeline
// carries the clip's yuv420p frames unconverted.
type blind struct{}

func (blind) Process(gocv.Mat, int) error { return nil }
func (blind) PixelsUnused() bool          { return true }

// BenchmarkRunNoop measures the pipeline's own cost per frame on a 720p 2 s clip (50 frames): decode, a no-op
// processor, encode with the product's settings (x264 veryfast, crf 18, yuv420p), in frames/s, with no job around
// it. The ffmpeg sub-benchmark transcodes the same clip in one ffmpeg process with the same codec settings, the
// floor; the pipeline sub-benchmarks run after it and report their speed as a fraction of it (x_ffmpeg): "yuv420p"
// with a processor that reads no pixels (frame processor none: frames stay as decoded), "bgr24" with one that
// does (every face processor: two full-frame colour conversions).
//
//	go test -run '^$' -bench RunNoop -benchtime 5x ./pkg/pipeline
func BenchmarkRunNoop(b *testing.B) {
	const w, h = 1280, 720
	clip := testsrc(b, w, h, 2)
	frames := countFrames(b, clip)
	var ffmpegFPS float64
	report := func(b *testing.B, start time.Time) float64 {
		fps := float64(frames*b.N) / time.Since(start).Seconds()
		b.ReportMetric(fps, "frames/s")
		b.ReportMetric(0, "ns/op")
		return fps
	}
	b.Run("ffmpeg", func(b *testing.B) {
		out := filepath.Join(b.TempDir(), "out.mp4")
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", clip,
				"-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", out)
			if o, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("ffmpeg: %v\n%s", err, o)
			}
		}
		ffmpegFPS = report(b, start)
	})
	for _, tc := range []struct {
		name string
		proc pipeline.Processor
	}{{"pipeline-yuv420p", blind{}}, {"pipeline-bgr24", noop}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := config(clip, filepath.Join(b.TempDir(), "out.mp4"), w, h)
			cfg.DecoderThreads, cfg.EncoderThreads = 0, 0 // ffmpeg's defaults, as in the plain transcode
			cfg.SourcePixFmt = media.PixFmtYUV420P
			if media.CRF(cfg.Encoder, cfg.Quality) != 18 {
				b.Fatalf("quality %d is not crf 18", cfg.Quality)
			}
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				r := run(b, testCtx(b), cfg, tc.proc, nil)
				if r.err != nil || r.n != frames {
					b.Fatalf("Run: %d frames, %v", r.n, r.err)
				}
			}
			fps := report(b, start)
			if ffmpegFPS > 0 {
				b.ReportMetric(fps/ffmpegFPS, "x_ffmpeg")
			}
		})
	}
}
