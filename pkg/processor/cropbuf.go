package processor

import (
	"gocv.io/x/gocv"
)

// cropBuf is a growable uint8 pixel buffer from which crop-sized Mats are cut. Face crops change size by a pixel or
// two from frame to frame; cutting views from one buffer means pixel memory is allocated when the largest crop so
// far grows, not once per frame.
type cropBuf struct {
	backing  gocv.Mat // 1 x capacity CV_8UC1
	capacity int      // bytes
}

// view returns a continuous rows x cols uint8 Mat with the given number of channels over the buffer's first bytes.
// The caller Closes it (a header only). Its contents are whatever the previous user left there. The header has no
// parent Mat, so OpenCV's filters treat its edges as image edges (their border modes apply) rather than reading the
// stale bytes that follow it in the buffer as neighbours, as they would from a region of the buffer.
func (b *cropBuf) view(rows, cols, channels int) gocv.Mat {
	return b.viewOf(rows, cols, gocv.MatType(int(gocv.MatTypeCV8U)+(channels-1)*8), rows*cols*channels)
}

// viewOf is view for any Mat type whose pixels take n bytes in all.
func (b *cropBuf) viewOf(rows, cols int, typ gocv.MatType, n int) gocv.Mat {
	if n > b.capacity {
		b.close()
		c := n + n/4 // headroom for the next, slightly larger crop
		b.backing = gocv.NewMatWithSize(1, c, gocv.MatTypeCV8UC1)
		b.capacity = c
	}
	data, err := b.backing.DataPtrUint8()
	if err != nil {
		panic(err) // a continuous CV_8UC1 Mat always has its bytes
	}
	m, err := gocv.NewMatFromBytes(rows, cols, typ, data[:n]) // wraps the C memory, no copy
	if err != nil {
		panic(err)
	}
	return m
}

func (b *cropBuf) close() {
	if b.backing.Ptr() != nil {
		b.backing.Close()
	}
	b.backing, b.capacity = gocv.Mat{}, 0
}
