package media

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCopyVideo: CopyVideo makes of a split's piece (matroska, starting mid-stream, with audio) the MP4 the
// simulated worker stores as its result: every video packet, no audio, starting at 0, with a header that states its
// frame count, which Stitch then takes by its header as it takes a real worker's result; what it cannot copy is an
// error naming the input.
func TestCopyVideo(t *testing.T) {
	ctx := testCtx(t)
	src := clipWith(t, "src.mp4", 4, []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"},
		"-map", "0:v", "-map", "1:a", "-c:a", "aac")
	pieces, err := Split(ctx, src, []int{0, 50}, 100, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	audioOnly := filepath.Join(t.TempDir(), "audio.m4a")
	ffmpeg(t, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "1", "-c:a", "aac", audioOnly)
	garbage := filepath.Join(t.TempDir(), "garbage.mkv")
	if err := os.WriteFile(garbage, []byte("not a video at all, just bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in, out string
		want          int   // packets
		err           error // wrapped by the error, when one is wanted
	}{
		{name: "first piece to mp4", in: pieces[0], out: "a.mp4", want: 50},
		{name: "second piece (starts at 2 s) to mp4", in: pieces[1], out: "b.mp4", want: 50},
		{name: "piece to mov", in: pieces[1], out: "c.mov", want: 50},
		{name: "no video", in: audioOnly, out: "d.mp4", err: ErrNoVideo},
		{name: "not a media file", in: garbage, out: "e.mp4", err: ErrFFmpeg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), tc.out)
			n, err := CopyVideo(ctx, tc.in, out)
			if tc.err != nil {
				var me *Error
				if !errors.Is(err, tc.err) || !errors.As(err, &me) || me.Path != tc.in {
					t.Fatalf("err %v, want %v naming %s", err, tc.err, tc.in)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.want || mustCount(t, out) != tc.want {
				t.Errorf("copied %d packets, the output holds %d, want %d", n, mustCount(t, out), tc.want)
			}
			s, err := scanHeader(ctx, out)
			if err != nil {
				t.Fatal(err)
			}
			if s.frames != int64(tc.want) {
				t.Errorf("the header states %d frames, want %d", s.frames, tc.want)
			}
			for _, st := range streams(t, out) {
				if st.CodecType != "video" || st.Width != 400 || st.Height != 300 {
					t.Errorf("stream %+v, want the 400x300 video alone", st)
				}
			}
		})
	}
	// The copies stitch by their headers' counts, as real results do, into the source's frames again.
	a, b := filepath.Join(t.TempDir(), "a.mp4"), filepath.Join(t.TempDir(), "b.mp4")
	for i, p := range []string{a, b} {
		if _, err := CopyVideo(ctx, pieces[i], p); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "out.mp4")
	if err := Stitch(ctx, StitchConfig{Pieces: []string{a, b}, Output: out, Frames: []int{50, 50}}); err != nil {
		t.Fatal(err)
	}
	if got := mustCount(t, out); got != 100 {
		t.Errorf("stitched %d frames, want 100", got)
	}
}
