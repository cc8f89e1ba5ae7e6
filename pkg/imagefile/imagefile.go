// Package imagefile reads and writes still pictures (source faces, image targets, kept frames) as BGR Mats without
// OpenCV's imgcodecs: that module links GDAL and about a hundred other libraries, which cost every start of the
// binaries about 0.1 s in the dynamic loader. JPEG goes through libjpeg-turbo with OpenCV's own settings (the
// pictures are byte for byte cv::imread's and cv::imencode's, CMYK and YCCK included), PNG through Go's
// image/png, and any other format through FFmpeg's decoders (pkg/media).
package imagefile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/bgrframe"
	"github.com/facefleet/facefleet/pkg/media"
)

// ErrNotImage reports a file that no decoder reads as a picture.
var ErrNotImage = errors.New("not an image")

// ErrTooLarge reports a picture whose header claims more than MaxPixels: refused before anything is allocated for
// it (a 78-byte PNG claiming 65535x65535 at 16 bits made Go's decoder ask for 32 GB and the process die).
var ErrTooLarge = errors.New("picture too large")

// MaxPixels is the largest picture read, 16384x16384: Go's PNG decoder holds a 16-bit RGBA picture at 8 bytes a
// pixel (2 GB here) beside its 3-byte BGR copy.
const MaxPixels = 1 << 28

// checkSize refuses a picture of w x h before it is decoded.
func checkSize(w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w (%dx%d)", ErrNotImage, w, h)
	}
	if int64(w)*int64(h) > MaxPixels {
		return fmt.Errorf("%w: %dx%d is over %d megapixels", ErrTooLarge, w, h, MaxPixels>>20)
	}
	return nil
}

var (
	jpegMagic = []byte{0xFF, 0xD8, 0xFF}
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
)

// Read reads a picture as a BGR Mat, turned upright as its EXIF orientation says (as cv::imread does). The caller
// closes the Mat.
func Read(path string) (gocv.Mat, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%s: %w", path, err)
	}
	var m gocv.Mat
	switch {
	case bytes.HasPrefix(data, pngMagic):
		m, err = decodePNG(data)
	case bytes.HasPrefix(data, jpegMagic):
		m, err = decodeJPEG(data)
	default:
		m, err = decodeMedia(path)
	}
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// decodeMedia reads a still picture in any other format FFmpeg decodes (BMP, TIFF, WebP, ...). A video is not a
// picture: a source face given as a video is a mistake to report, not a first frame to take.
func decodeMedia(path string) (gocv.Mat, error) {
	ctx := context.Background()
	info, err := media.Probe(ctx, path)
	if err != nil || !info.IsImage {
		return gocv.Mat{}, ErrNotImage
	}
	if err := checkSize(info.Width, info.Height); err != nil {
		return gocv.Mat{}, err
	}
	m, pix, err := bgrframe.New(info.Width, info.Height)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%w (%v)", ErrNotImage, err)
	}
	if err = media.ReadFrame(ctx, path, 0, pix); err != nil {
		_ = m.Close()
		return gocv.Mat{}, fmt.Errorf("%w (%v)", ErrNotImage, err)
	}
	return m, nil
}

// Format names an output picture format.
type Format string

const (
	JPEG Format = "jpg"
	PNG  Format = "png"
)

// FormatOf gives the format a file name asks for by its extension.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jpg", ".jpeg":
		return JPEG, nil
	case ".png":
		return PNG, nil
	}
	return "", fmt.Errorf("%s: image outputs must be .png or .jpg", path)
}

// Encode encodes m. For JPEG, quality is 0-100 and full keeps every chroma sample (4:4:4) instead of 4:2:0; for
// PNG, quality 0-9 is the compression level and full is ignored.
func Encode(m gocv.Mat, f Format, quality int, full bool) ([]byte, error) {
	if m.Empty() || m.Type() != gocv.MatTypeCV8UC3 {
		return nil, fmt.Errorf("imagefile: encode: want a BGR picture, have %v", m.Type())
	}
	switch f {
	case JPEG:
		return encodeJPEG(m, quality, full)
	case PNG:
		return encodePNG(m, quality)
	}
	return nil, fmt.Errorf("imagefile: encode: unknown format %q", f)
}

// Write encodes m to path, through a hidden temporary name in the same directory (as pkg/media's outputs) so that
// a reader never sees half a file.
func Write(path string, m gocv.Mat, f Format, quality int, full bool) error {
	data, err := Encode(m, f, quality, full)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".partial")
	err = os.WriteFile(tmp, data, 0o644)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp) // a full disk leaves no half picture behind
	}
	return err
}
