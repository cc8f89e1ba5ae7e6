package standalone

import (
	"testing"

	"gocv.io/x/gocv"
)

func readImage(t *testing.T, p string) gocv.Mat {
	t.Helper()
	m := gocv.IMRead(p, gocv.IMReadColor)
	if m.Empty() {
		t.Fatalf("%s: cannot read", p)
	}
	return m
}
