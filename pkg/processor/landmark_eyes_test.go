package processor

import (
	"image"
	"sort"
	"testing"

	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// eyeWhite measures from pixels how open each eye is: the share of the eye contour's area that looks like the white
// of the eye, i.e. at most half the skin's colour saturation and at least 70% of its brightness (skin: the median
// of a patch below the eye). The mesh model's lids do not follow a closed eye (on the wink of
// pexels_keijiro_facelandmark_Test2.jpg EyeOpenness gives both eyes ~0.27), so tests use this to see a wink.
func eyeWhite(tb testing.TB, img gocv.Mat, m face.Mesh) (left, right float64) {
	tb.Helper()
	hsv := gocv.NewMat()
	defer hsv.Close()
	gocv.CvtColor(img, &hsv, gocv.ColorBGRToHSVFull)
	px, err := hsv.DataPtrUint8()
	if err != nil {
		tb.Fatal(err)
	}
	w, h := hsv.Cols(), hsv.Rows()
	one := func(contour []int, outer, inner int) float64 {
		poly := m.Polygon(nil, contour)
		a, b := m.Points[outer], m.Points[inner]
		width := dist(a, b)
		ux, uy := float64(b.X-a.X)/width, float64(b.Y-a.Y)/width
		vx, vy := -uy, ux
		if vy < 0 {
			vx, vy = -vx, -vy // down the face
		}
		var ss, vs []int
		for s := 0.2; s <= 0.8; s += 0.05 {
			for t := 0.35; t <= 0.55; t += 0.05 {
				x := int(float64(a.X) + s*width*ux + t*width*vx)
				y := int(float64(a.Y) + s*width*uy + t*width*vy)
				if x >= 0 && y >= 0 && x < w && y < h {
					ss = append(ss, int(px[3*(y*w+x)+1]))
					vs = append(vs, int(px[3*(y*w+x)+2]))
				}
			}
		}
		sort.Ints(ss)
		sort.Ints(vs)
		skinS, skinV := ss[len(ss)/2], vs[len(vs)/2]
		box := image.Rect(w, h, 0, 0)
		for _, p := range poly {
			box = box.Union(image.Rect(int(p.X), int(p.Y), int(p.X)+1, int(p.Y)+1))
		}
		box = box.Intersect(image.Rect(0, 0, w, h))
		var in, white int
		for y := box.Min.Y; y < box.Max.Y; y++ {
			for x := box.Min.X; x < box.Max.X; x++ {
				if !insidePolygon(face.Point{X: float32(x), Y: float32(y)}, poly) {
					continue
				}
				in++
				i := 3 * (y*w + x)
				if 2*int(px[i+1]) <= skinS && 10*int(px[i+2]) >= 7*skinV {
					white++
				}
			}
		}
		if in == 0 {
			return 0
		}
		return float64(white) / float64(in)
	}
	return one(face.MeshImageLeftEye[:], face.MeshImageLeftEyeOuter, face.MeshImageLeftEyeInner),
		one(face.MeshImageRightEye[:], face.MeshImageRightEyeOuter, face.MeshImageRightEyeInner)
}
