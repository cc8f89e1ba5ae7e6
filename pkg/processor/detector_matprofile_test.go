//go:build matprofile

package processor

import (
	"bytes"
	"testing"

	"gocv.io/x/gocv"
)

// TestDetectorsMatProfileNoLeak counts live gocv Mats (go test -tags matprofile ./pkg/processor -run MatProfile):
// SCRFD and BlazeFace over frames of two sizes and a region keep at most their resize buffer, and Close frees it.
func TestDetectorsMatProfileNoLeak(t *testing.T) {
	grace := readFace(t, "grace_hopper.jpg")
	roi := grace.Region(image3(0, 40, 480, 600))
	defer roi.Close()
	base := gocv.MatProfile.Count()
	for _, file := range []string{scrfd320, blazeBack} {
		d := newDetectorFor(t, file, "")
		for i := 0; i < 10; i++ {
			detect(t, d, grace)
			detect(t, d, roi)
		}
		if n := gocv.MatProfile.Count(); n > base+1 {
			var b bytes.Buffer
			gocv.MatProfile.WriteTo(&b, 1)
			t.Fatalf("%s: %d Mats live after 20 Detects, %d before:\n%s", file, n, base, b.String())
		}
		d.Close()
		if n := gocv.MatProfile.Count(); n != base {
			var b bytes.Buffer
			gocv.MatProfile.WriteTo(&b, 1)
			t.Fatalf("%s: %d Mats live after Close, %d before:\n%s", file, n, base, b.String())
		}
	}
}
