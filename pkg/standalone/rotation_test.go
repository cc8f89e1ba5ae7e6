package standalone

import (
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/internal/testimage"
	"github.com/facefleet/facefleet/pkg/face"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
)

// displayed turns a stored w x h bgr24 frame as a player shows it under a clockwise display rotation rot, and
// returns its pixels and size.
func displayed(t *testing.T, frame []byte, w, h, rot int) ([]byte, int, int) {
	t.Helper()
	m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, frame)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	flags := map[int]gocv.RotateFlag{90: gocv.Rotate90Clockwise, 180: gocv.Rotate180Clockwise, 270: gocv.Rotate90CounterClockwise}
	if rot == 0 {
		return frame, w, h
	}
	out := gocv.NewMat()
	defer out.Close()
	gocv.Rotate(m, &out, flags[rot])
	b, err := out.DataPtrUint8()
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), b...), out.Cols(), out.Rows()
}

// TestRotatedTargetSwapped: a phone clip stored sideways with a rotation tag (made from a shared face photo,
// turned so that it displays upright) has its face swapped, as the same clip stored upright does, and keeps its
// stored orientation and its tag. Compared as displayed against none's output: the face box changed, the
// rest did not. Before issue 17 the detector saw the stored, sideways picture and found no face: the box did not
// change.
func TestRotatedTargetSwapped(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		rot       int    // clockwise, as displayed (media.Info.Rotation, held to ffmpeg's autorotate)
		tag       int    // FFmpeg 5.1's rotate tag for it: its display matrix turns counter-clockwise
		transpose string // stores the upright photo so that rot displays it upright
	}{
		{0, 0, ""},
		{90, 270, "transpose=2"}, // a quarter turn counter-clockwise, shown turned back clockwise
		{270, 90, "transpose=1"},
	} {
		t.Run(fmt.Sprintf("rotate=%d", tc.rot), func(t *testing.T) {
			target := filepath.Join(dir, fmt.Sprintf("rot%d.mp4", tc.rot))
			vf := "scale=320:376"
			if tc.transpose != "" {
				vf += "," + tc.transpose
			}
			upright := filepath.Join(dir, fmt.Sprintf("stored%d.mp4", tc.rot))
			ffmpeg(t, "-loop", "1", "-i", testenv.Face(t, "grace_hopper.jpg"), "-frames:v", "10", "-r", "25", "-vf", vf,
				"-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", upright)
			// FFmpeg 5.1 turns a rotate tag into a display matrix on a stream copy, not on an encode.
			ffmpeg(t, "-i", upright, "-c", "copy", "-metadata:s:v:0", fmt.Sprintf("rotate=%d", tc.tag), target)
			info, err := media.Probe(context.Background(), target)
			if err != nil {
				t.Fatal(err)
			}
			if info.Rotation != tc.rot {
				t.Fatalf("target made with rotation %d, probed %d", tc.rot, info.Rotation)
			}
			out := filepath.Join(dir, fmt.Sprintf("out%d.mp4", tc.rot))
			cfg := testConfig(t, testenv.Face(t, "astronaut_eileen_collins.png"), target, out)
			if _, err := Run(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			got, err := media.Probe(context.Background(), out)
			if err != nil {
				t.Fatal(err)
			}
			if got.Rotation != tc.rot || got.Width != info.Width || got.Height != info.Height {
				t.Errorf("output %dx%d rotated %d, want the stored %dx%d rotated %d", got.Width, got.Height, got.Rotation,
					info.Width, info.Height, tc.rot)
			}
			// The reference is frame processor none's output: the same pictures, encoder and settings.
			plain := filepath.Join(dir, fmt.Sprintf("none%d.mp4", tc.rot))
			none := testConfig(t, testenv.Face(t, "astronaut_eileen_collins.png"), target, plain)
			none.Face.Processors = []string{job.ProcessorNone}
			if _, err := Run(context.Background(), none); err != nil {
				t.Fatal(err)
			}
			w, h := info.Width, info.Height
			inF, plainF, outF := frames(t, target, w, h), frames(t, plain, w, h), frames(t, out, w, h)
			if len(outF) != len(inF) || len(plainF) != len(inF) {
				t.Fatalf("frames: target %d, plain %d, output %d", len(inF), len(plainF), len(outF))
			}
			up, dw, dh := displayed(t, inF[0], w, h, tc.rot)
			faces := detect(t, up, dw, dh)
			if len(faces) == 0 {
				t.Fatal("no face in the target as displayed")
			}
			big, _ := face.Largest(faces)
			box := big.Box.Clamp(dw, dh)
			// The swap's mask follows the face outline past the detector's box (forehead, chin): outside is
			// taken outside the box grown by half its size.
			grown := big.Box
			bw, bh := grown.X2-grown.X1, grown.Y2-grown.Y1
			grown.X1, grown.X2, grown.Y1, grown.Y2 = grown.X1-bw/4, grown.X2+bw/4, grown.Y1-bh/4, grown.Y2+bh/4
			for i := range outF {
				o, _, _ := displayed(t, outF[i], w, h, tc.rot)
				p, _, _ := displayed(t, plainF[i], w, h, tc.rot)
				inside := psnr(o, p, dw, dh, func(x, y int) bool { return image.Pt(x, y).In(box) })
				outside := psnr(o, p, dw, dh, func(x, y int) bool { return !inAnyBox([]face.Box{grown}, x, y) })
				if i == 0 {
					t.Logf("frame 0 as displayed: face box PSNR %.1f dB, outside %.1f dB against none's output", inside, outside)
				}
				if inside > 25 {
					t.Errorf("frame %d: face box PSNR %.1f dB against none's output: not swapped", i, inside)
				}
				if outside < 40 {
					t.Errorf("frame %d: outside the face box PSNR %.1f dB < 40 against none's output", i, outside)
				}
			}
		})
	}
}

// withOrientation puts an APP1 EXIF segment carrying orientation o (big-endian TIFF) right after a JPEG's SOI.
func withOrientation(jpeg []byte, o uint16) []byte {
	tiff := make([]byte, 8+2+12+4)
	copy(tiff, "MM")
	binary.BigEndian.PutUint16(tiff[2:], 0x2A)
	binary.BigEndian.PutUint32(tiff[4:], 8)
	binary.BigEndian.PutUint16(tiff[8:], 1)       // one entry
	binary.BigEndian.PutUint16(tiff[10:], 0x0112) // Orientation
	binary.BigEndian.PutUint16(tiff[12:], 3)      // SHORT
	binary.BigEndian.PutUint32(tiff[14:], 1)      // one value
	binary.BigEndian.PutUint16(tiff[18:], o)      // the value, left-justified
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(2+len(payload)))
	out := append([]byte{}, jpeg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpeg[2:]...)
}

// TestExifRotatedImageSwapped: a photo stored sideways with EXIF orientation 6 (turn 90 clockwise to show) or 8
// has its face swapped, as displayed: the output, written upright, differs from the target read upright (as
// OpenCV reads it) in the face box and nowhere else (png: not one byte).
func TestExifRotatedImageSwapped(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		orientation uint16
		transpose   string
	}{{6, "transpose=2"}, {8, "transpose=1"}} {
		t.Run(fmt.Sprintf("orientation %d", tc.orientation), func(t *testing.T) {
			stored := filepath.Join(dir, fmt.Sprintf("stored%d.jpg", tc.orientation))
			ffmpeg(t, "-i", testenv.Face(t, "grace_hopper.jpg"), "-vf", tc.transpose, "-q:v", "2", stored)
			raw, err := os.ReadFile(stored)
			if err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(dir, fmt.Sprintf("exif%d.jpg", tc.orientation))
			if err := os.WriteFile(target, withOrientation(raw, tc.orientation), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, fmt.Sprintf("out%d.png", tc.orientation))
			if _, err := Run(context.Background(), testConfig(t, testenv.Face(t, "astronaut_eileen_collins.png"), target, out)); err != nil {
				t.Fatal(err)
			}
			in, got := testimage.Read(t, target), testimage.Read(t, out)
			defer in.Close()
			defer got.Close()
			w, h := in.Cols(), in.Rows()
			if got.Cols() != w || got.Rows() != h || w > h {
				t.Fatalf("output %dx%d, target as displayed %dx%d (upright: taller than wide)", got.Cols(), got.Rows(), w, h)
			}
			inB, _ := in.DataPtrUint8()
			outB, _ := got.DataPtrUint8()
			faces := detect(t, inB, w, h)
			if len(faces) == 0 {
				t.Fatal("no face in the target as displayed")
			}
			big, _ := face.Largest(faces)
			if d := meanAbsDiff(outB, inB, w, big.Box); d <= 2 {
				t.Errorf("face box mean abs difference %.1f: not swapped", d)
			}
			if p := psnr(outB, inB, w, h, func(x, y int) bool { return !inAnyBox([]face.Box{big.Box}, x, y) }); !math.IsInf(p, 1) {
				t.Errorf("outside the face PSNR %.1f dB, want no change", p)
			}
		})
	}
}
