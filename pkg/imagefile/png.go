package imagefile

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"gocv.io/x/gocv"
)

// decodePNG decodes with Go rather than libpng, which prints warnings (such as "iCCP: known incorrect sRGB
// profile") straight to stderr.
func decodePNG(data []byte) (gocv.Mat, error) {
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%w (PNG: %v)", ErrNotImage, err)
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

// pngLevel maps a 0-9 compression level (OpenCV's IMWRITE_PNG_COMPRESSION) onto Go's four.
func pngLevel(level int) png.CompressionLevel {
	switch {
	case level <= 0:
		return png.NoCompression
	case level <= 3:
		return png.BestSpeed
	case level <= 7:
		return png.DefaultCompression
	}
	return png.BestCompression
}

// encodePNG writes an opaque 8-bit RGB PNG (Go's encoder picks RGB over RGBA for an opaque picture).
func encodePNG(m gocv.Mat, level int) ([]byte, error) {
	pix, err := m.DataPtrUint8()
	if err != nil {
		return nil, err
	}
	w, h, step := m.Cols(), m.Rows(), m.Step()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		src, dst := pix[y*step:y*step+3*w], img.Pix[y*img.Stride:]
		for x := 0; x < w; x++ {
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = src[3*x+2], src[3*x+1], src[3*x], 0xFF
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: pngLevel(level)}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("imagefile: PNG: %w", err)
	}
	return buf.Bytes(), nil
}
