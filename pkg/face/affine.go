package face

import (
	"errors"
	"fmt"
	"math"
)

// Affine is a 2x3 affine matrix mapping (x, y) to (a00*x + a01*y + a02, a10*x + a11*y + a12), the layout OpenCV's
// warpAffine takes.
type Affine [2][3]float64

// Identity is the affine that maps every point to itself.
var Identity = Affine{{1, 0, 0}, {0, 1, 0}}

// Translation returns the affine that adds (dx, dy).
func Translation(dx, dy float64) Affine { return Affine{{1, 0, dx}, {0, 1, dy}} }

// Apply maps p.
func (a Affine) Apply(p Point) Point {
	x, y := float64(p.X), float64(p.Y)
	return Point{
		float32(a[0][0]*x + a[0][1]*y + a[0][2]),
		float32(a[1][0]*x + a[1][1]*y + a[1][2]),
	}
}

// Invert returns the inverse transform; an error when a is singular.
func (a Affine) Invert() (Affine, error) {
	det := a[0][0]*a[1][1] - a[0][1]*a[1][0]
	if det == 0 || math.IsNaN(det) || math.IsInf(det, 0) || math.Abs(det) < 1e-12 {
		return Affine{}, errors.New("face: affine transform is singular")
	}
	i00, i01 := a[1][1]/det, -a[0][1]/det
	i10, i11 := -a[1][0]/det, a[0][0]/det
	return Affine{
		{i00, i01, -(i00*a[0][2] + i01*a[1][2])},
		{i10, i11, -(i10*a[0][2] + i11*a[1][2])},
	}, nil
}

// Then is the composition "first a, then b": Then(a, b).Apply(p) == b.Apply(a.Apply(p)).
func (a Affine) Then(b Affine) Affine {
	var r Affine
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			r[i][j] = b[i][0]*a[0][j] + b[i][1]*a[1][j]
		}
		r[i][2] += b[i][2]
	}
	return r
}

// Scale is the transform's mean linear scale factor, sqrt(|det|); for a similarity it is exactly its scale.
func (a Affine) Scale() float64 {
	return math.Sqrt(math.Abs(a[0][0]*a[1][1] - a[0][1]*a[1][0]))
}

// EstimateSimilarity fits the similarity transform (rotation, uniform scale, translation; no reflection or shear)
// that maps src onto dst with least squared error (Umeyama 1991, as skimage's SimilarityTransform and OpenCV's
// estimateAffinePartial2D without RANSAC). It needs at least two distinct source points.
func EstimateSimilarity(src, dst []Point) (Affine, error) {
	n := len(src)
	if n != len(dst) {
		return Affine{}, fmt.Errorf("face: %d source points but %d destination points", n, len(dst))
	}
	if n < 2 {
		return Affine{}, fmt.Errorf("face: a similarity needs at least 2 point pairs, got %d", n)
	}
	var msx, msy, mdx, mdy float64
	for i := range src {
		msx += float64(src[i].X)
		msy += float64(src[i].Y)
		mdx += float64(dst[i].X)
		mdy += float64(dst[i].Y)
	}
	fn := float64(n)
	msx, msy, mdx, mdy = msx/fn, msy/fn, mdx/fn, mdy/fn
	// With a = s*cos(t), b = s*sin(t) the model dst = [a -b; b a] src + t is linear in (a, b); centring removes t.
	var varS, num1, num2 float64
	for i := range src {
		sx, sy := float64(src[i].X)-msx, float64(src[i].Y)-msy
		dx, dy := float64(dst[i].X)-mdx, float64(dst[i].Y)-mdy
		varS += sx*sx + sy*sy
		num1 += sx*dx + sy*dy
		num2 += sx*dy - sy*dx
	}
	if varS < 1e-12 {
		return Affine{}, errors.New("face: source points are all the same point")
	}
	a, b := num1/varS, num2/varS
	if a == 0 && b == 0 {
		return Affine{}, errors.New("face: degenerate point sets (zero scale)")
	}
	return Affine{
		{a, -b, mdx - (a*msx - b*msy)},
		{b, a, mdy - (b*msx + a*msy)},
	}, nil
}

// arcface112 is insightface's arcface_dst for a 112x112 crop.
var arcface112 = [5]Point{
	{38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366}, {41.5493, 92.3655}, {70.7299, 92.2041},
}

// ffhq512 is the FFHQ template for a 512x512 crop (GFPGAN, CodeFormer, GPEN).
var ffhq512 = [5]Point{
	{192.98138, 239.94708}, {318.90277, 240.1936}, {256.63416, 314.01935}, {201.26117, 371.41043}, {313.08905, 371.15118},
}

// ArcFaceTemplate is the ArcFace alignment template for a size x size crop: for multiples of 112 the 112 template
// scaled by size/112, otherwise scaled by size/128 and shifted right by 8*size/128 (insightface estimate_norm; the
// 128x128 inswapper crop is the 112 template shifted 8 px right).
func ArcFaceTemplate(size int) [5]Point {
	ratio, dx := float64(size)/112, 0.0
	if size%112 != 0 {
		ratio = float64(size) / 128
		dx = 8 * ratio
	}
	var t [5]Point
	for i, p := range arcface112 {
		t[i] = Point{float32(float64(p.X)*ratio + dx), float32(float64(p.Y) * ratio)}
	}
	return t
}

// FFHQTemplate is the FFHQ alignment template scaled to a size x size crop.
func FFHQTemplate(size int) [5]Point {
	r := float64(size) / 512
	var t [5]Point
	for i, p := range ffhq512 {
		t[i] = Point{float32(float64(p.X) * r), float32(float64(p.Y) * r)}
	}
	return t
}
