package standalone

import (
	"testing"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/internal/testimage"
)

func readImage(t *testing.T, p string) gocv.Mat {
	t.Helper()
	m := testimage.Read(t, p)
	if m.Empty() {
		t.Fatalf("%s: cannot read", p)
	}
	return m
}
