package media

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// vfrTarget writes a variable-rate clip with audio: 320x240 frames at 30, then 12, then 24 fps (setpts), a keyframe
// every 20 frames, B-frames, and 6 s of sine audio; container by name's extension.
func vfrTarget(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "6", "-vf", "setpts='(if(lt(N,40),N/30,if(lt(N,70),40/30+(N-40)/12,40/30+30/12+(N-70)/24)))/TB'",
		"-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "20", "-keyint_min", "20",
		"-sc_threshold", "0", "-c:a", "aac", out)
	return out
}

// framePTS is every frame's presentation time in seconds, sorted, as ffprobe reads path's first video stream.
func framePTS(t *testing.T, path string) []float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "V:0", "-show_entries", "frame=pts_time",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var pts []float64
	for _, l := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(l, ","), 64)
		if err != nil {
			t.Fatalf("%s: pts %q", path, l)
		}
		pts = append(pts, v)
	}
	sort.Float64s(pts)
	return pts
}

// span is how long a stream (an audio one: ffprobe shows its packets' durations) of path lasts: from its first packet's time to the end of its last, by ffprobe.
func span(t *testing.T, path, stream string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", stream, "-show_entries",
		"packet=pts_time,duration_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	first, end := math.Inf(1), math.Inf(-1)
	for _, l := range strings.Fields(string(out)) {
		p, d, _ := strings.Cut(l, ",")
		pts, err1 := strconv.ParseFloat(p, 64)
		dur, err2 := strconv.ParseFloat(strings.TrimSuffix(d, ","), 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: packet %q", path, l)
		}
		first, end = min(first, pts), max(end, pts+dur)
	}
	return end - first
}

// startTimes is the start of the first video and audio streams, in seconds.
func startTimes(t *testing.T, path string) (video, audio float64) {
	t.Helper()
	b, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,start_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Fields(string(b)) {
		kind, v, _ := strings.Cut(line, ",")
		f, _ := strconv.ParseFloat(v, 64)
		if kind == "video" {
			video = f
		} else {
			audio = f
		}
	}
	return video, audio
}

// retime decodes src and encodes it into dst keeping every frame's time (Decoder.Time -> Encoder.WriteAt), as the
// pipeline does for a variable-rate target; duration is the piece's length.
func retime(t *testing.T, src, dst string, rate, tb Rational, duration float64) {
	t.Helper()
	ctx := testCtx(t)
	info, err := Probe(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(ctx, DecoderConfig{Path: src, Width: info.Width, Height: info.Height, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	enc, err := NewEncoder(ctx, EncoderConfig{Quality: DefaultQuality, Path: dst, Width: info.Width, Height: info.Height,
		FrameRate: rate, TimeBase: tb, Duration: duration, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Abort()
	frame := make([]byte, dec.FrameSize())
	for {
		if err := dec.Read(frame); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if err := enc.WriteAt(frame, dec.Time()); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestVFRKeepsTimestamps: a variable-rate target split into several segments (or one), each piece decoded and
// encoded with its frames' own times, and stitched with the target's audio, comes out with the target's frames at
// the target's times (within one tick of the output's time base), the same length, and audio in sync.
func TestVFRKeepsTimestamps(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ext     string
		pieces  bool // split at every keyframe, else the target is the one piece
		outExts []string
	}{
		{"mp4 several segments", ".mp4", true, []string{".mp4", ".mov"}},
		{"mkv several segments", ".mkv", true, []string{".mp4"}},
		{"mp4 one segment", ".mp4", false, []string{".mp4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			target := vfrTarget(t, "vfr"+tc.ext)
			info, err := Probe(ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			idx, err := ScanFrames(ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			tb := idx.OutputTimeBase(info.FrameRate)
			if tb.IsZero() || idx.Count != 122 {
				t.Fatalf("target: time base %s, %d frames", tb, idx.Count)
			}
			starts := []int{0}
			if tc.pieces {
				starts = idx.Keyframes
			}
			pieces := []string{target}
			if len(starts) > 1 {
				if pieces, err = Split(ctx, target, starts, idx.Count, filepath.Join(t.TempDir(), "split")); err != nil {
					t.Fatal(err)
				}
			}
			var done []string
			for i, p := range pieces {
				end := idx.End
				if i+1 < len(starts) {
					end = idx.PTS[starts[i+1]]
				}
				out := filepath.Join(t.TempDir(), fmt.Sprintf("done-%d.mp4", i))
				retime(t, p, out, info.FrameRate, tb, end-idx.PTS[starts[i]])
				done = append(done, out)
			}
			for _, ext := range tc.outExts {
				out := filepath.Join(t.TempDir(), "out"+ext)
				if err := Stitch(ctx, StitchConfig{Pieces: done, AudioFrom: target, Output: out}); err != nil {
					t.Fatal(err)
				}
				tick := tb.Float()
				got, want := framePTS(t, out), framePTS(t, target)
				if len(got) != len(want) {
					t.Fatalf("%s: %d frames, target %d", ext, len(got), len(want))
				}
				bad := 0
				for i := range got {
					if math.Abs((got[i]-got[0])-(want[i]-want[0])) > tick+1e-6 {
						if bad++; bad <= 3 {
							t.Errorf("%s: frame %d at %.6f s, target %.6f s", ext, i, got[i]-got[0], want[i]-want[0])
						}
					}
				}
				if bad > 3 {
					t.Errorf("%s: %d frames off in all", ext, bad)
				}
				tv, ta := idx.End-idx.PTS[0], span(t, target, "a:0")
				d, err := streamDuration(ctx, out)
				if err != nil {
					t.Fatal(err)
				}
				ov, _ := strconv.ParseFloat(d, 64)
				oa := span(t, out, "a:0")
				// Audio is copied: its length may differ by the rounding of the target's container (1 ms in
				// matroska) as the remux carries it sample-exact into the output.
				if math.Abs(ov-tv) > tick+1e-6 || math.Abs(oa-ta) > 0.001 {
					t.Errorf("%s: video %.6f s, audio %.6f s; target %.6f s, %.6f s", ext, ov, oa, tv, ta)
				}
				sv, sa := startTimes(t, target)
				gv, ga := startTimes(t, out)
				if math.Abs((gv-ga)-(sv-sa)) > tick+1e-6 {
					t.Errorf("%s: video starts %.6f s after the audio, target %.6f s", ext, gv-ga, sv-sa)
				}
			}
		})
	}
}
