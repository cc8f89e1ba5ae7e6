package media

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStitchCommittedFrames: with StitchConfig.Frames, Stitch trusts each piece's committed count where the
// piece's header states the same (an MP4's sample table), counts a piece whose header states none (matroska), and
// refuses a piece that disagrees with its count, naming the piece and its index, with no output left behind. The
// output holds the counts' sum whichever way it was written (in-process copy, or the ffmpeg command's audio
// re-encode, whose output is counted).
func TestStitchCommittedFrames(t *testing.T) {
	dir := t.TempDir()
	five, three := filepath.Join(dir, "five.mp4"), filepath.Join(dir, "three.mp4")
	cfg := EncoderConfig{Quality: DefaultQuality, Width: 64, Height: 48, FrameRate: Rational{25, 1}}
	cfg.Path = five
	encode(t, cfg, frames(64, 48, 5))
	cfg.Path = three
	encode(t, cfg, frames(64, 48, 3))
	mkv := filepath.Join(dir, "five.mkv") // matroska states no frame count in its header
	ffmpeg(t, "-i", five, "-c", "copy", mkv)
	wav := filepath.Join(dir, "audio.wav") // PCM cannot be copied into MP4: the ffmpeg command re-encodes it
	ffmpeg(t, "-f", "lavfi", "-i", "sine=d=1", wav)

	tests := []struct {
		name   string
		pieces []string
		frames []int
		audio  string
		piece  int    // the refused piece's index; -1: none
		detail string // in the refusal
	}{
		{"counts agree", []string{five, three}, []int{5, 3}, "", -1, ""},
		{"header disagrees", []string{five, three}, []int{5, 4}, "", 1, "its header states 3 frames, its commit says 4"},
		{"first piece disagrees", []string{three, five}, []int{5, 5}, "", 0, "its header states 3 frames, its commit says 5"},
		{"matroska counted", []string{mkv, three}, []int{5, 3}, "", -1, ""},
		{"matroska disagrees", []string{mkv, three}, []int{6, 3}, "", 0, "it holds 5 frames, its commit says 6"},
		{"ffmpeg fallback counted", []string{five, three}, []int{5, 3}, wav, -1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.mp4")
			err := Stitch(testCtx(t), StitchConfig{Pieces: tc.pieces, Frames: tc.frames, AudioFrom: tc.audio, Output: out})
			if tc.piece < 0 {
				if err != nil {
					t.Fatal(err)
				}
				want := 0
				for _, n := range tc.frames {
					want += n
				}
				if n := mustCount(t, out); n != want {
					t.Errorf("output has %d frames, want %d", n, want)
				}
				return
			}
			var pe *PieceError
			if !errors.As(err, &pe) || pe.Piece != tc.piece || !errors.Is(err, ErrFrameCount) {
				t.Fatalf("err %v, want piece %d refused with ErrFrameCount", err, tc.piece)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.pieces[tc.piece]) || !strings.Contains(msg, tc.detail) {
				t.Errorf("err %q, want %s and %q", msg, tc.pieces[tc.piece], tc.detail)
			}
			if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("output exists after the refusal: %v", serr)
			}
		})
	}
}

// TestSplitEach: SplitEach hands every piece over in order, complete (its planned frame count is in the file when
// it is handed over) while the muxer may still cut the rest; an error from the receiver stops the cut, is returned,
// and leaves no piece behind.
func TestSplitEach(t *testing.T) {
	src := clip(t, "clip.mp4", 4) // 100 frames, a keyframe every 25
	stopErr := errors.New("store unreachable")
	tests := []struct {
		name    string
		failAt  int // the piece whose handing over fails; -1: none
		wantErr error
	}{
		{"every piece in order", -1, nil},
		{"receiver fails on the first piece", 0, stopErr},
		{"receiver fails on a middle piece", 2, stopErr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var got []int
			paths, err := SplitEach(testCtx(t), src, []int{0, 25, 50, 75}, 100, dir, func(i int, path string) error {
				got = append(got, i)
				if n := mustCount(t, path); n != 25 {
					t.Errorf("piece %d handed over with %d frames, want 25", i, n)
				}
				if i == tc.failAt {
					return stopErr
				}
				return nil
			})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			want := []int{0, 1, 2, 3}
			if tc.failAt >= 0 {
				want = want[:tc.failAt+1]
			}
			if !equalInts(got, want) {
				t.Errorf("handed over %v, want %v", got, want)
			}
			if tc.wantErr == nil {
				if len(paths) != 4 {
					t.Errorf("paths %v", paths)
				}
				return
			}
			if left := pieces(dir); len(left) > 0 {
				t.Errorf("pieces left after the failure: %v", left)
			}
		})
	}
}
