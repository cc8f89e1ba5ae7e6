package media

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/fault"
)

// TestEncoderDiskFull encodes onto a real disk that fills (a 16 KiB tmpfs): the error still names the output and
// says ffmpeg failed, and it wraps ENOSPC, so pkg/fault calls it a worker's own trouble (disk full), not the
// segment's.
func TestEncoderDiskFull(t *testing.T) {
	out := filepath.Join(testenv.SmallDisk(t, 16<<10), "out.mp4")
	err := encodeAll(EncoderConfig{Quality: 0, Path: out, Width: 320, Height: 240, FrameRate: Rational{25, 1}},
		frames(320, 240, 50))
	if !errors.Is(err, ErrFFmpeg) || !errors.Is(err, syscall.ENOSPC) || fault.Of(err) != fault.ErrDiskFull {
		t.Fatalf("encoding onto a full disk: %v (class %v)", err, fault.Of(err))
	}
	t.Log(err)
}
