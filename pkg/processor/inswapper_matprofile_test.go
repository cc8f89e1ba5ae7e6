//go:build matprofile

package processor

import (
	"bytes"
	"testing"

	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// TestSwapEnhanceMatProfileNoLeak counts live gocv Mats (go test -tags matprofile ./pkg/processor -run MatProfile):
// Swap, SwapBatch and Enhance leave none behind per call, and Close frees everything they held.
func TestSwapEnhanceMatProfileNoLeak(t *testing.T) {
	d := newYuNet(t, yunet2026)
	img := readFace(t, "apollo11_crew_3faces.jpg")
	faces := detect(t, d, img)
	base := gocv.MatProfile.Count()
	s := newInswapper(t, inswapperGraph(t, graphMix, -1, nil), 2)
	e := newEnhancer(t, EnhancerConfig{ModelPath: gfpganGraph(t, nil)})
	latent, err := s.SourceLatent(testEmbedding())
	if err != nil {
		t.Fatal(err)
	}
	one := func() {
		a, b := img.Clone(), img.Clone()
		defer a.Close()
		defer b.Close()
		if err := s.Swap(a, faces, latent); err != nil {
			t.Fatal(err)
		}
		if err := s.SwapBatch([]gocv.Mat{a, b}, [][]face.Face{faces, faces[:1]}, latent); err != nil {
			t.Fatal(err)
		}
		if err := e.Enhance(a, faces); err != nil {
			t.Fatal(err)
		}
	}
	one()
	held := gocv.MatProfile.Count()
	for i := 0; i < 20; i++ {
		one()
	}
	if n := gocv.MatProfile.Count(); n != held {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats live after 20 more rounds, %d after the first:\n%s", n, held, b.String())
	}
	s.Close()
	e.Close()
	if n := gocv.MatProfile.Count(); n != base {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats live after Close, %d before:\n%s", n, base, b.String())
	}
}
