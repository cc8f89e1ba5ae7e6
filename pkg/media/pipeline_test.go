package media

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSplitStitchPipeline runs the whole data path without faces: split a target with audio at its keyframes,
// decode and re-encode every piece, stitch them with the target's audio, and check frames, durations, audio and
// metadata.
func TestSplitStitchPipeline(t *testing.T) {
	dir := t.TempDir()
	// 4 s, keyframes every second, with a sine audio track of the same length.
	target := clipWith(t, "target.mp4", 4, []string{"-f", "lavfi", "-i", "sine=f=440:sample_rate=48000"},
		"-map", "0:v", "-map", "1:a", "-c:a", "aac")
	idx, err := ScanFrames(testCtx(t), target)
	if err != nil {
		t.Fatal(err)
	}
	if idx.Count != 100 || !equalInts(idx.Keyframes, []int{0, 25, 50, 75}) {
		t.Fatalf("target: %d frames, keyframes %v", idx.Count, idx.Keyframes)
	}
	starts := []int{0, 50, 75} // uneven pieces: 50, 25, 25 frames
	pieces, err := Split(testCtx(t), target, starts, idx.Count, filepath.Join(dir, "split"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pieces) != 3 || filepath.Base(pieces[2]) != "segment-00002.mkv" {
		t.Fatalf("pieces %v", pieces)
	}
	for i, p := range pieces {
		if got, want := mustCount(t, p), []int{50, 25, 25}[i]; got != want {
			t.Errorf("piece %d decodes to %d frames, want %d", i, got, want)
		}
		if s := streams(t, p); len(s) != 1 || s[0].CodecType != "video" {
			t.Errorf("piece %d has streams %+v, want video only", i, s)
		}
	}

	var processed []string
	for i, p := range pieces {
		out := filepath.Join(dir, fmt.Sprintf("done-%05d.mp4", i))
		transcodePiece(t, p, out, Rational{25, 1})
		processed = append(processed, out)
	}
	out := filepath.Join(dir, "final.mp4")
	// The workers' counts, as the coordinator passes them: the fast path must stay frame-exact.
	err = Stitch(testCtx(t), StitchConfig{Pieces: processed, Frames: []int{50, 25, 25}, AudioFrom: target, Output: out,
		Metadata: map[string]string{"facefleet_job": "job-42", "comment": "swapped; it's a test"}})
	if err != nil {
		t.Fatal(err)
	}

	if n := mustCount(t, out); n != idx.Count {
		t.Errorf("output has %d frames, want %d", n, idx.Count)
	}
	const frame = 1.0 / 25
	srcVideo, _ := streamDurations(t, target)
	video, audio := streamDurations(t, out)
	if math.Abs(video-srcVideo) > frame {
		t.Errorf("video %.3f s, source %.3f s", video, srcVideo)
	}
	if audio == 0 || math.Abs(audio-video) > frame {
		t.Errorf("audio %.3f s, video %.3f s: want audio within one frame", audio, video)
	}
	info, err := Probe(testCtx(t), out)
	if err != nil {
		t.Fatal(err)
	}
	if !info.HasAudio || info.AudioCodec != "aac" || math.Abs(info.Duration-4) > frame {
		t.Errorf("output audio=%v %s duration %.3f", info.HasAudio, info.AudioCodec, info.Duration)
	}
	md, err := ReadMetadata(testCtx(t), out)
	if err != nil {
		t.Fatal(err)
	}
	if md["facefleet_job"] != "job-42" || md["comment"] != "swapped; it's a test" {
		t.Errorf("metadata %v", md)
	}
	if p := psnr(t, target, out, 400, 300); p < 35 {
		t.Errorf("PSNR %.1f dB against the target, want >= 35", p)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*partial*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestSplitSinglePieceAndReuse(t *testing.T) {
	src := clip(t, "clip.mp4", 2)
	dir := t.TempDir()
	pieces, err := Split(testCtx(t), src, []int{0}, 50, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(pieces) != 1 || mustCount(t, pieces[0]) != 50 {
		t.Errorf("pieces %v", pieces)
	}
	if _, err := Split(testCtx(t), src, []int{0}, 50, dir); err == nil || !strings.Contains(err.Error(), "already holds pieces") {
		t.Errorf("Split into a used directory: %v", err)
	}
}

func TestSplitRejectsBadPlans(t *testing.T) {
	src := clip(t, "clip.mp4", 3) // 75 frames, keyframes 0, 25, 50
	tests := []struct {
		name   string
		starts []int
		total  int
		want   error // nil: a plan error before ffmpeg runs
	}{
		{"no start", nil, 75, nil},
		{"not from zero", []int{5, 25}, 75, nil},
		{"not increasing", []int{0, 50, 25}, 75, nil},
		{"past the end", []int{0, 75}, 75, nil},
		{"not a keyframe", []int{0, 30}, 75, ErrFrameCount},
		{"total too small", []int{0, 25}, 60, ErrFrameCount},
		{"total too large", []int{0, 25}, 80, ErrFrameCount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pieces")
			_, err := Split(testCtx(t), src, tt.starts, tt.total, dir)
			if err == nil {
				t.Fatal("Split succeeded")
			}
			if tt.want != nil {
				checkInputError(t, err, src, tt.want)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) > 0 {
				t.Errorf("pieces left after failure: %v", left)
			}
		})
	}
}

// TestSplitEditListSource: packets hidden by an MP4 edit list become visible in matroska, so Split must refuse
// rather than hand out pieces with extra frames.
func TestSplitEditListSource(t *testing.T) {
	src := clip(t, "clip.mp4", 2)
	cut := filepath.Join(t.TempDir(), "cut.mp4")
	ffmpeg(t, "-ss", "0.5", "-i", src, "-c", "copy", cut)
	idx, err := ScanFrames(testCtx(t), cut)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Split(testCtx(t), cut, idx.Keyframes, idx.Count, filepath.Join(t.TempDir(), "pieces"))
	checkInputError(t, err, cut, ErrFrameCount)
}

// TestStitchKeepsLipSync: in a source whose audio starts 0.2 s before its video, the stitched video must start
// 0.2 s after the audio too.
func TestStitchKeepsLipSync(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "late.mkv")
	ffmpeg(t, "-itsoffset", "0.2", "-i", clip(t, "clip.mp4", 1), "-f", "lavfi", "-i", "sine=d=1.2",
		"-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", src)
	piece := filepath.Join(dir, "piece.mp4")
	transcodePiece(t, src, piece, Rational{25, 1})
	out := filepath.Join(dir, "out.mp4")
	if err := Stitch(testCtx(t), StitchConfig{Pieces: []string{piece}, AudioFrom: src, Output: out}); err != nil {
		t.Fatal(err)
	}
	sv, sa := startTimes(t, src)
	ov, oa := startTimes(t, out)
	if math.Abs((ov-oa)-(sv-sa)) > 0.005 {
		t.Errorf("video starts %.3f s after the audio, source %.3f s", ov-oa, sv-sa)
	}
}

// TestOddPaths: quotes, colons, spaces, percent signs and a leading dash in names must reach ffmpeg literally.
func TestOddPaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "it's a: 100% dir")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "-src.mp4")
	ffmpeg(t, "-i", clip(t, "clip.mp4", 2), "-c", "copy", "file:"+src)
	idx, err := ScanFrames(testCtx(t), src)
	if err != nil {
		t.Fatal(err)
	}
	pieces, err := Split(testCtx(t), src, idx.Keyframes, idx.Count, filepath.Join(dir, "pieces %d"))
	if err != nil {
		t.Fatal(err)
	}
	var done []string
	for i, p := range pieces {
		out := filepath.Join(dir, fmt.Sprintf("done '%d'.mp4", i))
		transcodePiece(t, p, out, Rational{25, 1})
		done = append(done, out)
	}
	out := filepath.Join(dir, "-out.mp4")
	if err := Stitch(testCtx(t), StitchConfig{Pieces: done, AudioFrom: src, Output: out}); err != nil {
		t.Fatal(err)
	}
	if n := mustCount(t, out); n != idx.Count {
		t.Errorf("%d frames, want %d", n, idx.Count)
	}
}

// TestStitchReencodesAudio: PCM from a WAV cannot be copied into MP4, so Stitch falls back to AAC.
func TestStitchReencodesAudio(t *testing.T) {
	dir := t.TempDir()
	piece := filepath.Join(dir, "piece.mp4")
	encode(t, EncoderConfig{Quality: DefaultQuality, Path: piece, Width: 64, Height: 48, FrameRate: Rational{25, 1}}, frames(64, 48, 25))
	wav := filepath.Join(dir, "audio.wav")
	ffmpeg(t, "-f", "lavfi", "-i", "sine=d=1", wav)
	for _, ext := range []string{".mp4", ".mkv"} {
		out := filepath.Join(dir, "out"+ext)
		if err := Stitch(testCtx(t), StitchConfig{Pieces: []string{piece}, AudioFrom: wav, Output: out}); err != nil {
			t.Fatal(err)
		}
		info, err := Probe(testCtx(t), out)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{".mp4": "aac", ".mkv": "pcm_s16le"}[ext]
		if info.AudioCodec != want {
			t.Errorf("%s: audio %q, want %q", ext, info.AudioCodec, want)
		}
	}
}

// TestStitchRotation: a portrait phone video is processed unrotated; the output must carry the rotation again.
func TestStitchRotation(t *testing.T) {
	dir := t.TempDir()
	piece := filepath.Join(dir, "piece.mp4")
	encode(t, EncoderConfig{Quality: DefaultQuality, Path: piece, Width: 64, Height: 48, FrameRate: Rational{25, 1}}, frames(64, 48, 5))
	for _, rot := range []int{0, 90, 180, 270} {
		out := filepath.Join(dir, fmt.Sprintf("rot%d.mov", rot))
		if err := Stitch(testCtx(t), StitchConfig{Pieces: []string{piece}, Output: out, Rotation: rot}); err != nil {
			t.Fatal(err)
		}
		info, err := Probe(testCtx(t), out)
		if err != nil {
			t.Fatal(err)
		}
		if info.Rotation != rot || info.Width != 64 {
			t.Errorf("output rotation %d size %dx%d, want %d and the coded 64x48", info.Rotation, info.Width, info.Height, rot)
		}
	}
	err := Stitch(testCtx(t), StitchConfig{Pieces: []string{piece}, Output: filepath.Join(dir, "o.mkv"), Rotation: 90})
	if err == nil || !strings.Contains(err.Error(), "rotation") {
		t.Errorf("rotation into mkv: %v", err)
	}
}

func TestStitchErrors(t *testing.T) {
	dir := t.TempDir()
	piece := filepath.Join(dir, "piece.mp4")
	encode(t, EncoderConfig{Quality: DefaultQuality, Path: piece, Width: 64, Height: 48, FrameRate: Rational{25, 1}}, frames(64, 48, 5))

	err := Stitch(testCtx(t), StitchConfig{Pieces: []string{piece, filepath.Join(dir, "gone.mp4")}, Output: filepath.Join(dir, "o.mp4")})
	checkInputError(t, err, filepath.Join(dir, "gone.mp4"), ErrNotFound)

	// x264 does not fit in webm: ffmpeg refuses, and no output (not even a partial one) is left.
	out := filepath.Join(dir, "o.webm")
	err = Stitch(testCtx(t), StitchConfig{Pieces: []string{piece}, Output: out})
	checkInputError(t, err, out, ErrFFmpeg)
	if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("output exists after failure: %v", serr)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
