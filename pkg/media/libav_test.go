package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
)

// decodeAll returns every frame of path as cfg decodes it.
func decodeAll(t *testing.T, cfg DecoderConfig) [][]byte {
	t.Helper()
	dec, err := NewDecoder(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var out [][]byte
	for {
		frame := make([]byte, dec.FrameSize())
		err := dec.Read(frame)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("frame %d: %v", len(out), err)
		}
		out = append(out, frame)
	}
}

// TestInProcessDecoderMatchesFFmpeg: the in-process decoder gives exactly the ffmpeg command's frames, byte for
// byte: same-size pass-through, bgr24 with the source's matrix and range, bicubic scaling, 10-bit input.
func TestInProcessDecoderMatchesFFmpeg(t *testing.T) {
	plain := clip(t, "plain.mp4", 1)
	for _, tc := range []struct {
		name   string
		src    string
		w, h   int
		pixFmt string
	}{
		{"bgr24", plain, 400, 300, ""},
		{"yuv420p", plain, 400, 300, PixFmtYUV420P},
		{"scaled bgr24", plain, 320, 240, ""},
		{"scaled yuv420p", plain, 200, 152, PixFmtYUV420P}, // not in proportion: the scaler, not a shortcut
		{"bt709 tagged", clip(t, "bt709.mp4", 1, "-colorspace", "bt709", "-color_range", "tv"), 400, 300, ""},
		{"full range", clip(t, "full.mp4", 1, "-pix_fmt", "yuvj420p"), 400, 300, ""},
		{"10-bit", clip(t, "ten.mp4", 1, "-pix_fmt", "yuv420p10le"), 400, 300, PixFmtYUV420P},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DecoderConfig{Path: tc.src, Width: tc.w, Height: tc.h, PixFmt: tc.pixFmt}
			got := decodeAll(t, cfg)
			cfg.Process = true
			want := decodeAll(t, cfg)
			if len(got) != len(want) || len(got) != 25 {
				t.Fatalf("%d frames in process, %d from ffmpeg, want 25", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("frame %d differs from ffmpeg's (PSNR %.1f dB)", i, framePSNR(got[i], want[i]))
				}
			}
		})
	}
}

// transcode decodes src into dst, losslessly (x264 at crf 0), through ReadRef/WriteRef (byRef) or Read/Write, and
// returns how many frames it wrote.
func transcode(t *testing.T, src, dst string, w, h int, byRef bool) int {
	t.Helper()
	ctx := testCtx(t)
	dec, err := NewDecoder(ctx, DecoderConfig{Path: src, Width: w, Height: h, PixFmt: PixFmtYUV420P})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	enc, err := NewEncoder(ctx, EncoderConfig{Path: dst, Width: w, Height: h, FrameRate: Rational{25, 1},
		Quality: 0, PixFmt: PixFmtYUV420P})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Abort()
	f, err := NewFrame()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, FrameBytes(PixFmtYUV420P, w, h))
	n := 0
	for ; ; n++ {
		if byRef {
			err = dec.ReadRef(f)
		} else {
			err = dec.Read(buf)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if byRef {
			err = enc.WriteRef(f)
		} else {
			err = enc.Write(buf)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFramesByReference: pictures passed from the decoder to the encoder by reference are encoded exactly as the
// pictures Read copies out: the decoder's own (same size, yuv420p) and converted ones. The files are lossless, so
// their frames are compared, not their bytes: x264 in a long-lived process can write a few bytes differently from
// one run to the next on equal input, copied or not (1 run in 12-40 on the 10-bit clip's dithered pictures; the
// ffmpeg command, a fresh process each time, wrote one file in 16 runs).
func TestFramesByReference(t *testing.T) {
	dir := t.TempDir()
	plain := clip(t, "plain.mp4", 1)
	for _, tc := range []struct {
		name string
		src  string
		w, h int
	}{
		{"decoder's own pictures", plain, 400, 300},
		{"scaled", plain, 200, 152},
		{"10-bit", clip(t, "ten.mp4", 1, "-pix_fmt", "yuv420p10le"), 400, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			copied, lent := filepath.Join(dir, "copied.mp4"), filepath.Join(dir, "lent.mp4")
			if n := transcode(t, tc.src, copied, tc.w, tc.h, false); n != 25 {
				t.Fatalf("%d frames copied, want 25", n)
			}
			if n := transcode(t, tc.src, lent, tc.w, tc.h, true); n != 25 {
				t.Fatalf("%d frames by reference, want 25", n)
			}
			cfg := DecoderConfig{Width: tc.w, Height: tc.h, PixFmt: PixFmtYUV420P}
			cfg.Path = tc.src
			want := decodeAll(t, cfg)
			for name, path := range map[string]string{"copied": copied, "by reference": lent} {
				cfg.Path = path
				got := decodeAll(t, cfg)
				if len(got) != len(want) {
					t.Fatalf("%s: %d frames, want %d", name, len(got), len(want))
				}
				for i := range got {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("%s: frame %d is not the decoded picture (PSNR %.1f dB)", name, i, framePSNR(got[i], want[i]))
					}
				}
			}
		})
	}

	// The ffmpeg child processes cannot lend pictures; a bgr24 encoder cannot take one unconverted.
	ctx := testCtx(t)
	f, err := NewFrame()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec, err := NewDecoder(ctx, DecoderConfig{Path: plain, Width: 400, Height: 300, PixFmt: PixFmtYUV420P, Process: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	if err := dec.ReadRef(f); !errors.Is(err, errNoRefs) {
		t.Errorf("ReadRef from the ffmpeg command: %v, want %v", err, errNoRefs)
	}
	lib, err := NewDecoder(ctx, DecoderConfig{Path: plain, Width: 400, Height: 300, PixFmt: PixFmtYUV420P})
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	if err := lib.ReadRef(f); err != nil {
		t.Fatal(err)
	}
	enc, err := NewEncoder(ctx, EncoderConfig{Path: filepath.Join(dir, "bgr.mp4"), Width: 400, Height: 300, FrameRate: Rational{25, 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Abort()
	if err := enc.WriteRef(f); err == nil {
		t.Error("a bgr24 encoder took a yuv420p picture by reference")
	}
}

// TestInProcessEncoderMatchesFFmpeg: the in-process encoder writes the ffmpeg command's video: the same pictures
// (single-threaded x264 is deterministic, so the same bytes decoded) and the same stream description.
func TestInProcessEncoderMatchesFFmpeg(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  EncoderConfig
	}{
		{"bgr24 odd size", EncoderConfig{Path: "odd.mp4", Width: 41, Height: 31, FrameRate: Rational{30000, 1001}}},
		{"yuv420p tagged", EncoderConfig{Path: "yuv.mp4", Width: 64, Height: 48, FrameRate: Rational{25, 1}, PixFmt: PixFmtYUV420P,
			Color: Color{Space: "bt470bg", Range: "tv", Primaries: "bt470bg", Transfer: "smpte170m"}}},
		{"h265 mov", EncoderConfig{Path: "h265.mov", Width: 64, Height: 48, FrameRate: Rational{24, 1}, Codec: CodecH265, Lookahead: 5}},
		{"vp9", EncoderConfig{Path: "vp9.webm", Width: 64, Height: 48, FrameRate: Rational{25, 1}, Codec: CodecVP9}},
		{"vp9 odd size", EncoderConfig{Path: "vp9-odd.webm", Width: 41, Height: 31, FrameRate: Rational{25, 1}, Codec: CodecVP9}}, // coded as it is
		{"lossless", EncoderConfig{Path: "ll.mkv", Width: 41, Height: 31, FrameRate: Rational{25, 1}, Codec: CodecLossless}},
		// Pictures from a PQ (HDR10) source: converted back with its own BT.2020 matrix, still in BT.2020 primaries
		// and PQ, tagged as the source.
		{"bgr24 from HDR10", EncoderConfig{Path: "pq.mp4", Width: 64, Height: 48, FrameRate: Rational{25, 1},
			Color: Color{Space: "bt2020nc", Range: "tv", Primaries: "bt2020", Transfer: "smpte2084"}}},
		// A full-range BT.601 source (issue 17): its own matrix and range, tagged so.
		{"bgr24 full range", EncoderConfig{Path: "pc.mp4", Width: 64, Height: 48, FrameRate: Rational{25, 1},
			Color: Color{Space: "smpte170m", Range: "pc"}}},
		// Non-square pixels (4:3 pictures stored at 1920x1080, anamorphic DVD) stay so, in every path.
		{"anamorphic bgr24 odd", EncoderConfig{Path: "sar.mp4", Width: 41, Height: 31, FrameRate: Rational{25, 1}, SampleAspect: Rational{3, 4}}},
		{"anamorphic yuv420p", EncoderConfig{Path: "sar-yuv.mov", Width: 64, Height: 48, FrameRate: Rational{25, 1}, PixFmt: PixFmtYUV420P,
			SampleAspect: Rational{16, 11}}},
		{"anamorphic h265 mkv", EncoderConfig{Path: "sar.mkv", Width: 64, Height: 48, FrameRate: Rational{25, 1}, Codec: CodecH265, SampleAspect: Rational{64, 45}}},
		{"anamorphic vp9", EncoderConfig{Path: "sar.webm", Width: 64, Height: 48, FrameRate: Rational{25, 1}, Codec: CodecVP9, SampleAspect: Rational{3, 2}}}, // WebM stores a whole display width
		{"anamorphic lossless", EncoderConfig{Path: "sar-ll.mkv", Width: 41, Height: 31, FrameRate: Rational{25, 1}, Codec: CodecLossless, SampleAspect: Rational{3, 4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := frames(tc.cfg.Width, tc.cfg.Height, 12)
			if tc.cfg.PixFmt == PixFmtYUV420P {
				for i := range in {
					in[i] = in[i][:FrameBytes(PixFmtYUV420P, tc.cfg.Width, tc.cfg.Height)]
				}
			}
			tc.cfg.Quality, tc.cfg.Threads = DefaultQuality, 1
			paths := map[bool]string{}
			for _, process := range []bool{false, true} {
				cfg := tc.cfg
				cfg.Process = process
				cfg.Path = filepath.Join(dir, map[bool]string{false: "lib-", true: "cmd-"}[process]+tc.cfg.Path)
				if err := encodeAll(cfg, in); err != nil {
					t.Fatal(err)
				}
				paths[process] = cfg.Path
			}
			w, h, pixFmt := tc.cfg.Width, tc.cfg.Height, PixFmtBGR24 // lossless: RGB at any size
			if tc.cfg.codec() != CodecLossless {
				w, h = tc.cfg.OutputSize()
				if w%2 == 0 && h%2 == 0 {
					pixFmt = PixFmtYUV420P // what was encoded, unconverted
				}
			}
			got := decodeAll(t, DecoderConfig{Path: paths[false], Width: w, Height: h, PixFmt: pixFmt})
			want := decodeAll(t, DecoderConfig{Path: paths[true], Width: w, Height: h, PixFmt: pixFmt})
			if len(got) != len(want) || len(got) != len(in) {
				t.Fatalf("%d frames in process, %d from ffmpeg, want %d", len(got), len(want), len(in))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("frame %d differs from ffmpeg's (PSNR %.1f dB)", i, framePSNR(got[i], want[i]))
				}
			}
			a, b := describe(t, paths[false]), describe(t, paths[true])
			if a != b {
				t.Errorf("stream in process:\n%s\nfrom ffmpeg:\n%s", a, b)
			}
			if c := tc.cfg.Color; c.Space != "" && !strings.Contains(a, "color_range="+c.Range+"\ncolor_space="+c.Space+"\n") {
				t.Errorf("want the source's matrix %s and range %s:\n%s", c.Space, c.Range, a)
			}
			if sar := tc.cfg.OutputSampleAspect(); !sar.IsZero() && !strings.Contains(a, fmt.Sprintf("sample_aspect_ratio=%d:%d\n", sar.Num, sar.Den)) {
				t.Errorf("sample aspect %s not kept:\n%s", sar, a)
			}
		})
	}
}

// framePSNR is the PSNR of b against a, two frames of the same size.
func framePSNR(a, b []byte) float64 {
	return 10 * math.Log10(255*255/(testenv.SquaredError(a, b)/float64(len(a))))
}

// describe is ffprobe's description of path's video stream, the fields a player and the concat demuxer read.
func describe(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-of", "default=nw=1", "-show_entries",
		"stream=codec_name,profile,codec_tag_string,width,height,pix_fmt,color_range,color_space,color_transfer,"+
			"color_primaries,r_frame_rate,avg_frame_rate,time_base,duration_ts,nb_frames,has_b_frames,"+
			"sample_aspect_ratio,display_aspect_ratio", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return string(out)
}

// ffprobeIndex is ScanFrames done by ffprobe, the reference for the in-process scan.
func ffprobeIndex(t *testing.T, path string) *FrameIndex {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "V:0",
		"-show_entries", "packet=pts_time,dts_time,duration_time,flags", "-of", "compact=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	tbOut, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "V:0",
		"-show_entries", "stream=time_base", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var raw []rawPacket
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		p := rawPacket{pts: math.NaN(), dts: math.NaN()}
		for _, kv := range strings.Split(line, "|") {
			k, v, _ := strings.Cut(kv, "=")
			f, err := strconv.ParseFloat(v, 64)
			switch {
			case k == "pts_time" && err == nil:
				p.pts = f
			case k == "dts_time" && err == nil:
				p.dts = f
			case k == "duration_time" && err == nil:
				p.duration = f
			case k == "flags":
				p.key, p.discard = strings.Contains(v, "K"), strings.Contains(v, "D")
			}
		}
		raw = append(raw, p)
	}
	idx := indexPackets(raw)
	idx.TimeBase, _ = ParseRational(strings.TrimSpace(string(tbOut)))
	return idx
}

// TestScanMatchesFFprobe: the in-process scan gives ffprobe's packets, times and flags: B-frames, a variable
// rate, an edit list that hides packets, a cut-off file, audio before video; and the stitch's probes agree too.
func TestScanMatchesFFprobe(t *testing.T) {
	dir := t.TempDir()
	plain := clip(t, "plain.mp4", 2)
	cut := filepath.Join(dir, "cut.mp4")
	ffmpeg(t, "-ss", "0.5", "-i", plain, "-c", "copy", cut)
	vfr := filepath.Join(dir, "vfr.mkv")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=s=64x48:r=25:d=1", "-vf", "setpts='(N+gte(N,10)*25)/25/TB'",
		"-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "ultrafast", vfr)
	fast := clip(t, "fast.mp4", 2, "-movflags", "+faststart")
	data, err := os.ReadFile(fast)
	if err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(dir, "half.mp4")
	if err := os.WriteFile(half, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	late := filepath.Join(dir, "late.mkv")
	ffmpeg(t, "-f", "lavfi", "-i", "sine=d=2", "-itsoffset", "0.2", "-i", plain, "-map", "0:a", "-map", "1:v",
		"-c:v", "copy", "-c:a", "aac", late)
	for _, path := range []string{plain, cut, vfr, half, late} {
		got, err := ScanFrames(testCtx(t), path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		want := ffprobeIndex(t, path)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: in process %d frames, keyframes %v, %d discarded, pts %v;\nffprobe %d, %v, %d, %v", filepath.Base(path),
				got.Count, got.Keyframes, got.Discarded, got.PTS[:5], want.Count, want.Keyframes, want.Discarded, want.PTS[:5])
		}
	}
	if d, err := videoDelay(testCtx(t), late); err != nil || math.Abs(d-0.2) > 0.05 { // 0.2 s plus the AAC encoder's priming
		t.Errorf("video delay of %s: %v, %v; want 0.2", late, d, err)
	}
	if d, err := streamDuration(testCtx(t), plain); err != nil || d != "2.000000" {
		t.Errorf("duration of %s: %q, %v", plain, d, err)
	}
	if _, err := ScanFrames(testCtx(t), filepath.Join(dir, "none.mp4")); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing file: %v", err)
	}
	text := filepath.Join(dir, "text.mp4")
	if err := os.WriteFile(text, []byte("not a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ScanFrames(testCtx(t), text)
	checkInputError(t, err, text, ErrNotMedia)
	audio := filepath.Join(dir, "audio.m4a")
	ffmpeg(t, "-f", "lavfi", "-i", "sine=d=1", audio)
	if _, err := ScanFrames(testCtx(t), audio); !errors.Is(err, ErrNoVideo) {
		t.Errorf("audio only: %v", err)
	}
}

// ffprobeInfo is Probe done by the ffprobe command, the reference for the in-process probe.
func ffprobeInfo(path string) (*Info, error) {
	out, err := ffprobe(context.Background(), "probe", path, "-of", "json", "-show_format", "-show_streams")
	if err != nil {
		return nil, err
	}
	var p probeOutput
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, err
	}
	if p.Format == nil || len(p.Streams) == 0 {
		return nil, &Error{Path: path, Err: ErrNotMedia, Detail: "no streams"}
	}
	return infoFrom(path, &p)
}

// TestProbeMatchesFFprobe: Probe in process gives ffprobe's Info for every sample video and face image, a
// rotated file, a VFR file, colour tags, 10 bits and non-square pixels, and fails the same way on bad files.
func TestProbeMatchesFFprobe(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, sub := range []string{"videos", "faces"} {
		entries, err := os.ReadDir(filepath.Join(testenv.SharedDir(t), "assets", sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			paths = append(paths, filepath.Join(testenv.SharedDir(t), "assets", sub, e.Name()))
		}
	}
	rotated := filepath.Join(dir, "rotated.mp4")
	ffmpeg(t, "-i", clip(t, "r.mp4", 1), "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated)
	tagged := clip(t, "tagged.mp4", 1, "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv")
	ten := clip(t, "ten.mkv", 1, "-pix_fmt", "yuv420p10le")
	anamorphic := clip(t, "anamorphic.mp4", 1, "-vf", "setsar=3/4")
	withAudio := clipWith(t, "audio.mov", 1, []string{"-f", "lavfi", "-i", "sine=d=1"}, "-c:a", "aac")
	vfr := filepath.Join(dir, "vfr.mkv")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=s=64x48:r=25:d=1", "-vf", "setpts='(N+gte(N,10)*25)/25/TB'",
		"-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "ultrafast", vfr)
	audioOnly := filepath.Join(dir, "audio.m4a")
	ffmpeg(t, "-f", "lavfi", "-i", "sine=d=1", audioOnly)
	text := filepath.Join(dir, "text.mp4")
	if err := os.WriteFile(text, []byte("not a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(clip(t, "cut.mp4", 1))
	if err != nil {
		t.Fatal(err)
	}
	noMoov := filepath.Join(dir, "nomoov.mp4") // moov at the end, cut off: an interrupted recording
	if err := os.WriteFile(noMoov, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, rotated, tagged, ten, anamorphic, withAudio, vfr, audioOnly, text, noMoov)
	for _, path := range paths {
		got, gerr := Probe(testCtx(t), path)
		want, werr := ffprobeInfo(path)
		switch {
		case werr != nil:
			var we, ge *Error
			if !errors.As(werr, &we) || !errors.As(gerr, &ge) || we.Err != ge.Err {
				t.Errorf("%s: in process %v, ffprobe %v", filepath.Base(path), gerr, werr)
			}
		case gerr != nil:
			t.Errorf("%s: %v (ffprobe read it)", filepath.Base(path), gerr)
		case !reflect.DeepEqual(got, want):
			t.Errorf("%s:\nin process %+v\nffprobe    %+v", filepath.Base(path), *got, *want)
		case path == anamorphic && got.SampleAspect != (Rational{3, 4}):
			t.Errorf("%s: sample aspect %v, want 3/4", filepath.Base(path), got.SampleAspect)
		}
	}
	if info, err := Probe(testCtx(t), rotated); err != nil || info.Rotation != 270 && info.Rotation != 90 {
		t.Errorf("rotated: %+v, %v", info, err)
	}
}
