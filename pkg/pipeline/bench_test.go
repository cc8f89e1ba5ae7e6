package pipeline_test

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/media"
)

// BenchmarkRunNoop measures the pipeline's own cost on a 720p 2 s clip (50 frames): decode to bgr24, a no-op
// processor, encode with the product's settings (x264 veryfast, crf 18, yuv420p), in frames/s. The ffmpeg
// sub-benchmark transcodes the same clip in one ffmpeg process with the same codec settings, the floor the
// pipeline's two pipes and the bgr24 round trip are measured against; the pipeline sub-benchmark runs second and
// reports its speed as a fraction of it (x_ffmpeg).
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
	b.Run("pipeline", func(b *testing.B) {
		cfg := config(clip, filepath.Join(b.TempDir(), "out.mp4"), w, h)
		cfg.DecoderThreads, cfg.EncoderThreads = 0, 0 // ffmpeg's defaults, as in the plain transcode
		if media.CRF(cfg.Encoder, cfg.Quality) != 18 {
			b.Fatalf("quality %d is not crf 18", cfg.Quality)
		}
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			r := run(b, testCtx(b), cfg, noop, nil)
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
