package processor

import (
	"fmt"
	"image"
	"strings"

	onnxruntime "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// Helpers shared by the detectors: fitting a frame into a network input, and turning its pixels into floats.

// scaledPixels returns the pixels of img resized to scaled (BGR uint8, rows packed: scaled.X*3 bytes each). When img
// already has that size and is continuous its own pixels are returned; otherwise img is resized (or, for a
// non-continuous region, copied) into *buf, which is (re)allocated only when its size differs from scaled. The caller
// owns *buf and Closes it.
func scaledPixels(img gocv.Mat, scaled image.Point, buf *gocv.Mat) ([]uint8, error) {
	src := img
	same := img.Cols() == scaled.X && img.Rows() == scaled.Y
	if !same || !img.IsContinuous() {
		if buf.Ptr() == nil || buf.Cols() != scaled.X || buf.Rows() != scaled.Y {
			if buf.Ptr() != nil {
				buf.Close()
			}
			*buf = gocv.NewMatWithSize(scaled.Y, scaled.X, gocv.MatTypeCV8UC3)
		}
		if same {
			img.CopyTo(buf)
		} else {
			gocv.Resize(img, buf, scaled, 0, 0, gocv.InterpolationLinear)
		}
		src = *buf
	}
	pix, err := src.DataPtrUint8()
	if err != nil {
		return nil, err
	}
	if len(pix) < scaled.X*scaled.Y*3 {
		return nil, fmt.Errorf("scaled image has %d bytes, want %d", len(pix), scaled.X*scaled.Y*3)
	}
	return pix, nil
}

// closeMat closes a Mat that may be the zero value and leaves the zero value behind.
func closeMat(m *gocv.Mat) {
	if m.Ptr() != nil {
		m.Close()
	}
	*m = gocv.Mat{}
}

// fitInside is the size of a w x h frame scaled, keeping its aspect ratio, to fill a netW x netH input along one side
// (insightface's SCRFD pre-processing: the other side is truncated, never rounded up). Small frames are upscaled.
func fitInside(w, h, netW, netH int) image.Point {
	if h*netW > w*netH { // taller than the input: full height
		return image.Pt(max(1, netH*w/h), netH)
	}
	return image.Pt(netW, max(1, netW*h/w))
}

// pixelNorm maps a uint8 channel value to the network's float: lut[x] = (x - mean) / std, in the channel order
// given by rgb (false: B, G, R as OpenCV stores them; true: R, G, B).
type pixelNorm struct {
	rgb bool
	lut [256]float32
}

func newPixelNorm(rgb bool, mean, std float32) *pixelNorm {
	n := &pixelNorm{rgb: rgb}
	for i := range n.lut {
		n.lut[i] = (float32(i) - mean) / std
	}
	return n
}

// pad is the value of a black (zero) pixel, what letterbox padding holds.
func (n *pixelNorm) pad() float32 { return n.lut[0] }

// fillNCHW writes the sw x sh BGR pixels, normalised, into the top-left of a planar [3, netH, netW] input. Values
// outside the sw x sh rectangle are left as they are.
func (n *pixelNorm) fillNCHW(dst []float32, netW, netH int, pix []uint8, sw, sh int) {
	plane := netW * netH
	c0, c1, c2 := dst[:plane], dst[plane:2*plane], dst[2*plane:3*plane]
	first, last := 0, 2 // the BGR byte offsets written to planes 0 and 2
	if n.rgb {
		first, last = 2, 0
	}
	lut := &n.lut
	for y := 0; y < sh; y++ {
		row := pix[y*sw*3 : (y+1)*sw*3]
		o := y * netW
		p0, p1, p2 := c0[o:o+sw], c1[o:o+sw], c2[o:o+sw]
		for x := range p0 {
			px := row[3*x : 3*x+3]
			p0[x] = lut[px[first]]
			p1[x] = lut[px[1]]
			p2[x] = lut[px[last]]
		}
	}
}

// fillNHWC writes the sw x sh BGR pixels, normalised, into the top-left of an interleaved [netH, netW, 3] input.
// Values outside the sw x sh rectangle are left as they are.
func (n *pixelNorm) fillNHWC(dst []float32, netW int, pix []uint8, sw, sh int) {
	first, last := 0, 2
	if n.rgb {
		first, last = 2, 0
	}
	lut := &n.lut
	for y := 0; y < sh; y++ {
		row := pix[y*sw*3 : (y+1)*sw*3]
		out := dst[y*netW*3 : (y*netW+sw)*3]
		for x := 0; x < sw; x++ {
			px := row[3*x : 3*x+3]
			o := out[3*x : 3*x+3]
			o[0] = lut[px[first]]
			o[1] = lut[px[1]]
			o[2] = lut[px[last]]
		}
	}
}

// fillFloats sets every value of dst to v.
func fillFloats(dst []float32, v float32) {
	for i := range dst {
		dst[i] = v
	}
}

// newTensors makes one zeroed float tensor per shape; on error it destroys those it made.
func newTensors(shapes []onnxruntime.Shape) ([]*onnxruntime.Tensor[float32], error) {
	ts := make([]*onnxruntime.Tensor[float32], 0, len(shapes))
	for _, s := range shapes {
		t, err := onnxruntime.NewEmptyTensor[float32](s)
		if err != nil {
			destroyTensors(ts)
			return nil, fmt.Errorf("tensor %v: %w", s, err)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

func destroyTensors(ts []*onnxruntime.Tensor[float32]) {
	for _, t := range ts {
		if t != nil {
			t.Destroy()
		}
	}
}

// tensorValues converts tensors to the []Value a session's Run takes.
func tensorValues(ts []*onnxruntime.Tensor[float32]) []onnxruntime.Value {
	v := make([]onnxruntime.Value, len(ts))
	for i, t := range ts {
		v[i] = t
	}
	return v
}

// describeIO is a one-line summary of a model's inputs and outputs for error messages:
// `inputs (1): input.1 [1 3 -1 -1]; outputs (9): 448 [-1 1], ...` (-1 is a dynamic dimension).
func describeIO(ins, outs []onnxruntime.InputOutputInfo) string {
	list := func(infos []onnxruntime.InputOutputInfo) string {
		s := make([]string, len(infos))
		for i, x := range infos {
			s[i] = fmt.Sprintf("%s %v %v", x.Name, []int64(x.Dimensions), x.DataType)
		}
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("inputs (%d): %s; outputs (%d): %s", len(ins), list(ins), len(outs), list(outs))
}
