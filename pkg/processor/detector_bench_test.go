package processor

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func benchmarkDetector(b *testing.B, files ...string) {
	for _, file := range files {
		for _, size := range [][2]int{{400, 300}, {1280, 720}} {
			name := strings.TrimSuffix(file, ".onnx")
			b.Run(fmt.Sprintf("%s/%dx%d", name, size[0], size[1]), func(b *testing.B) {
				frame := videoFrame(b, size[0], size[1])
				d := newDetectorFor(b, file, "")
				n := len(detect(b, d, frame))
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					if _, err := d.Detect(frame); err != nil {
						b.Fatal(err)
					}
				}
				reportMs(b, start, 1)
				b.Logf("%d faces", n)
			})
		}
	}
}

// BenchmarkSCRFD times Detect (resize, inference, decode, NMS) on a webcam frame with the two SCRFD test models.
func BenchmarkSCRFD(b *testing.B) { benchmarkDetector(b, scrfd320, scrfd640) }

// BenchmarkBlazeFace times Detect on a webcam frame with both BlazeFace models.
func BenchmarkBlazeFace(b *testing.B) { benchmarkDetector(b, blazeFront, blazeBack) }
