package face

import "math"

// MeshPoints is the number of landmarks of the MediaPipe Face Mesh (without the refined iris points).
const MeshPoints = 468

// Mesh is one face's 468 MediaPipe Face Mesh landmarks in image pixels. The topology (which index is which part of
// the face) is MediaPipe's; the index lists below name the parts Facefleet uses.
type Mesh struct {
	// Points are the landmarks in image pixels (x right, y down).
	Points [MeshPoints]Point
	// Z is each landmark's depth in the same pixel scale as Points, relative to the face's centre: smaller is
	// nearer the camera (MediaPipe's convention).
	Z [MeshPoints]float32
	// Presence is the model's face-presence logit: above 0 the crop holds a face.
	Presence float32
}

// Mesh landmark indices. "ImageLeft" is the eye or mouth corner on the image's left for an upright, unmirrored face
// (the subject's right; face.LeftEye of the detector), as in the rest of this package. Verified by drawing them on
// grace_hopper.jpg and pexels_keijiro_facelandmark_Test2.jpg (see pkg/processor/landmark_test.go).
const (
	MeshForeheadTop = 10  // top of the face oval, the midline at the hairline
	MeshChin        = 152 // bottom of the face oval
	MeshNoseTip     = 1

	MeshImageLeftEyeOuter  = 33  // eye corner near the image's left edge of the face
	MeshImageLeftEyeInner  = 133 // eye corner near the nose
	MeshImageLeftEyeUpper  = 159 // upper lid, middle
	MeshImageLeftEyeLower  = 145 // lower lid, middle
	MeshImageRightEyeInner = 362
	MeshImageRightEyeOuter = 263
	MeshImageRightEyeUpper = 386
	MeshImageRightEyeLower = 374

	MeshMouthImageLeft  = 61  // outer lip corner on the image's left
	MeshMouthImageRight = 291 // outer lip corner on the image's right
	MeshUpperLipInner   = 13  // inner edge of the upper lip, middle
	MeshLowerLipInner   = 14  // inner edge of the lower lip, middle
)

// MeshFaceOval is MediaPipe's FACEMESH_FACE_OVAL as a closed polygon, clockwise on the image from the forehead top
// (10) over the image-right side down to the chin (152) and back up the image-left side.
var MeshFaceOval = [...]int{
	10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
	152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
}

// MeshImageLeftEye is the contour of the eye on the image's left (MediaPipe FACEMESH_RIGHT_EYE) as a closed
// polygon: outer corner 33, upper lid to the inner corner 133, lower lid back.
var MeshImageLeftEye = [...]int{33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7}

// MeshImageRightEye is the contour of the eye on the image's right (MediaPipe FACEMESH_LEFT_EYE) as a closed
// polygon: inner corner 362, upper lid to the outer corner 263, lower lid back.
var MeshImageRightEye = [...]int{362, 398, 384, 385, 386, 387, 388, 466, 263, 249, 390, 373, 374, 380, 381, 382}

// MeshInnerLips is the inner lip contour (the mouth opening) as a closed polygon: image-left inner corner 78, upper
// lip to the image-right inner corner 308, lower lip back.
var MeshInnerLips = [...]int{78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95}

// MeshOuterLips is the outer lip contour as a closed polygon, from the image-left corner 61 over the upper lip.
var MeshOuterLips = [...]int{61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146}

// Vertical lid pairs (upper, lower) and the corners of each eye, for EyeOpenness.
var (
	imageLeftEyeLids  = [3][2]int{{160, 144}, {159, 145}, {158, 153}}
	imageRightEyeLids = [3][2]int{{385, 380}, {386, 374}, {387, 373}}
)

func (m *Mesh) dist(i, j int) float64 {
	a, b := m.Points[i], m.Points[j]
	return math.Hypot(float64(a.X-b.X), float64(a.Y-b.Y))
}

// EyeOpenness is each eye's opening (the mean of three lid-to-lid distances) divided by its width (corner to
// corner); left is the eye on the image's left. It is only as good as the lid landmarks: MediaPipe's first face
// mesh gives 0.22-0.28 on open eyes and barely less on a shut one.
func EyeOpenness(m Mesh) (left, right float32) {
	open := func(lids [3][2]int, c0, c1 int) float32 {
		w := m.dist(c0, c1)
		if w < 1e-6 {
			return 0
		}
		var s float64
		for _, p := range lids {
			s += m.dist(p[0], p[1])
		}
		return float32(s / 3 / w)
	}
	return open(imageLeftEyeLids, MeshImageLeftEyeOuter, MeshImageLeftEyeInner),
		open(imageRightEyeLids, MeshImageRightEyeInner, MeshImageRightEyeOuter)
}

// MouthOpenness is the gap between the inner lips (13 to 14) divided by the mouth width (corner 61 to 291): near 0
// for a closed mouth, 0.3 and more for a wide-open one.
func MouthOpenness(m Mesh) float32 {
	w := m.dist(MeshMouthImageLeft, MeshMouthImageRight)
	if w < 1e-6 {
		return 0
	}
	return float32(m.dist(MeshUpperLipInner, MeshLowerLipInner) / w)
}

// Bounds is the smallest box holding every point of the mesh.
func (m *Mesh) Bounds() Box {
	b := Box{X1: m.Points[0].X, Y1: m.Points[0].Y, X2: m.Points[0].X, Y2: m.Points[0].Y}
	for _, p := range m.Points[1:] {
		b.X1, b.Y1 = min(b.X1, p.X), min(b.Y1, p.Y)
		b.X2, b.Y2 = max(b.X2, p.X), max(b.Y2, p.Y)
	}
	return b
}

// Finite reports whether every point and depth is a finite number.
func (m *Mesh) Finite() bool {
	for i, p := range m.Points {
		if !finite(p.X) || !finite(p.Y) || !finite(m.Z[i]) {
			return false
		}
	}
	return finite(m.Presence)
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// Polygon returns the points of m at the given indices, appended to dst.
func (m *Mesh) Polygon(dst []Point, idx []int) []Point {
	for _, i := range idx {
		dst = append(dst, m.Points[i])
	}
	return dst
}

// Transform returns the mesh with every point mapped by a and depths scaled by a's scale.
func (m Mesh) Transform(a Affine) Mesh {
	s := float32(a.Scale())
	for i := range m.Points {
		m.Points[i] = a.Apply(m.Points[i])
		m.Z[i] *= s
	}
	return m
}
