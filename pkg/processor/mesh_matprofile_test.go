//go:build matprofile

package processor

import (
	"bytes"
	"testing"

	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// TestMeshMatProfileNoLeak counts live gocv Mats (go test -tags matprofile ./pkg/processor -run MeshMatProfile):
// Landmarks and the mesh swap leave none behind per call, and Close frees everything they held.
func TestMeshMatProfileNoLeak(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  MeshSwapConfig
	}{
		{"poisson", MeshSwapConfig{MaskBlur: 0.3, Poisson: true, ColorTransfer: true}},
		{"default", DefaultMeshSwapConfig()}, // the colour transfer over a box of the crop: Region and view headers
	} {
		t.Run(c.name, func(t *testing.T) { meshMatProfile(t, c.cfg) })
	}
}

func meshMatProfile(t *testing.T, cfg MeshSwapConfig) {
	r := newMeshRig(t)
	img := readFace(t, "grace_hopper.jpg")
	largestFace(t, r.d, img)
	base := gocv.MatProfile.Count() // the detector holds its buffers for img's size

	lm := newFaceMesh(t)
	s := r.swapper(t, cfg)
	f := largestFace(t, r.d, img) // back to img's size
	one := func() {
		out := img.Clone()
		defer out.Close()
		m := landmarks(t, lm, out, f)
		if err := s.Swap(out, []face.Face{f}, []face.Mesh{m}); err != nil {
			t.Fatal(err)
		}
	}
	one()
	held := gocv.MatProfile.Count()
	for i := 0; i < 10; i++ {
		one()
	}
	if n := gocv.MatProfile.Count(); n != held {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats live after 10 Landmarks+Swap, %d after the first:\n%s", n, held, b.String())
	}
	lm.Close()
	s.Close()
	if n := gocv.MatProfile.Count(); n != base {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats live after Close, %d before:\n%s", n, base, b.String())
	}
}
