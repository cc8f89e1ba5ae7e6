// Package processor holds the frame processors: face detectors, swappers and (later) enhancers and the content
// filter. Processors work on one frame's face crops and never allocate full-frame float arrays.
//
// Every processor owns C memory the Go garbage collector never sees (gocv Mats, ONNX Runtime tensors and sessions):
// it keeps its buffers between calls, reallocating only when a size grows or changes, and frees them in Close.
// A processor is not safe for concurrent use; run one per goroutine.
package processor

import (
	"fmt"

	"github.com/facefleet/facefleet/pkg/face"
	"gocv.io/x/gocv"
)

// Detector finds faces in a BGR uint8 image (gocv.Mat CV_8UC3). Implementations keep their input/output buffers
// between calls.
type Detector interface {
	// Detect returns the faces in img, boxes and keypoints in img pixel coordinates, sorted by score, highest first.
	Detect(img gocv.Mat) ([]face.Face, error)
	Close() error
}

// Swapper replaces target faces in a frame in place, touching only each face's crop.
type Swapper interface {
	Swap(frame gocv.Mat, targets []face.Face) error
	Close() error
}

// checkBGR reports an image processors cannot take.
func checkBGR(what string, m gocv.Mat) error {
	if m.Ptr() == nil || m.Empty() {
		return fmt.Errorf("processor: %s is empty", what)
	}
	if m.Type() != gocv.MatTypeCV8UC3 {
		return fmt.Errorf("processor: %s must be 8-bit BGR (CV_8UC3), got Mat type %v", what, m.Type())
	}
	return nil
}

var (
	_ Detector = (*YuNet)(nil)
	_ Swapper  = (*Classical)(nil)
)
