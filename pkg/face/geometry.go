package face

import "math"

// geometryPoints are the mesh landmarks of the geometry descriptor: the face outline, the eye corners and the nose
// tip, which move little with expression (the lips, which move most, are left out).
var geometryPoints = func() []int {
	idx := append([]int(nil), MeshFaceOval[:]...)
	return append(idx, MeshImageLeftEyeOuter, MeshImageLeftEyeInner, MeshImageRightEyeInner, MeshImageRightEyeOuter, MeshNoseTip)
}()

// GeometryValues is the length of a GeometryOf descriptor.
var GeometryValues = 2 * len(geometryPoints)

// GeometryOf is a face's shape as a descriptor for re-identification without a recognizer: the outline, eye
// corners and nose tip in a frame where the outer eye corners lie at (-0.5, 0) and (0.5, 0), scaled so that
// Distance between two descriptors is the mean squared displacement of a point in eye-distance units. It does not
// change with the face's position, size or roll; it does with yaw, pitch and jaw, so it only re-identifies a person
// where continuity cannot (a segment's start, after the face was lost). nil when the eyes coincide.
func GeometryOf(m Mesh) []float32 {
	a, b := m.Points[MeshImageLeftEyeOuter], m.Points[MeshImageRightEyeOuter]
	ex, ey := float64(b.X-a.X), float64(b.Y-a.Y)
	d2 := ex*ex + ey*ey
	if !(d2 > 1e-12) || math.IsInf(d2, 0) {
		return nil
	}
	// p -> rotate by -angle of the eye line, scale 1/eye distance, about the eyes' midpoint: (u, v) = R p / d.
	cx, cy := float64(a.X+b.X)/2, float64(a.Y+b.Y)/2
	w := 1 / math.Sqrt(float64(len(geometryPoints))) // Distance = mean over points
	out := make([]float32, 0, GeometryValues)
	for _, i := range geometryPoints {
		px, py := float64(m.Points[i].X)-cx, float64(m.Points[i].Y)-cy
		u := (px*ex + py*ey) / d2
		v := (-px*ey + py*ex) / d2
		out = append(out, float32(u*w), float32(v*w))
	}
	return out
}
