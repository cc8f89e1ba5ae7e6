package processor

import (
	"cmp"
	"errors"
	"fmt"
	"image"
	"math"
	"slices"
	"sort"

	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// MeshSwapper replaces target faces in a frame in place using each target's 468-point mesh, touching only each
// face's crop. The caller finds the meshes (detect, then Landmarker.Landmarks per face) and passes them in the
// order of targets.
type MeshSwapper interface {
	Swap(frame gocv.Mat, targets []face.Face, meshes []face.Mesh) error
	Close() error
}

// MeshSwapConfig configures the landmark (mesh) swapper.
type MeshSwapConfig struct {
	// MaskBlur is the softness of the mask's outer edge, as a fraction of the face size (the shorter side of its
	// box), with FaceFusion's --face-mask-blur scale: the edge has the profile of a Gaussian of sigma
	// MaskBlur*size/12 (0.3 on a 170 px face: sigma 4 px, a ramp 20 px wide), ending at the face oval.
	// 0 gives a hard edge. Default 0.3.
	MaskBlur float32
	// MaskPadding cuts the mask back from its top, right, bottom and left, in percent of the face oval's height
	// (top, bottom) or width (right, left), measured along the face's own axes (FaceFusion's --face-mask-padding).
	// Default 0.
	MaskPadding [4]float32
	// Poisson blends with OpenCV's seamlessClone (normal clone) before the feathered alpha blend, as
	// ClassicalConfig.Poisson. Default false.
	Poisson bool
	// ColorTransfer blends the warped source in Lab (meshblend.go): its low frequencies matched region by region
	// to the target's, chroma moves clamped, the source's detail kept where it is skin and the target's where the
	// source wears glasses. false pastes the warped source as it is. Default true.
	ColorTransfer bool
	// ShapeStrength is how far the target's face moves towards the source's proportions (meshshape.go): 0 keeps
	// the target's geometry, 1 takes the source's outline, nose, eye size and spacing and brows (within
	// maxShapeShift); the lips and eyelids keep the target's shape. Default 0: on the shared faces 0.5 moved
	// identity by under 0.01 and cost expression and artefacts (docs/BENCHMARKS.md, "Identity through shape").
	ShapeStrength float32
}

// DefaultMeshSwapConfig is the configuration that looked right on the test faces.
func DefaultMeshSwapConfig() MeshSwapConfig {
	return MeshSwapConfig{MaskBlur: 0.3, ColorTransfer: true}
}

// Validate reports a configuration NewMeshSwap would refuse.
func (c MeshSwapConfig) Validate() error {
	if !(c.MaskBlur >= 0 && c.MaskBlur <= 1) { // also catches NaN
		return fmt.Errorf("meshswap: MaskBlur must be in [0, 1], got %v", c.MaskBlur)
	}
	if !(c.MaskPadding[0]+c.MaskPadding[2] < 100) || !(c.MaskPadding[1]+c.MaskPadding[3] < 100) {
		return fmt.Errorf("meshswap: MaskPadding %v leaves no mask (top+bottom and left+right must be under 100)", c.MaskPadding)
	}
	if !(c.ShapeStrength >= 0 && c.ShapeStrength <= 1) {
		return fmt.Errorf("meshswap: ShapeStrength must be in [0, 1], got %v", c.ShapeStrength)
	}
	for _, p := range c.MaskPadding {
		if !(p >= 0 && p <= 100) {
			return fmt.Errorf("meshswap: MaskPadding values must be percentages in [0, 100], got %v", c.MaskPadding)
		}
	}
	return nil
}

const (
	// meshSourceMargin is how many pixels beyond the source mesh's bounds the stored source crop keeps, for the
	// bilinear taps at its edge.
	meshSourceMargin = 2
	// meshHoleBlur is the sigma of the eye and mouth openings' soft edge, as a fraction of the face size (at least
	// 1 px): narrow, so the target's own eyes and mouth show through with lids and lips from the source.
	meshHoleBlur = 0.008
	// eyeHoleGrow widens each eye opening by this fraction of the eye's width on every side, so the target's own
	// lids and lashes show: this model's lid landmarks do not follow a closing eye, so a blink or wink is only kept
	// if the target's lids are.
	eyeHoleGrow = 0.15
	// mouthHoleGrow is how far towards the outer lip contour the mouth opening reaches on a wide-open mouth, as a
	// fraction of the lip's thickness; mouthClosed and mouthOpen are the MouthOpenness between which it grows from 0.
	mouthHoleGrow = 0.65
	mouthClosed   = 0.03
	mouthOpen     = 0.2
	// sourceEdgeInset and sourceEdgeBlur shape the source's own face mask (fractions of the source face size): it
	// reaches 0 sourceEdgeInset inside the source's face oval, with a Gaussian edge of sigma sourceEdgeBlur.
	sourceEdgeInset = 0.03
	sourceEdgeBlur  = 0.03
	// foreheadRamp is the band, centred on the tops of the eyebrows (fraction of the source face size), over which
	// the forehead's skin gate comes to full strength; skinNear and skinFar are the Mahalanobis distances from the skin colour at which a
	// forehead pixel starts and stops counting as skin; skinMinSpread floors the skin's standard deviation per Lab
	// channel (8-bit L, a, b), so a very even skin does not reject its own shading.
	foreheadRamp = 0.05
	skinNear     = 2.0
	skinFar      = 3.0
	// blendSkinNear and blendSkinFar are the same for the glasses test's skin model (glassesZone, spreads floored
	// by blendSkinSpread): frames, lens rims and their shadows fall outside.
	blendSkinNear = 2.0
	blendSkinFar  = 3.0
	// minFoldArea is the smallest target triangle (px^2) that is drawn; smaller or negative ones have folded over
	// (a closed eye or mouth, the far side of a turned head) and are skipped.
	minFoldArea = 1e-3
	// rasterFrac is the fraction bits of the raster's source positions (stepped by a rounded increment per pixel:
	// off by under 1e-3 px at the end of a 1000 px row), weightFrac those of its bilinear weights: its pixels are
	// within 1 of an exact bilinear tap's and equal to it on all but a few percent.
	rasterFrac = 20
	rasterOne  = 1 << rasterFrac
	weightFrac = 12
	weightOne  = 1 << weightFrac
	weightMask = weightOne - 1
)

// colourRegion spans the inner face, whose hull (less the eyes and lips: innerFaceRegion) is where the source's skin
// colour is measured: the outer eye corners, the cheeks below them, the mouth corners and the lower lip.
var colourRegion = [...]int{face.MeshImageLeftEyeOuter, face.MeshImageRightEyeOuter, 116, 345, face.MeshMouthImageLeft,
	face.MeshMouthImageRight, 17}

// eyebrowTops are the upper edges of both eyebrows (MediaPipe 70, 63, 105, 66, 107 and 336, 296, 334, 293, 300).
var eyebrowTops = [...]int{70, 63, 105, 66, 107, 336, 296, 334, 293, 300}

var skinMinSpread = [3]float64{8, 3, 3}

// blendSkinSpread floors the glasses test's skin spread per channel (blendSkinNear): lenient on L, so the face's own
// shading counts as skin, strict on a and b, so light frames of glasses, which differ from skin in hue, do not.
var blendSkinSpread = [3]float64{20, 3, 3}

// eyebrows are the outlines of both brows (MediaPipe's upper edge, then the lower edge back).
var eyebrows = [2][10]int{
	{70, 63, 105, 66, 107, 55, 65, 52, 53, 46},
	{300, 293, 334, 296, 336, 285, 295, 282, 283, 276},
}

// Scratch buffers of MeshSwap, by role.
const (
	mbTarget    = iota // the target crop, then the result
	mbWarped           // the source warped onto the target mesh (the target where no triangle lands)
	mbCover            // where a triangle landed: the source's own face mask there (srcMask), at least 1; 0 elsewhere
	mbHard             // face oval, padded, shrunk by the feather radius, within the box inset (0/255); then the alpha
	mbSoft             // the first blur pass
	mbHoles            // the target's eye and mouth openings; 0/255
	mbHolesSoft        // blurred mbHoles
	mbLabDst           // the target in Lab over the blend's box
	mbPMask            // binary support of the alpha, for seamlessClone
	mbCloned           // seamlessClone output
	mbSkin             // the share of the source's detail kept (srcSkin) where a triangle landed, 0 elsewhere
	mbShift            // dS of blend at full resolution over its box, 3 channels offset by 128
	mbBase             // dT of blend at full resolution over its box, 3 channels offset by 128
	nMeshBufs
)

// MeshSwap swaps faces without a model, using the 468-point meshes of the source and target faces: it warps the
// source face onto the target triangle by triangle (a piecewise-affine warp on a Delaunay triangulation of the
// source mesh, computed once), matches colour and blends it inside the target's face oval, leaving the target's
// own eye and mouth openings showing. Because the warp follows every landmark, the target's expression and head
// pose survive: an open mouth stays open (with the target's teeth), a closed eye stays closed.
//
// The source side has a mask of its own, made once: its face oval pulled in a little (so the hair or background at
// the source's face edge is never pasted, however far a turned head stretches that edge) and, above the eyebrows,
// only what looks like the source's skin (so bangs stay behind and the target's own forehead shows).
//
// All work is on the target's crop (its box clamped to the frame) in uint8 buffers reused between calls; pixels
// outside the box inset by maskInset are never changed.
type MeshSwap struct {
	cfg    MeshSwapConfig
	src    gocv.Mat // BGR crop of the source image around the source mesh (owned, continuous)
	srcPix []uint8  // src's pixels
	// srcW and srcH are src's size, kept so the per-triangle raster makes no cgo call for it.
	srcW, srcH int
	// srcMask is the source's own face mask over src: its face oval, shrunk and feathered, so that the hair or
	// background at the source's face edge is never pasted, however far a turned target stretches that edge.
	srcMask []uint8
	// srcSkin is the share (0..255) of the source's own detail that each source pixel keeps (makeSourceSkin); nil
	// when every pixel keeps all of it.
	srcSkin []uint8
	skinOut []uint8 // where warp writes the warped srcSkin; nil: not written
	srcPts  [face.MeshPoints]face.Point
	tris    []face.Triangle
	bufs    [nMeshBufs]cropBuf

	// Per-call scratch.
	order    []int
	depth    []float32
	poly     []face.Point
	poly2    []face.Point
	tgtPts   [face.MeshPoints]face.Point
	crossing []float64

	low     lowBlend
	glasses float64 // the share of the source's glasses zone that is not skin (glassesZone)

	shape  *shapeTransfer // nil with ShapeStrength 0
	orig   [face.MeshPoints]face.Point
	liq    []uint8    // the liquify's copy of the crop
	tracks faceTracks // the faces of the previous call, for smoothing in time
	boxes  []face.Box
}

// NewMeshSwap takes the source image, its face and the face's mesh (from a Landmarker), triangulates the mesh and
// keeps a copy of the source face region, so the caller may Close source afterwards.
func NewMeshSwap(source gocv.Mat, src face.Face, srcMesh face.Mesh, cfg MeshSwapConfig) (*MeshSwap, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkBGR("meshswap source", source); err != nil {
		return nil, err
	}
	if err := checkLandmarks(src); err != nil {
		return nil, fmt.Errorf("meshswap: source face: %w", err)
	}
	if !srcMesh.Finite() {
		return nil, errors.New("meshswap: source mesh has non-finite points")
	}
	if srcMesh.Presence <= 0 {
		return nil, fmt.Errorf("meshswap: source mesh presence logit %.1f: the landmarker saw no face", srcMesh.Presence)
	}
	w, h := source.Cols(), source.Rows()
	mb := srcMesh.Bounds()
	if c := mb.Center(); c.X < src.Box.X1 || c.X > src.Box.X2 || c.Y < src.Box.Y1 || c.Y > src.Box.Y2 {
		return nil, fmt.Errorf("meshswap: source mesh (centre %v) is not on the source face %v", c, src.Box)
	}
	rect := image.Rect(
		int(math.Floor(float64(mb.X1)))-meshSourceMargin, int(math.Floor(float64(mb.Y1)))-meshSourceMargin,
		int(math.Ceil(float64(mb.X2)))+meshSourceMargin+1, int(math.Ceil(float64(mb.Y2)))+meshSourceMargin+1,
	).Intersect(image.Rect(0, 0, w, h))
	if rect.Dx() < minSwapSide || rect.Dy() < minSwapSide {
		return nil, fmt.Errorf("meshswap: source mesh %v is outside or too small in the %dx%d source image", mb, w, h)
	}
	s := &MeshSwap{cfg: cfg}
	for i, p := range srcMesh.Points {
		s.srcPts[i] = face.Point{X: p.X - float32(rect.Min.X), Y: p.Y - float32(rect.Min.Y)}
	}
	tris, err := face.Delaunay(s.srcPts[:])
	if err != nil {
		return nil, fmt.Errorf("meshswap: triangulating the source mesh: %w", err)
	}
	s.tris = tris
	region := source.Region(rect)
	s.src = region.Clone()
	region.Close()
	s.srcW, s.srcH = s.src.Cols(), s.src.Rows()
	if s.srcPix, err = s.src.DataPtrUint8(); err != nil {
		s.Close()
		return nil, fmt.Errorf("meshswap: source pixels: %w", err)
	}
	size := float64(min(src.Box.Width(), src.Box.Height()))
	if cfg.ShapeStrength > 0 {
		s.shape = newShapeTransfer(&s.srcPts, size)
	}
	// The source in Lab, for its skin colour (the forehead gate, the glasses test) and, with ColorTransfer, the warp.
	lab := gocv.NewMat()
	defer lab.Close()
	gocv.CvtColor(s.src, &lab, gocv.ColorBGRToLab)
	lp, err := lab.DataPtrUint8()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("meshswap: source in Lab: %w", err)
	}
	if err := s.makeSourceMask(size, lp); err != nil {
		s.Close()
		return nil, fmt.Errorf("meshswap: source mask: %w", err)
	}
	if cfg.ColorTransfer {
		s.makeSourceSkin(size, lp)
		s.prepareSource(size, lp)
		lab.CopyTo(&s.src) // from here on the source is in Lab: the warp draws Lab
		if s.srcPix, err = s.src.DataPtrUint8(); err != nil {
			s.Close()
			return nil, fmt.Errorf("meshswap: source pixels: %w", err)
		}
	}
	return s, nil
}

// makeSourceMask fills s.srcMask: the source's face oval hull, shrunk so that after a blur of sigma
// sourceEdgeBlur*size it falls to 0 sourceEdgeInset*size inside the oval.
func (s *MeshSwap) makeSourceMask(size float64, lab []uint8) error {
	w, h := s.src.Cols(), s.src.Rows()
	sigma := math.Max(0.5, sourceEdgeBlur*size)
	k := int(math.Ceil(3 * sigma))
	poly := make([]face.Point, 0, len(face.MeshFaceOval))
	for _, i := range face.MeshFaceOval {
		poly = append(poly, s.srcPts[i])
	}
	poly = offsetPolygon(face.ConvexHull(poly), -(sourceEdgeInset*size + float64(k)))
	hard := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC1)
	defer hard.Close()
	soft := gocv.NewMat()
	defer soft.Close()
	hp, err := hard.DataPtrUint8()
	if err != nil {
		return err
	}
	clear(hp)
	s.fillPolygon(hp, w, h, poly, 255)
	// The forehead gate is eroded by the blur radius, so the blurred edge stops short of the hair it excludes.
	gate := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC1)
	defer gate.Close()
	gp, err := gate.DataPtrUint8()
	if err != nil {
		return err
	}
	for i := range gp {
		gp[i] = 255
	}
	s.gateForehead(gp, size, lab)
	kernel := gocv.GetStructuringElement(gocv.MorphRect, image.Pt(2*k+1, 2*k+1))
	defer kernel.Close()
	gocv.Erode(gate, &soft, kernel)
	gocv.Min(hard, soft, &hard)
	gocv.GaussianBlur(hard, &soft, image.Pt(2*k+1, 2*k+1), sigma, sigma, gocv.BorderConstant|gocv.BorderIsolated)
	sp, err := soft.DataPtrUint8()
	if err != nil {
		return err
	}
	s.srcMask = append([]uint8(nil), sp...)
	return nil
}

// makeSourceSkin fills s.srcSkin, the share of the source's own detail each source pixel keeps (255: all; 0: the
// target's detail under the source's colour). A source that wears glasses (glassesZone) gets 0 over the whole zone
// around its eyes, frames, brows and lenses together, with a soft edge: a colour model cannot tell a light frame
// or a tinted lens from skin, and a frame half removed leaves its ghost. Every other source keeps all its detail.
func (s *MeshSwap) makeSourceSkin(size float64, lab []uint8) {
	w, h := s.srcW, s.srcH
	zone, share := s.glassesZone(size, lab)
	s.glasses = share
	if share < glassesShare {
		return // all of the source's detail is kept: srcSkin stays nil, nothing to warp or weigh
	}
	s.srcSkin = make([]uint8, w*h)
	zm := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC1)
	defer zm.Close()
	zp := mustPix(zm)
	copy(zp, zone)
	sg := math.Max(1, glassesZoneBlur*size)
	k := 2*int(math.Ceil(3*sg)) + 1
	gocv.GaussianBlur(zm, &zm, image.Pt(k, k), sg, sg, gocv.BorderReplicate)
	for i, v := range zp {
		s.srcSkin[i] = 255 - v
	}
}

// glassesZone is the zone glasses cover on the source (255 inside: both eyes' contours grown by glassesReach of
// the eye's width, and their hull, which holds the bridge) and the share of it whose colour is far from the
// source's skin (fitSkin over the inner face), the eyes and brows themselves left out: frames, lens rims, their
// shadows.
func (s *MeshSwap) glassesZone(size float64, lp []uint8) ([]uint8, float64) {
	w, h := s.srcW, s.srcH
	zone := make([]uint8, w*h)
	var poly []face.Point
	inner := make([]uint8, w*h) // the eyes and brows, grown a little: not counted
	for _, eye := range [2][]int{face.MeshImageLeftEye[:], face.MeshImageRightEye[:]} {
		var e []face.Point
		for _, i := range eye {
			e = append(e, s.srcPts[i])
		}
		width := dist2(e[0], e[len(eye)/2])
		e = face.ConvexHull(e)
		in := append([]face.Point(nil), e...)
		s.fillPolygon(inner, w, h, offsetPolygon(in, glassesEyeKeep*width), 1)
		poly = append(poly, offsetPolygon(e, glassesReach*width)...)
	}
	s.fillPolygon(zone, w, h, face.ConvexHull(poly), 255)
	for _, b := range eyebrows { // brows are no skin either, with glasses or without
		var e []face.Point
		for _, i := range b {
			e = append(e, s.srcPts[i])
		}
		s.fillPolygon(inner, w, h, offsetPolygon(face.ConvexHull(e), glassesBrowGrow*size), 1)
	}
	m, ok := fitSkin(lp, s.innerFaceRegion(w, h))
	if !ok {
		return zone, 0
	}
	var n, far float64
	for i, z := range zone {
		if z == 0 || inner[i] != 0 {
			continue
		}
		n++
		far += 1 - m.likelihood(lp[3*i:3*i+3])
	}
	if n == 0 {
		return zone, 0
	}
	return zone, far / n
}

// innerFaceRegion is the source's colourRegion hull without its eyes and lips, 1 inside: where its skin is
// measured.
func (s *MeshSwap) innerFaceRegion(w, h int) []uint8 {
	region := make([]uint8, w*h)
	poly := make([]face.Point, 0, 24)
	for _, i := range colourRegion {
		poly = append(poly, s.srcPts[i])
	}
	s.fillPolygon(region, w, h, face.ConvexHull(poly), 1)
	for _, c := range [][]int{face.MeshImageLeftEye[:], face.MeshImageRightEye[:], face.MeshOuterLips[:]} {
		poly = poly[:0]
		for _, i := range c {
			poly = append(poly, s.srcPts[i])
		}
		s.fillPolygon(region, w, h, poly, 0)
	}
	return region
}

// Reset forgets the faces followed so far (meshtrack.go): the next Swap starts afresh, as on a new clip.
func (s *MeshSwap) Reset() { s.tracks = faceTracks{} }

// Triangles is the triangulation of the source mesh, indices into the 468 points; the slice is shared, not a copy.
func (s *MeshSwap) Triangles() []face.Triangle { return s.tris }

// Close frees the source crop and the scratch buffers. It is safe to call twice.
func (s *MeshSwap) Close() error {
	for i := range s.bufs {
		s.bufs[i].close()
	}
	s.low.close()
	if s.shape != nil {
		s.shape.pack.close()
	}
	if s.src.Ptr() != nil {
		s.src.Close()
	}
	s.src, s.srcPix = gocv.Mat{}, nil
	return nil
}

// Swap replaces each target face in frame (BGR uint8), in place; meshes[i] is the mesh of targets[i]. Faces too
// small or outside the frame, and faces whose mesh has a presence logit <= 0 (the landmarker saw no face), are
// left as they are.
func (s *MeshSwap) Swap(frame gocv.Mat, targets []face.Face, meshes []face.Mesh) error {
	if s.src.Ptr() == nil {
		return errors.New("meshswap: Swap after Close")
	}
	if len(meshes) != len(targets) {
		return fmt.Errorf("meshswap: %d targets but %d meshes", len(targets), len(meshes))
	}
	if err := checkBGR("frame", frame); err != nil {
		return err
	}
	s.boxes = s.boxes[:0]
	for _, t := range targets {
		s.boxes = append(s.boxes, t.Box)
	}
	tracks := s.tracks.match(s.boxes)
	for i := range targets {
		if err := s.swapOne(frame, targets[i], &meshes[i], tracks[i]); err != nil {
			return fmt.Errorf("meshswap: face %d: %w", i, err)
		}
	}
	return nil
}

// swapOne swaps one face; tr is its state in time. Everything it writes lies in crop = the target box clamped to
// the frame, inside the box inset by at least minMaskInset pixels: where the alpha is non-zero and, with
// ShapeStrength, in the liquify's ring around the face.
func (s *MeshSwap) swapOne(frame gocv.Mat, t face.Face, mesh *face.Mesh, tr *faceTrack) error {
	if err := checkLandmarks(t); err != nil {
		return err
	}
	if !mesh.Finite() {
		return errors.New("mesh has non-finite points")
	}
	if mesh.Presence <= 0 {
		return nil
	}
	crop := t.Box.Clamp(frame.Cols(), frame.Rows())
	if crop.Dx() < minSwapSide || crop.Dy() < minSwapSide {
		return nil
	}
	w, h := crop.Dx(), crop.Dy()
	size := float64(min(t.Box.Width(), t.Box.Height()))
	inset := max(minMaskInset, int(math.Ceil(maskInset*size)))
	inner := image.Rect(inset, inset, w-inset, h-inset) // the alpha's outer limit, crop coordinates
	// The soft edge is two passes of a (2r+1)-wide box blur, which has the variance of a Gaussian of sigma
	// MaskBlur*size/12 at a cost that does not grow with r; it reaches k = 2r px beyond the hard mask.
	sigma := float64(s.cfg.MaskBlur) * size / 12
	r := int(math.Round(math.Sqrt(0.25+1.5*sigma*sigma) - 0.5)) // 2 r (r+1) / 3 = sigma^2
	r = max(0, min(r, (inner.Dx()-4)/4, (inner.Dy()-4)/4))
	k := 2 * r
	hardLimit := inner.Inset(k)
	if hardLimit.Dx() < 4 || hardLimit.Dy() < 4 {
		return nil
	}
	var views [nMeshBufs]gocv.Mat
	for i := range views {
		ch := 1
		switch i {
		case mbTarget, mbWarped, mbCloned:
			ch = 3
		}
		// The blend cuts its own box-sized views of mbLabDst, mbShift and mbBase.
		if i == mbLabDst || i == mbShift || i == mbBase || i == mbSkin && s.srcSkin == nil ||
			(i == mbPMask || i == mbCloned) && !s.cfg.Poisson {
			continue
		}
		views[i] = s.bufs[i].view(h, w, ch)
	}
	defer func() {
		for i := range views {
			if views[i].Ptr() != nil {
				views[i].Close()
			}
		}
	}()
	pix := func(i int) []uint8 {
		p, err := views[i].DataPtrUint8()
		if err != nil {
			panic(err) // continuous views of our own buffers: cannot fail
		}
		return p
	}
	roi := frame.Region(crop)
	defer roi.Close()
	roi.CopyTo(&views[mbTarget])
	tgt, warped, cover := pix(mbTarget), pix(mbWarped), pix(mbCover)
	// A cut restarts the face's track before anything of this frame is smoothed with it, whatever the blend.
	tr.checkCut(centreLab(tgt, w, h))
	for i, p := range mesh.Points {
		s.tgtPts[i] = face.Point{X: p.X - float32(crop.Min.X), Y: p.Y - float32(crop.Min.Y)}
	}
	tr.smoothMesh(&s.tgtPts, face.Point{X: float32(crop.Min.X), Y: float32(crop.Min.Y)}, size)
	if s.cfg.ColorTransfer {
		clear(warped) // the warp draws Lab; where it lands nowhere the alpha is 0, and blend gives no weight
	} else {
		copy(warped, tgt)
	}
	clear(cover)
	if s.srcSkin != nil {
		s.skinOut = pix(mbSkin)
		clear(s.skinOut)
	}
	if s.shape != nil {
		s.reshape(tgt, w, h, size, inner, tr)
	}
	s.warp(warped, cover, w, h, mesh)
	s.skinOut = nil

	// The mask: the target's face oval (its convex hull), cut back by the padding, shrunk by the blur radius so the
	// soft edge ends at the oval, clipped to hardLimit (so the blurred alpha stays inside inner) and to where the
	// warp landed.
	hard := pix(mbHard)
	clear(hard)
	s.poly = s.poly[:0]
	for _, i := range face.MeshFaceOval {
		s.poly = append(s.poly, s.tgtPts[i])
	}
	s.poly = face.ConvexHull(s.poly)
	s.pad(&s.tgtPts)
	s.poly = offsetPolygon(s.poly, -float64(k))
	for _, hp := range [4][3]float64{
		{-1, 0, -float64(hardLimit.Min.X)}, {1, 0, float64(hardLimit.Max.X - 1)},
		{0, -1, -float64(hardLimit.Min.Y)}, {0, 1, float64(hardLimit.Max.Y - 1)},
	} {
		s.poly2 = face.ClipPolygon(s.poly2, s.poly, hp[0], hp[1], hp[2])
		s.poly, s.poly2 = s.poly2, s.poly
	}
	if len(s.poly) < 3 {
		return nil
	}
	s.fillPolygon(hard, w, h, s.poly, 255)
	n := 0
	for i, c := range cover {
		if c == 0 {
			hard[i] = 0
		} else if hard[i] != 0 {
			n++
		}
	}
	if n < 16 {
		return nil
	}

	// The target's eye and mouth openings, where its own eyes and mouth show through.
	holes := pix(mbHoles)
	clear(holes)
	for _, eye := range [2][]int{face.MeshImageLeftEye[:], face.MeshImageRightEye[:]} {
		s.poly = s.poly[:0]
		for _, i := range eye {
			s.poly = append(s.poly, s.tgtPts[i])
		}
		width := dist2(s.poly[0], s.poly[len(eye)/2])
		s.fillPolygon(holes, w, h, offsetPolygon(s.poly, eyeHoleGrow*width), 255)
	}
	s.poly = s.mouthHole(s.poly[:0], mesh)
	s.fillPolygon(holes, w, h, s.poly, 255)

	// Alpha (in mbHard from here on) = blurred hard mask times (1 - blurred openings), at most the source's own
	// mask where it landed. The box blurs read zeros beyond hardLimit's k-px margin, so the border never matters.
	if r > 0 {
		box := image.Pt(2*r+1, 2*r+1)
		gocv.Blur(views[mbHard], &views[mbSoft], box)
		gocv.Blur(views[mbSoft], &views[mbHard], box)
	}
	hs := math.Max(1, meshHoleBlur*size)
	hk := int(math.Ceil(3 * hs))
	gocv.GaussianBlur(views[mbHoles], &views[mbHolesSoft], image.Pt(2*hk+1, 2*hk+1), hs, hs, gocv.BorderConstant|gocv.BorderIsolated)
	alpha, holesSoft := hard, pix(mbHolesSoft)
	for i, a := range alpha {
		if a == 0 {
			continue
		}
		if holesSoft[i] != 0 {
			a = uint8((uint32(a)*(255-uint32(holesSoft[i])) + 127) / 255)
		}
		if c := cover[i]; c <= 1 {
			a = 0
		} else if c < a {
			a = c
		}
		alpha[i] = a
	}

	if s.cfg.ColorTransfer {
		s.blend(views[:], w, h, size, tr)
	}

	blendSrc := &views[mbWarped]
	if s.cfg.Poisson {
		pmask := &views[mbPMask]
		gocv.Threshold(views[mbHard], pmask, 0, 255, gocv.ThresholdBinary)
		bb, err := nonZeroBounds(*pmask)
		if err != nil {
			return err
		}
		if bb.Dx() >= minPoissonSide && bb.Dy() >= minPoissonSide && bb.In(inner) {
			p := image.Pt(bb.Min.X+bb.Dx()/2, bb.Min.Y+bb.Dy()/2)
			cloned := &views[mbCloned]
			gocv.SeamlessClone(views[mbWarped], views[mbTarget], *pmask, p, cloned, cvNormalClone)
			blendSrc = cloned
		}
	}
	if err := alphaBlend(&views[mbTarget], *blendSrc, views[mbHard]); err != nil {
		return err
	}
	views[mbTarget].CopyTo(&roi)
	return nil
}

// reshape moves s.tgtPts towards the source's proportions (shapeTransfer.displace, smoothed in time on tr) and
// the w x h BGR crop tgt's pixels with them (liquify), both within inner.
func (s *MeshSwap) reshape(tgt []uint8, w, h int, size float64, inner image.Rectangle, tr *faceTrack) {
	s.orig = s.tgtPts
	lim := rectF{float64(inner.Min.X), float64(inner.Min.Y), float64(inner.Max.X - 1), float64(inner.Max.Y - 1)}
	share := shapeSmoothing
	if !tr.shapeOK {
		share = 1
	}
	tr.shapeOK = s.shape.displace(&s.tgtPts, &s.orig, &s.srcPts, float64(s.cfg.ShapeStrength), size, lim, &tr.shape, share)
	if tr.shapeOK {
		s.liq = grow(s.liq, 3*w*h)
		s.shape.liquify(tgt, s.liq, w, h, &s.orig, &s.tgtPts, size, lim)
	}
}

// nonZeroBox is the smallest rectangle of the w x h single-channel images a and b that holds every pixel non-zero
// in either; empty when none is.
func nonZeroBox(a, b []uint8, w, h int) image.Rectangle {
	var bb image.Rectangle
	for y := 0; y < h; y++ {
		ra, rb := a[y*w:(y+1)*w], b[y*w:(y+1)*w]
		x0 := 0
		for x0 < w && ra[x0]|rb[x0] == 0 {
			x0++
		}
		if x0 == w {
			continue
		}
		x1 := w - 1
		for ra[x1]|rb[x1] == 0 {
			x1--
		}
		bb = bb.Union(image.Rect(x0, y, x1+1, y+1))
	}
	return bb
}

// warp draws every source triangle onto its target triangle (target points in s.tgtPts), far triangles first so
// nearer ones cover them, skipping triangles that folded over in the target. dst is w x h, 3 bytes a pixel, in the
// source's colour space (Lab with ColorTransfer, else BGR); cover is set where a triangle landed, to the source mask
// there (at least 1).
func (s *MeshSwap) warp(dst, cover []uint8, w, h int, mesh *face.Mesh) {
	if cap(s.order) < len(s.tris) {
		s.order = make([]int, len(s.tris))
		s.depth = make([]float32, len(s.tris))
	}
	s.order, s.depth = s.order[:len(s.tris)], s.depth[:len(s.tris)]
	for i, tr := range s.tris {
		s.order[i] = i
		s.depth[i] = mesh.Z[tr[0]] + mesh.Z[tr[1]] + mesh.Z[tr[2]]
	}
	// MediaPipe depth: smaller is nearer. Draw the largest first.
	depth := s.depth
	slices.SortFunc(s.order, func(a, b int) int { return cmp.Compare(depth[b], depth[a]) })
	for _, ti := range s.order {
		tr := s.tris[ti]
		s.drawTriangle(dst, cover, w, h,
			[3]face.Point{s.tgtPts[tr[0]], s.tgtPts[tr[1]], s.tgtPts[tr[2]]},
			[3]face.Point{s.srcPts[tr[0]], s.srcPts[tr[1]], s.srcPts[tr[2]]})
	}
}

// drawTriangle fills target triangle t of dst with the source image's triangle q, mapped by the affine transform
// that takes t's corners to q's, sampled bilinearly. Pixel (x, y) is the point (x, y); a pixel is drawn when it lies
// in the closed triangle.
func (s *MeshSwap) drawTriangle(dst, cover []uint8, w, h int, t, q [3]face.Point) {
	area2 := 2 * face.SignedArea(t[0], t[1], t[2])
	if area2 <= 2*minFoldArea {
		return
	}
	x0, y0 := float64(t[0].X), float64(t[0].Y)
	x1, y1 := float64(t[1].X), float64(t[1].Y)
	x2, y2 := float64(t[2].X), float64(t[2].Y)
	// Barycentric weights as affine functions of (x, y): l_i = (a_i x + b_i y + c_i) / area2.
	a := [3]float64{y1 - y2, y2 - y0, y0 - y1}
	b := [3]float64{x2 - x1, x0 - x2, x1 - x0}
	c := [3]float64{x1*y2 - x2*y1, x2*y0 - x0*y2, x0*y1 - x1*y0}
	// Source coordinate as an affine function of (x, y).
	var sxa, sxb, sxc, sya, syb, syc float64
	for i := 0; i < 3; i++ {
		qx, qy := float64(q[i].X), float64(q[i].Y)
		sxa += a[i] * qx
		sxb += b[i] * qx
		sxc += c[i] * qx
		sya += a[i] * qy
		syb += b[i] * qy
		syc += c[i] * qy
	}
	sxa, sxb, sxc, sya, syb, syc = sxa/area2, sxb/area2, sxc/area2, sya/area2, syb/area2, syc/area2

	ymin := max(0, int(math.Ceil(min(y0, y1, y2))))
	ymax := min(h-1, int(math.Floor(max(y0, y1, y2))))
	sw, sh := s.srcW, s.srcH
	maxX, maxY := (sw-1)<<rasterFrac, (sh-1)<<rasterFrac
	sp, mask, skin := s.srcPix, s.srcMask, s.srcSkin
	const eps = 1e-9
	dx, dy := int(math.Round(sxa*rasterOne)), int(math.Round(sya*rasterOne)) // the source step per pixel
	for y := ymin; y <= ymax; y++ {
		fy := float64(y)
		// Each weight a_i x + (b_i y + c_i) >= 0 bounds x on one side.
		lo, hi := math.Inf(-1), math.Inf(1)
		empty := false
		for i := 0; i < 3; i++ {
			r := b[i]*fy + c[i]
			switch {
			case a[i] > 0: // the builtins, inlined: math.Max is a call (all values here are finite)
				lo = max(lo, -r/a[i]-eps)
			case a[i] < 0:
				hi = min(hi, -r/a[i]+eps)
			case r < -eps*area2:
				empty = true
			}
		}
		if empty || lo > hi {
			continue
		}
		xs := max(0, int(math.Ceil(lo)))
		xe := min(w-1, int(math.Floor(hi)))
		if xs > xe {
			continue
		}
		// The source position in fixed point (rasterFrac fraction bits), stepped by an integer per pixel.
		sx := int(math.Round((sxa*float64(xs) + sxb*fy + sxc) * rasterOne))
		sy := int(math.Round((sya*float64(xs) + syb*fy + syc) * rasterOne))
		row := y * w
		drow := dst[3*(row+xs) : 3*(row+xe+1)]
		crow := cover[row+xs : row+xe+1]
		var krow []uint8
		if s.skinOut != nil {
			krow = s.skinOut[row+xs : row+xe+1]
		}
		for j := range crow {
			px := min(max(sx, 0), maxX)
			py := min(max(sy, 0), maxY)
			sx, sy = sx+dx, sy+dy
			ix, iy := px>>rasterFrac, py>>rasterFrac
			fx, fy := (px>>(rasterFrac-weightFrac))&weightMask, (py>>(rasterFrac-weightFrac))&weightMask
			// The right and lower neighbours, or the pixel itself on the last column or row (its weight is 0 there).
			p00 := 3 * (iy*sw + ix)
			p01, p10 := p00+3, p00+3*sw
			if ix+1 >= sw {
				p01 = p00
			}
			if iy+1 >= sh {
				p10 = p00
			}
			p11 := p10 + (p01 - p00)
			gx, gy := weightOne-fx, weightOne-fy
			a, b, c, e := sp[p00:p00+3:p00+3], sp[p01:p01+3:p01+3], sp[p10:p10+3:p10+3], sp[p11:p11+3:p11+3]
			o := drow[3*j : 3*j+3 : 3*j+3]
			const half = weightOne * weightOne / 2
			o[0] = uint8(((int(a[0])*gx+int(b[0])*fx)*gy + (int(c[0])*gx+int(e[0])*fx)*fy + half) >> (2 * weightFrac))
			o[1] = uint8(((int(a[1])*gx+int(b[1])*fx)*gy + (int(c[1])*gx+int(e[1])*fx)*fy + half) >> (2 * weightFrac))
			o[2] = uint8(((int(a[2])*gx+int(b[2])*fx)*gy + (int(c[2])*gx+int(e[2])*fx)*fy + half) >> (2 * weightFrac))
			si := ((py+rasterOne/2)>>rasterFrac)*sw + (px+rasterOne/2)>>rasterFrac
			crow[j] = max(1, mask[si])
			if krow != nil {
				krow[j] = skin[si]
			}
		}
	}
}

// pad cuts s.poly (the face oval's hull, crop coordinates) back by MaskPadding along the face's own axes: down is
// from the forehead top (10) to the chin (152) of pts.
func (s *MeshSwap) pad(pts *[face.MeshPoints]face.Point) {
	p := s.cfg.MaskPadding
	if p == [4]float32{} || len(s.poly) < 3 {
		return
	}
	top, chin := pts[face.MeshForeheadTop], pts[face.MeshChin]
	dx, dy := float64(chin.X-top.X), float64(chin.Y-top.Y)
	l := math.Hypot(dx, dy)
	if l < 1 {
		return
	}
	dx, dy = dx/l, dy/l // down the face
	rx, ry := -dy, dx   // to the image's right on an upright face
	minU, maxU, minV, maxV := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, q := range s.poly {
		u := rx*float64(q.X) + ry*float64(q.Y)
		v := dx*float64(q.X) + dy*float64(q.Y)
		minU, maxU, minV, maxV = math.Min(minU, u), math.Max(maxU, u), math.Min(minV, v), math.Max(maxV, v)
	}
	fw, fh := maxU-minU, maxV-minV
	for _, hp := range [4][3]float64{
		{-dx, -dy, -(minV + float64(p[0])/100*fh)}, // top: v >= minV + pad
		{rx, ry, maxU - float64(p[1])/100*fw},      // right: u <= maxU - pad
		{dx, dy, maxV - float64(p[2])/100*fh},      // bottom
		{-rx, -ry, -(minU + float64(p[3])/100*fw)}, // left
	} {
		s.poly2 = face.ClipPolygon(s.poly2, s.poly, hp[0], hp[1], hp[2])
		s.poly, s.poly2 = s.poly2, s.poly
	}
}

// gateForehead scales the source mask above the source's eyebrows by how much each pixel looks like the source's
// skin, so that hair over the forehead (bangs, a fringe) is not pasted onto the target's forehead: where the
// source shows hair, the target's own forehead stays. Skin is the Lab mean and spread of the inner face (the
// colourRegion hull without the eyes and mouth).
func (s *MeshSwap) gateForehead(mask []uint8, size float64, lp []uint8) {
	w, h := s.src.Cols(), s.src.Rows()
	region := s.innerFaceRegion(w, h)
	var n, sum, sq [3]float64
	for i, r := range region {
		if r == 0 {
			continue
		}
		for ch := 0; ch < 3; ch++ {
			v := float64(lp[3*i+ch])
			n[ch]++
			sum[ch] += v
			sq[ch] += v * v
		}
	}
	if n[0] < 32 {
		return // too little skin to judge: leave the mask alone
	}
	var mean, inv [3]float64
	for ch := 0; ch < 3; ch++ {
		mean[ch] = sum[ch] / n[ch]
		sd := math.Sqrt(math.Max(sq[ch]/n[ch]-mean[ch]*mean[ch], 0))
		inv[ch] = 1 / math.Max(sd, skinMinSpread[ch])
	}
	// The forehead: above the highest eyebrow point, along the face's own axis (forehead top 10 to chin 152).
	top, chin := s.srcPts[face.MeshForeheadTop], s.srcPts[face.MeshChin]
	dx, dy := float64(chin.X-top.X), float64(chin.Y-top.Y)
	l := math.Hypot(dx, dy)
	if l < 1 {
		return
	}
	dx, dy = dx/l, dy/l
	brow := math.Inf(1)
	for _, i := range eyebrowTops {
		p := s.srcPts[i]
		brow = math.Min(brow, dx*float64(p.X)+dy*float64(p.Y))
	}
	ramp := foreheadRamp * size
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			g := smoothstep(brow+ramp/2, brow-ramp/2, dx*float64(x)+dy*float64(y)) // 0 on the brows, 1 above
			if g == 0 {
				continue
			}
			var d2 float64
			for ch := 0; ch < 3; ch++ {
				z := (float64(lp[3*i+ch]) - mean[ch]) * inv[ch]
				d2 += z * z
			}
			skin := 1 - smoothstep(skinNear, skinFar, math.Sqrt(d2))
			mask[i] = uint8(float64(mask[i])*(1-g*(1-skin)) + 0.5)
		}
	}
}

// mouthHole appends to dst the target's mouth opening: the inner lip contour, pushed out towards the outer lip
// contour by up to mouthHoleGrow of the lip's thickness as the mouth opens (the model puts the inner contour on
// the teeth, so an open mouth needs the inner band of the lips too). It grows with the opening without a jump, so
// video does not flicker as a mouth opens.
func (s *MeshSwap) mouthHole(dst []face.Point, mesh *face.Mesh) []face.Point {
	o := float64(face.MouthOpenness(*mesh))
	g := mouthHoleGrow * smoothstep(mouthClosed, mouthOpen, o)
	for k, i := range face.MeshInnerLips {
		in, out := s.tgtPts[i], s.tgtPts[face.MeshOuterLips[k]]
		dst = append(dst, face.Point{
			X: in.X + float32(g)*(out.X-in.X),
			Y: in.Y + float32(g)*(out.Y-in.Y),
		})
	}
	return dst
}

func smoothstep(e0, e1, x float64) float64 {
	t := math.Min(math.Max((x-e0)/(e1-e0), 0), 1)
	return t * t * (3 - 2*t)
}

func dist2(a, b face.Point) float64 { return math.Hypot(float64(a.X-b.X), float64(a.Y-b.Y)) }

// offsetPolygon moves every vertex of a convex polygon d pixels away from its centroid (towards it when d < 0; a
// vertex nearer than -d lands on the centroid), in place.
func offsetPolygon(poly []face.Point, d float64) []face.Point {
	if d == 0 || len(poly) == 0 {
		return poly
	}
	var cx, cy float64
	for _, p := range poly {
		cx += float64(p.X)
		cy += float64(p.Y)
	}
	cx, cy = cx/float64(len(poly)), cy/float64(len(poly))
	for i, p := range poly {
		vx, vy := float64(p.X)-cx, float64(p.Y)-cy
		l := math.Hypot(vx, vy)
		f := 0.0
		if l > -d {
			f = (l + d) / l
		}
		poly[i] = face.Point{X: float32(cx + vx*f), Y: float32(cy + vy*f)}
	}
	return poly
}

// fillPolygon sets to v every pixel (x, y) of the w x h single-channel buffer that lies inside poly (even-odd rule,
// pixel centres at integer coordinates).
func (s *MeshSwap) fillPolygon(buf []uint8, w, h int, poly []face.Point, v uint8) {
	if len(poly) < 3 {
		return
	}
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, p := range poly {
		ymin, ymax = math.Min(ymin, float64(p.Y)), math.Max(ymax, float64(p.Y))
	}
	y0 := max(0, int(math.Ceil(ymin)))
	y1 := min(h-1, int(math.Floor(ymax)))
	for y := y0; y <= y1; y++ {
		fy := float64(y)
		xs := s.crossing[:0]
		for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
			ay, by := float64(poly[i].Y), float64(poly[j].Y)
			if (ay <= fy) == (by <= fy) {
				continue
			}
			ax, bx := float64(poly[i].X), float64(poly[j].X)
			xs = append(xs, ax+(fy-ay)*(bx-ax)/(by-ay))
		}
		sort.Float64s(xs)
		for k := 0; k+1 < len(xs); k += 2 {
			xa := max(0, int(math.Ceil(xs[k])))
			xb := min(w-1, int(math.Floor(xs[k+1])))
			row := buf[y*w : (y+1)*w]
			for x := xa; x <= xb; x++ {
				row[x] = v
			}
		}
		s.crossing = xs
	}
}

var _ MeshSwapper = (*MeshSwap)(nil)
