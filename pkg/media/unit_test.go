package media

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseRational(t *testing.T) {
	tests := []struct {
		in      string
		want    Rational
		wantErr bool
	}{
		{"30000/1001", Rational{30000, 1001}, false},
		{"25/1", Rational{25, 1}, false},
		{"50/2", Rational{25, 1}, false},
		{"25", Rational{25, 1}, false},
		{"29.97", Rational{2997, 100}, false},
		{" 24000/1001 ", Rational{24000, 1001}, false},
		{"0/0", Rational{}, false},
		{"0/1", Rational{0, 1}, false},
		{"1/0", Rational{}, true},
		{"-25/1", Rational{}, true},
		{"abc", Rational{}, true},
		{"", Rational{}, true},
		{"1e3", Rational{}, true},
		{"1/2/3", Rational{}, true},
	}
	for _, tt := range tests {
		got, err := ParseRational(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseRational(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	r := Rational{30000, 1001}
	if r.String() != "30000/1001" || r.Float() < 29.97 || r.Float() > 29.98 || (Rational{}).Float() != 0 {
		t.Errorf("String %q Float %v", r.String(), r.Float())
	}
}

// TestRationalJSON: job messages carry a Rational as "3/4", and an unknown one not at all.
func TestRationalJSON(t *testing.T) {
	type msg struct {
		R Rational `json:"r,omitzero"`
	}
	for _, tc := range []struct {
		in   Rational
		want string
	}{{Rational{3, 4}, `{"r":"3/4"}`}, {Rational{}, `{}`}} {
		b, err := json.Marshal(msg{tc.in})
		if err != nil || string(b) != tc.want {
			t.Errorf("%v: %s, %v; want %s", tc.in, b, err, tc.want)
		}
		var back msg
		if err := json.Unmarshal(b, &back); err != nil || back.R != tc.in {
			t.Errorf("%s read back as %v, %v", b, back.R, err)
		}
	}
	var bad msg
	if err := json.Unmarshal([]byte(`{"r":"3/0"}`), &bad); err == nil {
		t.Error(`"3/0" read without error`)
	}
}

func TestCRF(t *testing.T) {
	tests := []struct {
		codec   string
		quality int
		want    int
	}{
		{CodecH264, 0, 0},
		{CodecH264, 35, 18},
		{CodecH264, 100, 51},
		{CodecH265, 35, 18},
		{CodecVP9, 0, 0},
		{CodecVP9, 35, 22},
		{CodecVP9, 100, 63},
		{CodecH264, 150, 51},
		{CodecH264, -5, 0},
	}
	for _, tt := range tests {
		if got := CRF(tt.codec, tt.quality); got != tt.want {
			t.Errorf("CRF(%s, %d) = %d, want %d", tt.codec, tt.quality, got, tt.want)
		}
	}
}

func TestTimescale(t *testing.T) {
	tests := map[Rational]int{
		{25, 1}: 10000, {30000, 1001}: 30000, {24000, 1001}: 24000, {30, 1}: 10020, {60000, 1001}: 60000,
		{50, 2}: 10000, {12345, 1}: 12345, {0, 1}: 0,
	}
	for r, want := range tests {
		if got := Timescale(r); got != want {
			t.Errorf("Timescale(%s) = %d, want %d", r, got, want)
		}
		if r.Num > 0 {
			rr := r.reduced()
			if got := Timescale(r); (got*rr.Den)%rr.Num != 0 {
				t.Errorf("Timescale(%s) = %d: frame duration is not a whole number of ticks", r, got)
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := EncoderConfig{Quality: DefaultQuality, Path: "/x/out.mp4", Width: 640, Height: 480, FrameRate: Rational{25, 1}}
	encTests := []struct {
		name   string
		modify func(*EncoderConfig)
		errHas string // "" = valid
	}{
		{"defaults", func(c *EncoderConfig) {}, ""},
		{"x265 slow", func(c *EncoderConfig) { c.Codec, c.Preset, c.Quality = CodecH265, "slow", 100 }, ""},
		{"vp9 webm", func(c *EncoderConfig) { c.Codec, c.Path = CodecVP9, "/x/o.webm" }, ""},
		{"odd size", func(c *EncoderConfig) { c.Width, c.Height = 401, 301 }, ""},
		{"anamorphic", func(c *EncoderConfig) { c.SampleAspect = Rational{64, 45} }, ""},
		{"negative sample aspect", func(c *EncoderConfig) { c.SampleAspect = Rational{-3, 4} }, "sample aspect"},
		{"no path", func(c *EncoderConfig) { c.Path = "" }, "Path"},
		{"bad extension", func(c *EncoderConfig) { c.Path = "/x/o.avi" }, "extension"},
		{"bad codec", func(c *EncoderConfig) { c.Codec = "h264_nvenc" }, "codec"},
		{"x264 in webm", func(c *EncoderConfig) { c.Path = "/x/o.webm" }, "webm"},
		{"quality high", func(c *EncoderConfig) { c.Quality = 101 }, "quality"},
		{"quality negative", func(c *EncoderConfig) { c.Quality = -1 }, "quality"},
		{"zero width", func(c *EncoderConfig) { c.Width = 0 }, "size"},
		{"zero rate", func(c *EncoderConfig) { c.FrameRate = Rational{} }, "frame rate"},
		{"negative rate", func(c *EncoderConfig) { c.FrameRate = Rational{-25, 1} }, "frame rate"},
		{"threads", func(c *EncoderConfig) { c.Threads = -1 }, "Threads"},
		{"vp9 preset", func(c *EncoderConfig) { c.Codec, c.Path, c.Preset = CodecVP9, "/x/o.mkv", "fast" }, "preset"},
		{"unknown preset", func(c *EncoderConfig) { c.Preset = "turbo" }, "preset"},
		{"frame times", func(c *EncoderConfig) { c.TimeBase, c.Duration = Rational{1, 15360}, 2.5 }, ""},
		{"time base not 1/T", func(c *EncoderConfig) { c.TimeBase = Rational{1001, 30000} }, "time base"},
		{"frame times through a pipe", func(c *EncoderConfig) { c.TimeBase, c.Process = Rational{1, 15360}, true }, "in process only"},
		{"negative duration", func(c *EncoderConfig) { c.TimeBase, c.Duration = Rational{1, 15360}, -1 }, "duration"},
	}
	for _, tt := range encTests {
		c := ok
		tt.modify(&c)
		checkValidate(t, "EncoderConfig "+tt.name, c.Validate(), tt.errHas)
	}
	decTests := []struct {
		cfg    DecoderConfig
		errHas string
	}{
		{DecoderConfig{Path: "/x/in.mp4", Width: 4, Height: 4}, ""},
		{DecoderConfig{Width: 4, Height: 4}, "Path"},
		{DecoderConfig{Path: "/x/in.mp4", Width: 4}, "size"},
		{DecoderConfig{Path: "/x/in.mp4", Width: 4, Height: 4, Threads: -2}, "Threads"},
	}
	for _, tt := range decTests {
		checkValidate(t, "DecoderConfig", tt.cfg.Validate(), tt.errHas)
	}
	stTests := []struct {
		cfg    StitchConfig
		errHas string
	}{
		{StitchConfig{Pieces: []string{"a.mp4"}, Output: "o.mkv", Metadata: map[string]string{"k": "v=1"}}, ""},
		{StitchConfig{Output: "o.mp4"}, "no pieces"},
		{StitchConfig{Pieces: []string{"a.mp4", "b.mp4"}, Frames: []int{5}, Output: "o.mp4"}, "1 frame counts for 2 pieces"},
		{StitchConfig{Pieces: []string{"a.mp4"}, Frames: []int{0}, Output: "o.mp4"}, "piece 0: 0 frames"},
		{StitchConfig{Pieces: []string{"a.mp4"}}, "Output"},
		{StitchConfig{Pieces: []string{"a.mp4"}, Output: "o.avi"}, "extension"},
		{StitchConfig{Pieces: []string{"a.mp4"}, Output: "o.mp4", Metadata: map[string]string{"a=b": "v"}}, "metadata key"},
	}
	for _, tt := range stTests {
		checkValidate(t, "StitchConfig", tt.cfg.Validate(), tt.errHas)
	}
}

func checkValidate(t *testing.T, name string, err error, errHas string) {
	t.Helper()
	switch {
	case errHas == "" && err != nil:
		t.Errorf("%s: unexpected error %v", name, err)
	case errHas != "" && (err == nil || !strings.Contains(err.Error(), errHas)):
		t.Errorf("%s: error %v, want one mentioning %q", name, err, errHas)
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{Path: "/x/in.mp4", Err: ErrNotMedia, Detail: "Invalid data found when processing input"}
	if got := e.Error(); got != "/x/in.mp4: not a media file ffprobe can read (Invalid data found when processing input)" {
		t.Errorf("Error() = %q", got)
	}
	if !errors.Is(e, ErrNotMedia) || errors.Is(e, ErrEmpty) {
		t.Error("errors.Is does not see the sentinel")
	}
	if got := (&Error{Path: "/x", Err: ErrEmpty}).Error(); got != "/x: file is empty" {
		t.Errorf("Error() = %q", got)
	}

	stderr := "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d1c0ffee00] Could not find tag for codec pcm_s16le in stream #1, codec not currently supported in container\n" +
		"Could not write header for output file #0 (incorrect codec parameters ?): Invalid argument\n" +
		"Error initializing output stream 0:1 -- \n" +
		"Conversion failed!\n"
	want := "[mov,mp4,m4a,3gp,3g2,mj2] Could not find tag for codec pcm_s16le in stream #1, codec not currently supported in container"
	if got := lastMeaningful(stderr); got != want {
		t.Errorf("lastMeaningful = %q, want %q", got, want)
	}
	if got := lastMeaningful("file:/x/in.mp4: Invalid data found when processing input\n", "file:/x/in.mp4"); got != "Invalid data found when processing input" {
		t.Errorf("path not stripped: %q", got)
	}
	if got := lastMeaningful("Conversion failed!\n"); got != "Conversion failed!" {
		t.Errorf("all-generic stderr: %q", got)
	}
	if got := lastMeaningful(strings.Repeat("x", 1000)); len(got) > 310 {
		t.Errorf("detail not truncated: %d bytes", len(got))
	}
	tb := newTailBuffer()
	tb.max = 8
	tb.Write([]byte("0123456789"))
	tb.Write([]byte("ab"))
	if tb.String() != "456789ab" {
		t.Errorf("tail %q", tb.String())
	}
}

// Lookahead bounds the encoder's buffered pictures (the memory budget lowers it); each codec names it differently.
func TestEncoderLookaheadArgs(t *testing.T) {
	base := EncoderConfig{Quality: DefaultQuality, Path: "/x/out.mp4", Width: 64, Height: 48, FrameRate: Rational{25, 1}}
	for _, tc := range []struct {
		codec, ext string
		lookahead  int
		want       string
	}{
		{CodecH264, ".mp4", 5, "-rc-lookahead 5"},
		{CodecH265, ".mp4", 5, "-x265-params log-level=error:rc-lookahead=5"},
		{CodecVP9, ".webm", 5, "-lag-in-frames 5"},
		{CodecH264, ".mp4", 0, ""},
	} {
		cfg := base
		cfg.Codec, cfg.Lookahead, cfg.Path = tc.codec, tc.lookahead, "/x/out"+tc.ext
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		args := strings.Join(encoderArgs(cfg), " ")
		if tc.want != "" && !strings.Contains(args, tc.want) {
			t.Errorf("%s lookahead %d: args %q lack %q", tc.codec, tc.lookahead, args, tc.want)
		}
		if tc.want == "" && (strings.Contains(args, "lookahead") || strings.Contains(args, "lag-in-frames")) {
			t.Errorf("%s: default lookahead overridden: %q", tc.codec, args)
		}
	}
	bad := base
	bad.Lookahead = -1
	if bad.Validate() == nil {
		t.Error("negative lookahead accepted")
	}
}

func TestPixFmtConfigs(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"yuv even", EncoderConfig{Path: "a.mp4", Width: 4, Height: 2, FrameRate: Rational{25, 1}, PixFmt: PixFmtYUV420P}.Validate()},
		{"yuv odd encoder", EncoderConfig{Path: "a.mp4", Width: 5, Height: 2, FrameRate: Rational{25, 1}, PixFmt: PixFmtYUV420P}.Validate()},
		{"yuv odd decoder", DecoderConfig{Path: "a.mp4", Width: 4, Height: 3, PixFmt: PixFmtYUV420P}.Validate()},
		{"unknown", DecoderConfig{Path: "a.mp4", Width: 4, Height: 4, PixFmt: "rgb48"}.Validate()},
		{"yuv lossless", EncoderConfig{Path: "a.mkv", Codec: CodecLossless, Width: 4, Height: 2, FrameRate: Rational{25, 1}, PixFmt: PixFmtYUV420P}.Validate()},
	} {
		if (tc.err == nil) != (tc.name == "yuv even") {
			t.Errorf("%s: %v", tc.name, tc.err)
		}
	}
	if FrameBytes(PixFmtYUV420P, 4, 2) != 12 || FrameBytes("", 4, 2) != 24 {
		t.Error("FrameBytes")
	}
	args := strings.Join(encoderArgs(EncoderConfig{Path: "a.mp4", Width: 4, Height: 2, FrameRate: Rational{25, 1},
		PixFmt: PixFmtYUV420P, Color: Color{Space: "bt470bg", Range: "tv"}}), " ")
	if !strings.Contains(args, "-pix_fmt yuv420p -video_size 4x2") || strings.Contains(args, "scale=") ||
		!strings.Contains(args, "-colorspace bt470bg -color_range tv") || strings.Contains(args, "-color_trc") {
		t.Errorf("yuv420p encoder args: %s", args)
	}
}

// TestOutputTimeBase: frames on a constant rate's grid (within their container's rounding) or without times keep
// today's constant-rate stamping (zero); others get a time base in which every time of the stream is exact.
func TestOutputTimeBase(t *testing.T) {
	grid := func(n int, step float64, round float64) []float64 {
		p := make([]float64, n)
		for i := range p {
			p[i] = math.Round((1.4+float64(i)*step)/round) * round
		}
		return p
	}
	vfr := append(grid(10, 1.0/30, 1e-6), 2, 2.1, 2.5)
	for _, tc := range []struct {
		name string
		pts  []float64
		tb   Rational
		rate Rational
		want Rational
	}{
		{"25 fps mp4", grid(50, 0.04, 1e-6), Rational{1, 12800}, Rational{25, 1}, Rational{}},
		{"29.97 fps in matroska milliseconds", grid(100, 1001.0/30000, 1e-3), Rational{1, 1000}, Rational{30000, 1001}, Rational{}},
		{"29.97 fps MPEG-TS", grid(100, 1001.0/30000, 1e-6), Rational{1, 90000}, Rational{30000, 1001}, Rational{}},
		{"variable mp4", vfr, Rational{1, 15360}, Rational{30, 1}, Rational{1, 15360}},
		{"variable matroska", vfr, Rational{1, 1000}, Rational{30, 1}, Rational{1, 16000}},
		{"variable phone video", vfr, Rational{1, 600}, Rational{30, 1}, Rational{1, 19200}},
		{"a dropped frame", append(grid(10, 0.04, 1e-6), 1.4+11*0.04), Rational{1, 12800}, Rational{25, 1}, Rational{1, 12800}},
		{"nominal rate unknown", grid(10, 0.04, 1e-6), Rational{1, 12800}, Rational{}, Rational{1, 12800}},
		{"no times (raw H.264)", []float64{math.NaN(), math.NaN()}, Rational{1, 1200000}, Rational{25, 1}, Rational{}},
	} {
		idx := &FrameIndex{Count: len(tc.pts), PTS: tc.pts, TimeBase: tc.tb}
		if got := idx.OutputTimeBase(tc.rate); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
