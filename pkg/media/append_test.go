package media

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// appendAll makes cfg's output with an Appender, piece by piece, and returns what Written said after each piece.
func appendAll(t *testing.T, cfg StitchConfig) []int64 {
	t.Helper()
	ctx := testCtx(t)
	a, err := NewAppender(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Abort()
	var written []int64
	for i, p := range cfg.Pieces {
		if err := a.Append(ctx, p, cfg.Frames[i]); err != nil {
			t.Fatal(err)
		}
		written = append(written, a.Written())
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.Partial()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial file left after Close: %v", err)
	}
	return written
}

// TestAppenderMatchesStitch: the progressive stitch writes what Stitch writes for the same pieces (every packet's
// timestamps and flags, every audio packet's and video non-keyframe's size and bytes, the streams' parameters,
// durations, tags, dispositions and side data, the container's tags: ffprobe's view of both files; and the same
// decoded frames), for the shapes Stitch's own tests use: several pieces with the source's audio, a source whose
// audio starts before its video, 29.97 fps pieces (exact durations) with and without audio, a rotated .mov, and an
// audio source without audio.
func TestAppenderMatchesStitch(t *testing.T) {
	dir := t.TempDir()
	withAudio := clipWith(t, "target.mp4", 3, []string{"-f", "lavfi", "-i", "sine=f=440:sample_rate=48000"},
		"-map", "0:v", "-map", "1:a", "-c:a", "aac")
	late := filepath.Join(dir, "late.mkv")
	ffmpeg(t, "-itsoffset", "0.2", "-i", clip(t, "clip.mp4", 1), "-f", "lavfi", "-i", "sine=d=1.2",
		"-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", late)
	var pieces25 []string
	for i := 0; i < 3; i++ {
		src := filepath.Join(dir, fmt.Sprintf("src-%d.mp4", i))
		ffmpeg(t, "-ss", fmt.Sprint(i), "-i", withAudio, "-t", "1", "-an", "-c:v", "libx264", "-preset", "ultrafast", src)
		p := filepath.Join(dir, fmt.Sprintf("piece-%d.mp4", i))
		transcodePiece(t, src, p, Rational{25, 1})
		pieces25 = append(pieces25, p)
	}
	latePiece := filepath.Join(dir, "late-piece.mp4")
	transcodePiece(t, late, latePiece, Rational{25, 1})
	var pieces2997 []string
	for i := 0; i < 5; i++ {
		p := filepath.Join(dir, fmt.Sprintf("ntsc-%d.mp4", i))
		encode(t, EncoderConfig{Quality: DefaultQuality, Path: p, Width: 64, Height: 48, FrameRate: Rational{30000, 1001}}, frames(64, 48, 31+i))
		pieces2997 = append(pieces2997, p)
	}
	ntscAudio := clipWith(t, "ntsc-audio.mp4", 6, []string{"-f", "lavfi", "-i", "sine=f=220:sample_rate=44100"},
		"-map", "0:v", "-map", "1:a", "-c:a", "aac")
	tags := map[string]string{"facefleet_job": "job-7", "comment": "it's a \"test\"; a=b\\c"}
	for _, tc := range []struct {
		name string
		cfg  StitchConfig
	}{
		{"mp4-audio", StitchConfig{Pieces: pieces25, AudioFrom: withAudio, Output: "out.mp4", Metadata: tags}},
		{"audio-first", StitchConfig{Pieces: []string{latePiece}, AudioFrom: late, Output: "out.mp4"}},
		{"ntsc", StitchConfig{Pieces: pieces2997, Output: "out.mp4", Metadata: tags}},
		{"ntsc-audio", StitchConfig{Pieces: pieces2997, AudioFrom: ntscAudio, Output: "out.mp4"}},
		{"rotated-mov", StitchConfig{Pieces: pieces2997[:2], Output: "out.mov", Rotation: 90}},
		{"no-audio-in-source", StitchConfig{Pieces: pieces2997[:1], AudioFrom: pieces2997[1], Output: "out.mp4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := t.TempDir()
			tc.cfg.Frames = make([]int, len(tc.cfg.Pieces))
			for i, p := range tc.cfg.Pieces {
				tc.cfg.Frames[i] = mustCount(t, p)
			}
			want, got := tc.cfg, tc.cfg
			want.Output, got.Output = filepath.Join(sub, "stitch-"+tc.cfg.Output), filepath.Join(sub, "append-"+tc.cfg.Output)
			if err := Stitch(testCtx(t), want); err != nil {
				t.Fatal(err)
			}
			written := appendAll(t, got)
			w, g := keyframesAside(t, fileView(t, want.Output)), keyframesAside(t, fileView(t, got.Output))
			if w != g {
				t.Errorf("the appender's output differs from Stitch's:\n%s", lineDiff(w, g))
			}
			if w, g := frameHashes(t, want.Output), frameHashes(t, got.Output); w != g {
				t.Errorf("decoded frames differ:\n%s", lineDiff(w, g))
			}
			wv, wa := streamDurations(t, want.Output)
			if gv, ga := streamDurations(t, got.Output); gv != wv || ga != wa {
				t.Errorf("durations video %v audio %v, Stitch's %v %v", gv, ga, wv, wa)
			}
			final, err := os.ReadFile(got.Output)
			if err != nil {
				t.Fatal(err)
			}
			if len(final) < int(written[len(written)-1]) {
				t.Fatalf("output %d bytes, fewer than the %d counted written", len(final), written[len(written)-1])
			}
			for i := 1; i < len(written); i++ {
				if written[i] < written[i-1] {
					t.Errorf("written went back from %d to %d", written[i-1], written[i])
				}
			}
		})
	}
}

// keyframesAside drops the size and bytes of the video keyframes from fileView's JSON: the concat demuxer under
// Stitch converts H.264 to Annex B (h264_mp4toannexb), which repeats the parameter sets in every keyframe, where
// the appender copies the pieces' packets as they are; both decode to the same frames (frameHashes).
func keyframesAside(t *testing.T, view string) string {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(view), &v); err != nil {
		t.Fatal(err)
	}
	pkts, _ := v["packets"].([]any)
	for _, p := range pkts {
		m := p.(map[string]any)
		if m["stream_index"] == float64(0) && strings.HasPrefix(fmt.Sprint(m["flags"]), "K") {
			delete(m, "size")
			delete(m, "data_hash")
		}
	}
	b, _ := json.MarshalIndent(v, "", " ")
	return string(b)
}

// frameHashes is one line per decoded video frame of path: its timestamp and a hash of its pixels.
func frameHashes(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-f", "framemd5", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg framemd5 %s: %v", path, err)
	}
	return string(out)
}

// TestAppenderWrittenIsFinal: bytes the appender counts as written while pieces come are the output's final bytes,
// but for the first 64 (ftyp, the mdat size the trailer patches): a copy of the partial file taken after each
// piece agrees with the finished file past them.
func TestAppenderWrittenIsFinal(t *testing.T) {
	dir := t.TempDir()
	src := clipWith(t, "target.mp4", 4, []string{"-f", "lavfi", "-i", "sine=f=440:sample_rate=48000"},
		"-map", "0:v", "-map", "1:a", "-c:a", "aac")
	var pieces []string
	for i := 0; i < 4; i++ {
		p := filepath.Join(dir, fmt.Sprintf("piece-%d.mp4", i))
		ffmpeg(t, "-ss", fmt.Sprint(i), "-i", src, "-t", "1", "-an", "-c:v", "libx264", "-preset", "ultrafast", p+".src.mp4")
		transcodePiece(t, p+".src.mp4", p, Rational{25, 1})
		pieces = append(pieces, p)
	}
	ctx := testCtx(t)
	out := filepath.Join(dir, "out.mp4")
	a, err := NewAppender(ctx, StitchConfig{AudioFrom: src, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Abort()
	var snaps [][]byte
	for _, p := range pieces {
		if err := a.Append(ctx, p, mustCount(t, p)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(a.Partial())
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) < a.Written() {
			t.Fatalf("partial file %d bytes, Written says %d", len(b), a.Written())
		}
		snaps = append(snaps, b[:a.Written()])
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	final, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	const head = 64
	for i, s := range snaps {
		if len(s) <= head {
			t.Fatalf("after piece %d only %d bytes written", i, len(s))
		}
		if !bytes.Equal(s[head:], final[head:len(s)]) {
			t.Errorf("after piece %d: the %d bytes written changed by the end", i, len(s))
		}
	}
}

// TestAppenderRefusals: a piece whose header disagrees with its committed count is refused as Stitch refuses it
// (a *PieceError with its index, wrapping ErrFrameCount) and leaves no output; what only Stitch can make
// (a matroska output, audio the container cannot take copied) is ErrCannotAppend, with nothing left behind.
func TestAppenderRefusals(t *testing.T) {
	dir := t.TempDir()
	five, three := filepath.Join(dir, "five.mp4"), filepath.Join(dir, "three.mp4")
	cfg := EncoderConfig{Quality: DefaultQuality, Width: 64, Height: 48, FrameRate: Rational{25, 1}}
	cfg.Path = five
	encode(t, cfg, frames(64, 48, 5))
	cfg.Path = three
	encode(t, cfg, frames(64, 48, 3))
	mkv := filepath.Join(dir, "five.mkv") // matroska states no duration the appender could shift by
	ffmpeg(t, "-i", five, "-c", "copy", mkv)
	wav := filepath.Join(dir, "audio.wav") // PCM cannot be copied into MP4
	ffmpeg(t, "-f", "lavfi", "-i", "sine=d=1", wav)

	for _, tc := range []struct {
		name   string
		output string
		audio  string
		pieces []string
		frames []int
		piece  int    // the refused piece; -1: ErrCannotAppend
		detail string // in the error
	}{
		{"second piece's header disagrees", "out.mp4", "", []string{five, three}, []int{5, 4}, 1, "its header states 3 frames, its commit says 4"},
		{"first piece's header disagrees", "out.mp4", "", []string{three, five}, []int{5, 5}, 0, "its header states 3 frames, its commit says 5"},
		{"matroska output", "out.mkv", "", []string{five}, []int{5}, -1, "only .mp4 and .mov"},
		{"pcm audio in mp4", "out.mp4", wav, []string{five}, []int{5}, -1, ""},
		{"matroska piece", "out.mp4", "", []string{five, mkv}, []int{5, 5}, -1, "states no duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			out := filepath.Join(t.TempDir(), tc.output)
			var err error
			a, err := NewAppender(ctx, StitchConfig{AudioFrom: tc.audio, Output: out})
			if err == nil {
				for i, p := range tc.pieces {
					if err = a.Append(ctx, p, tc.frames[i]); err != nil {
						break
					}
				}
				if err == nil {
					t.Fatal("every piece appended")
				}
				if a.Close(ctx) == nil {
					t.Error("Close succeeded after a refusal")
				}
			}
			var pe *PieceError
			switch {
			case tc.piece >= 0 && (!errors.As(err, &pe) || pe.Piece != tc.piece || !errors.Is(err, ErrFrameCount)):
				t.Fatalf("err %v, want piece %d refused with ErrFrameCount", err, tc.piece)
			case tc.piece < 0 && !errors.Is(err, ErrCannotAppend):
				t.Fatalf("err %v, want ErrCannotAppend", err)
			case !strings.Contains(err.Error(), tc.detail):
				t.Errorf("err %q, want %q in it", err, tc.detail)
			}
			ents, _ := os.ReadDir(filepath.Dir(out))
			if len(ents) != 0 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}
