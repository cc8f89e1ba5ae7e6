package processor

import (
	"image"

	"gocv.io/x/gocv"
)

// cropBuf is a growable uint8 pixel buffer from which crop-sized Mats are cut. Face crops change size by a pixel or
// two from frame to frame; cutting views from one buffer means pixel memory is allocated when the largest crop so
// far grows, not once per frame.
type cropBuf struct {
	backing  gocv.Mat // 1 x capacity CV_8UC1
	capacity int      // bytes
}

// view returns a continuous rows x cols uint8 Mat with the given number of channels, backed by the buffer. The caller
// Closes it (a header only). Its contents are whatever the previous user left there.
func (b *cropBuf) view(rows, cols, channels int) gocv.Mat {
	n := rows * cols * channels
	if n > b.capacity {
		b.close()
		c := n + n/4 // headroom for the next, slightly larger crop
		b.backing = gocv.NewMatWithSize(1, c, gocv.MatTypeCV8UC1)
		b.capacity = c
	}
	r := b.backing.Region(image.Rect(0, 0, n, 1))
	defer r.Close()
	return r.Reshape(channels, rows)
}

func (b *cropBuf) close() {
	if b.backing.Ptr() != nil {
		b.backing.Close()
	}
	b.backing, b.capacity = gocv.Mat{}, 0
}
