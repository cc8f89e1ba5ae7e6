package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fileView is what ffprobe shows of a file that a player or a later tool reads: every packet (timestamps, size,
// flags, a hash of its bytes), the streams' parameters, dispositions, tags and side data, and the container's tags.
func fileView(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_data_hash", "md5",
		"-show_entries", "packet=stream_index,pts,dts,duration,size,flags,data_hash"+
			":stream=index,codec_name,codec_tag_string,time_base,start_pts,duration_ts,nb_frames,r_frame_rate,"+
			"avg_frame_rate,sample_aspect_ratio,width,height,sample_rate,channels"+
			":stream_tags:stream_disposition:stream_side_data_list:format_tags:format=start_time,duration",
		"-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return string(out)
}

// TestRemuxMatchesFFmpeg: the in-process stitch gives what the ffmpeg command gives, byte for byte, for the
// shapes of job the product stitches: several pieces with the source's audio, matroska out, a source whose audio
// starts first (-itsoffset), 29.97 fps pieces, a rotated .mov, and an audio source without audio.
func TestRemuxMatchesFFmpeg(t *testing.T) {
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
	for i := 0; i < 2; i++ {
		p := filepath.Join(dir, fmt.Sprintf("ntsc-%d.mp4", i))
		encode(t, EncoderConfig{Quality: DefaultQuality, Path: p, Width: 64, Height: 48, FrameRate: Rational{30000, 1001}}, frames(64, 48, 31))
		pieces2997 = append(pieces2997, p)
	}
	tags := map[string]string{"facefleet_job": "job-7", "comment": "it's a \"test\"; a=b\\c"}

	for _, tc := range []struct {
		name string
		cfg  StitchConfig
	}{
		{"mp4-audio", StitchConfig{Pieces: pieces25, AudioFrom: withAudio, Output: "out.mp4", Metadata: tags}},
		{"mkv-audio", StitchConfig{Pieces: pieces25, AudioFrom: withAudio, Output: "out.mkv", Metadata: tags}},
		{"audio-first", StitchConfig{Pieces: []string{latePiece}, AudioFrom: late, Output: "out.mp4"}},
		{"ntsc", StitchConfig{Pieces: pieces2997, Output: "out.mp4", Metadata: tags}},
		{"rotated-mov", StitchConfig{Pieces: pieces2997[:1], Output: "out.mov", Rotation: 90}},
		{"no-audio-in-source", StitchConfig{Pieces: pieces2997[:1], AudioFrom: pieces2997[1], Output: "out.mp4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			sub := t.TempDir()
			list, err := concatList(ctx, tc.cfg.Pieces, nil)
			if err != nil {
				t.Fatal(err)
			}
			listPath := filepath.Join(sub, "pieces.txt")
			if err := os.WriteFile(listPath, []byte(list), 0o600); err != nil {
				t.Fatal(err)
			}
			delay := 0.0
			if tc.cfg.AudioFrom != "" {
				if delay, err = videoDelay(ctx, tc.cfg.AudioFrom); err != nil {
					t.Fatal(err)
				}
			}
			ext := filepath.Ext(tc.cfg.Output)
			want, got := filepath.Join(sub, "ffmpeg"+ext), filepath.Join(sub, "remux"+ext)
			if err := stitchRun(ctx, tc.cfg, listPath, want, ext, delay, "copy"); err != nil {
				t.Fatal(err)
			}
			if _, err := remux(ctx, tc.cfg, listPath, got, ext, delay); err != nil {
				t.Fatal(err)
			}
			if w, g := fileView(t, want), fileView(t, got); w != g {
				t.Errorf("the remux differs from the ffmpeg command:\n%s", lineDiff(w, g))
			}
			// Byte for byte too, but for matroska, which writes a random segment UID into every file.
			wb, _ := os.ReadFile(want)
			gb, _ := os.ReadFile(got)
			if ext != ".mkv" && !bytes.Equal(wb, gb) {
				t.Errorf("files differ in bytes (%d vs %d) beyond what ffprobe shows", len(wb), len(gb))
			}
		})
	}
}

// lineDiff lists the first lines that differ between two texts: a the wanted, b the one made.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 20; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d: want %q, got %q", i+1, x, y))
		}
	}
	return strings.Join(out, "\n")
}

// TestRemuxCancel: cancelling the context stops the in-process stitch midway (it used to run to the end of the
// film): a list of 3000 pieces is cancelled once the output has begun, and the remux returns context.Canceled.
func TestRemuxCancel(t *testing.T) {
	dir := t.TempDir()
	piece := filepath.Join(dir, "piece.mp4")
	encode(t, EncoderConfig{Quality: DefaultQuality, Path: piece, Width: 64, Height: 48, FrameRate: Rational{25, 1}}, frames(64, 48, 25))
	list, err := concatList(context.Background(), []string{piece}, nil)
	if err != nil {
		t.Fatal(err)
	}
	head, entry, _ := strings.Cut(list, "\n")
	listPath := filepath.Join(dir, "pieces.txt")
	if err := os.WriteFile(listPath, []byte(head+"\n"+strings.Repeat(entry, 3000)), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.mp4")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // cancel once the remux has written its header: it is then in its packet loop
		for ctx.Err() == nil {
			if st, err := os.Stat(out); err == nil && st.Size() > 0 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	_, err = remux(ctx, StitchConfig{Output: out}, listPath, out, ".mp4", 0)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("remux: %v, want %v", err, context.Canceled)
	}
}
