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
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%w (PNG: %v)", ErrNotImage, err)
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return gocv.Mat{}, err
	}
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
	toBGR(img, pix)
	return m, nil
}

// toBGR writes img's straight (non-premultiplied) colour, alpha dropped, as packed BGR: what OpenCV's IMREAD_COLOR
// gives. The 8-bit layouts Go's decoder returns for RGB, RGBA and grey PNGs are read directly; the rest (palettes,
// 16 bits) go through the colour model, about ten times slower.
func toBGR(img image.Image, pix []byte) {
	b := img.Bounds()
	w := b.Dx()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		dst := pix[(y-b.Min.Y)*3*w : (y-b.Min.Y+1)*3*w]
		switch im := img.(type) {
		case *image.NRGBA:
			src := im.Pix[im.PixOffset(b.Min.X, y):]
			for x := 0; x < w; x++ {
				dst[3*x], dst[3*x+1], dst[3*x+2] = src[4*x+2], src[4*x+1], src[4*x]
			}
			continue
		case *image.Gray:
			src := im.Pix[im.PixOffset(b.Min.X, y):]
			for x := 0; x < w; x++ {
				dst[3*x], dst[3*x+1], dst[3*x+2] = src[x], src[x], src[x]
			}
			continue
		case *image.RGBA:
			src := im.Pix[im.PixOffset(b.Min.X, y):]
			opaque := true
			for x := 0; x < w && opaque; x++ {
				opaque = src[4*x+3] == 0xFF
			}
			if opaque { // premultiplied equals straight
				for x := 0; x < w; x++ {
					dst[3*x], dst[3*x+1], dst[3*x+2] = src[4*x+2], src[4*x+1], src[4*x]
				}
				continue
			}
		}
		for x := 0; x < w; x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, y)).(color.NRGBA)
			dst[3*x], dst[3*x+1], dst[3*x+2] = c.B, c.G, c.R
		}
	}
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
