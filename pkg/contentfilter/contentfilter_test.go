package contentfilter

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/internal/onnxtest"
	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/media"
)

// Clip makes a 9-second 64x48 10 fps video whose seconds 0, 3 and 6 are white and the rest black: one sample in
// three is bright.
func clip(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "clip.mp4")
	out, err := exec.Command("nice", "-n", "19", "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
		"color=c=black:s=64x48:r=10:d=9,drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(t,3),1)'",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	return p
}

func picture(t *testing.T, dir string, c color.Color) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := range 40 {
			img.Set(x, y, c)
		}
	}
	p := filepath.Join(dir, "picture.png")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	return p
}

// classifier installs g as the default classifier in a fresh models directory.
func classifier(t *testing.T, g *onnxtest.Graph) Config {
	t.Helper()
	cfg := Default()
	cfg.ModelsDir, cfg.ORTLibrary, cfg.Threads = t.TempDir(), testenv.ORTLib(t), 1
	g.Save(t, cfg.ModelsDir, onnxtest.ContentFilterFile)
	return cfg
}

func probe(t *testing.T, p string) *media.Info {
	t.Helper()
	info, err := media.Probe(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestScreen(t *testing.T) {
	dir := t.TempDir()
	video, white, black := clip(t, dir), picture(t, t.TempDir(), color.White), picture(t, t.TempDir(), color.Black)
	for _, tc := range []struct {
		name       string
		graph      *onnxtest.Graph
		target     string
		maxPercent float64
		threshold  float64
		want       Verdict
		refused    bool
	}{
		{"video, flag everything", onnxtest.ConstantFilter(1), video, 10, 0, Verdict{9, 9}, true},
		{"video, flag nothing", onnxtest.ConstantFilter(0), video, 10, 0, Verdict{9, 0}, false},
		{"video, one in three", onnxtest.BrightnessFilter(), video, 10, 0, Verdict{9, 3}, true},
		{"video, one in three under a 40% limit", onnxtest.BrightnessFilter(), video, 40, 0, Verdict{9, 3}, false},
		{"video, one in three exactly at a 33.4% limit", onnxtest.BrightnessFilter(), video, 33.4, 0, Verdict{9, 3}, false},
		{"video, a score of 0.8 is not above 0.8", onnxtest.ConstantFilter(0.8), video, 10, 0, Verdict{9, 0}, false},
		{"video, a score of 0.8 is above a 0.7 threshold", onnxtest.ConstantFilter(0.8), video, 10, 0.7, Verdict{9, 9}, true},
		{"image, flag everything", onnxtest.ConstantFilter(1), black, 10, 0, Verdict{1, 1}, true},
		{"image, flag nothing", onnxtest.ConstantFilter(0), white, 10, 0, Verdict{1, 0}, false},
		{"image, bright", onnxtest.BrightnessFilter(), white, 10, 0, Verdict{1, 1}, true},
		{"image, dark", onnxtest.BrightnessFilter(), black, 10, 0, Verdict{1, 0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := classifier(t, tc.graph)
			cfg.MaxPercent, cfg.Threshold = tc.maxPercent, tc.threshold
			f, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			info := probe(t, tc.target)
			v, err := f.Judge(context.Background(), tc.target, info)
			if err != nil || v != tc.want {
				t.Fatalf("verdict %+v, %v; want %+v", v, err, tc.want)
			}
			err = f.Screen(context.Background(), tc.target, "my-target.mp4", info)
			if got := errors.Is(err, ErrRefused); got != tc.refused {
				t.Fatalf("refused %v (%v), want %v", got, err, tc.refused)
			}
			if tc.refused {
				msg := err.Error()
				if !strings.HasPrefix(msg, "my-target.mp4: refused by the content filter: ") || strings.Contains(msg, "\n") ||
					!strings.Contains(msg, " of ") {
					t.Fatalf("message %q: want one line naming the target and the counts", msg)
				}
			}
		})
	}
}

// A classifier's output is untrusted: NaN, a score that is no probability, or a shape other than the declared one
// is a one-line error naming the classifier, never a pass; a model whose input is not the declared one is refused
// when it is opened.
func TestBadClassifier(t *testing.T) {
	dir := t.TempDir()
	video := clip(t, dir)
	for _, tc := range []struct {
		name  string
		graph *onnxtest.Graph
		open  bool // refused by Open
		want  string
	}{
		{"NaN score", onnxtest.ConstantFilter(float32(nan())), false, "is not a probability"},
		{"score above 1", onnxtest.ConstantFilter(1.5), false, "is not a probability"},
		{"negative score", onnxtest.ConstantFilter(-0.5), false, "is not a probability"},
		{"wrong output shape", onnxtest.WrongShapeFilter(), false, "has shape [1 3]; the manifest declares [1 2]"},
		{"wrong input layout", onnxtest.WrongInputFilter(), true, "the manifest declares [1 224 224 3]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := classifier(t, tc.graph)
			f, err := Open(cfg)
			if !tc.open {
				if err != nil {
					t.Fatal(err)
				}
				err = f.Screen(context.Background(), video, "clip.mp4", probe(t, video))
			}
			if !errors.Is(err, ErrClassifier) || errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) ||
				strings.Contains(err.Error(), "\n") {
				t.Fatalf("err %v, want a one-line classifier error containing %q", err, tc.want)
			}
		})
	}
	cfg := Default()
	cfg.ModelsDir = t.TempDir()
	if err := os.WriteFile(filepath.Join(cfg.ModelsDir, onnxtest.ContentFilterFile), []byte("not onnx"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.ORTLibrary = testenv.ORTLib(t)
	if _, err := Open(cfg); !errors.Is(err, ErrClassifier) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("a file that is not ONNX: %v", err)
	}
}

func nan() float64 { var z float64; return z / z }

func TestNotInstalled(t *testing.T) {
	cfg := Default()
	cfg.ModelsDir = t.TempDir()
	_, err := Open(cfg)
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), cfg.ModelsDir) {
		t.Fatalf("Open without a classifier: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"threshold 0.5", func(c *Config) { c.Threshold = 0.5 }, ""},
		{"threshold 1", func(c *Config) { c.Threshold = 1 }, "--content-filter-threshold"},
		{"threshold negative", func(c *Config) { c.Threshold = -0.1 }, "--content-filter-threshold"},
		{"threshold NaN", func(c *Config) { c.Threshold = nan() }, "--content-filter-threshold"},
		{"max percent 100", func(c *Config) { c.MaxPercent = 100 }, ""},
		{"max percent 101", func(c *Config) { c.MaxPercent = 101 }, "--content-filter-max-percent"},
		{"max percent NaN", func(c *Config) { c.MaxPercent = nan() }, "--content-filter-max-percent"},
		{"no model", func(c *Config) { c.Model = "" }, "--content-filter-model"},
	} {
		c := Default()
		tc.edit(&c)
		err := c.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	c := Default()
	c.Model = "yunet"
	if _, err := Open(c); err == nil || !strings.Contains(err.Error(), "not a content_filter") {
		t.Errorf("a detector as the classifier: %v", err)
	}
}

func TestRotate(t *testing.T) {
	// 3x2 picture, pixel value = its index; clockwise 90 makes it 2x3.
	src := make([]byte, 3*2*3)
	for i := range 6 {
		src[i*3] = byte(i)
	}
	got := func(b []byte) []byte {
		out := make([]byte, len(b)/3)
		for i := range out {
			out[i] = b[i*3]
		}
		return out
	}
	for _, tc := range []struct {
		deg  int
		want string
	}{{0, "\x00\x01\x02\x03\x04\x05"}, {90, "\x03\x00\x04\x01\x05\x02"}, {180, "\x05\x04\x03\x02\x01\x00"}, {270, "\x02\x05\x01\x04\x00\x03"}} {
		if g := string(got(rotate(src, 3, 2, tc.deg))); g != tc.want {
			t.Errorf("rotate %d: %q, want %q", tc.deg, g, tc.want)
		}
	}
}
