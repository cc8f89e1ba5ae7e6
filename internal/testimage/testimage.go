// Package testimage reads test pictures for tests: pkg/imagefile.Read, failing the test on error. The caller
// closes the Mat.
package testimage

import (
	"testing"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/imagefile"
)

// Read reads path as a BGR Mat or fails tb.
func Read(tb testing.TB, path string) gocv.Mat {
	tb.Helper()
	m, err := imagefile.Read(path)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
