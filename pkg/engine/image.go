package engine

import (
	"fmt"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"

	"gocv.io/x/gocv"
)

// ReadImage reads an image as a BGR Mat. PNGs are decoded by Go: libpng prints warnings (such as "iCCP: known
// incorrect sRGB profile") straight to stderr, which would break the product's one-line errors. Other formats go
// through OpenCV, which also applies a JPEG's EXIF orientation. The caller closes the Mat.
func ReadImage(path string) (gocv.Mat, error) {
	if strings.EqualFold(filepath.Ext(path), ".png") {
		return readPNG(path)
	}
	m := gocv.IMRead(path, gocv.IMReadColor)
	if m.Empty() {
		_ = m.Close()
		return gocv.Mat{}, fmt.Errorf("%s: not an image OpenCV can read", path)
	}
	return m, nil
}

func readPNG(path string) (gocv.Mat, error) {
	f, err := os.Open(path)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%s: not a readable PNG (%v)", path, err)
	}
	b := img.Bounds()
	m := gocv.NewMatWithSize(b.Dy(), b.Dx(), gocv.MatTypeCV8UC3)
	pix, err := m.DataPtrUint8()
	if err != nil {
		_ = m.Close()
		return gocv.Mat{}, err
	}
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			// Straight (non-premultiplied) colour, alpha dropped: what OpenCV's IMREAD_COLOR gives.
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			pix[i], pix[i+1], pix[i+2] = c.B, c.G, c.R
			i += 3
		}
	}
	return m, nil
}
