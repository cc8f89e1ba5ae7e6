//go:build matprofile

package processor

import (
	"bytes"
	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/internal/testimage"
	"gocv.io/x/gocv"
	"testing"
)

// TestMatProfileNoLeak counts live gocv Mats (go test -tags matprofile ./pkg/processor -run MatProfile): Detect and
// Swap must leave none behind per call, and Close must free everything the processors held.
func TestMatProfileNoLeak(t *testing.T) {
	grace := testimage.Read(t, testenv.Face(t, "grace_hopper.jpg"))
	defer grace.Close()
	base := gocv.MatProfile.Count()

	d := newYuNet(t, yunet2026)
	s := newAstronautSwapper(t, d, ClassicalConfig{MaskBlur: 0.1, Poisson: true, ColorTransfer: true})
	one := func() {
		f := grace.Clone()
		defer f.Close()
		faces := detect(t, d, f)
		if err := s.Swap(f, faces); err != nil {
			t.Fatal(err)
		}
	}
	one()
	held := gocv.MatProfile.Count()
	for i := 0; i < 50; i++ {
		one()
	}
	if n := gocv.MatProfile.Count(); n != held {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats live after 50 Detect+Swap, %d after the first:\n%s", n, held, b.String())
	}
	d.Close()
	s.Close()
	if n := gocv.MatProfile.Count(); n != base {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats live after Close, %d before:\n%s", n, base, b.String())
	}
}
