package imagefile

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"os"
)

// Size reads a PNG's or JPEG's width and height from its header, without decoding a pixel, so that a picture too
// large for the memory budget can be refused before it costs anything (FFmpeg's probe decodes a PNG whole). ok is
// false for other formats, and for headers Go's decoders cannot read (arithmetic-coded JPEG): the caller learns
// the size from a probe then.
func Size(path string) (width, height int, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	head, _ := r.Peek(len(pngMagic))
	var cfg image.Config
	switch {
	case bytes.HasPrefix(head, pngMagic):
		cfg, err = png.DecodeConfig(r)
	case bytes.HasPrefix(head, jpegMagic):
		cfg, err = jpeg.DecodeConfig(r)
	default:
		return 0, 0, false, nil
	}
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, 0, false, nil
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return 0, 0, false, fmt.Errorf("%s: %w", path, err)
	}
	return cfg.Width, cfg.Height, true, nil
}
