// Package bgrframe allocates the BGR frames that pictures and video frames are held in: gocv Mats whose buffer has
// media.FramePadding bytes after the last pixel, so that pkg/media's decoder and encoder convert into and out of
// them in place (FFmpeg's converters write and read a little past a picture's end). It must never hold frames
// itself: callers own and close what it returns.
package bgrframe

import (
	"fmt"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/media"
)

// New returns a w x h 8-bit BGR Mat and its pixels as a slice of w*h*3 bytes whose capacity reaches media.FramePadding
// further, inside the same allocation. The Mat is continuous; closing it frees the buffer (the slice must not be
// used after that).
func New(w, h int) (gocv.Mat, []byte, error) {
	if w <= 0 || h <= 0 {
		return gocv.Mat{}, nil, fmt.Errorf("bgrframe: %dx%d", w, h)
	}
	row := w * 3
	spare := (media.FramePadding + row - 1) / row
	whole := gocv.NewMatWithSize(h+spare, w, gocv.MatTypeCV8UC3)
	defer whole.Close() // the view below holds the buffer (OpenCV counts its references)
	all, err := whole.DataPtrUint8()
	if err != nil {
		return gocv.Mat{}, nil, fmt.Errorf("bgrframe: %w", err)
	}
	return whole.RowRange(0, h), all[: row*h : len(all)], nil
}
