package fault_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/facefleet/facefleet/pkg/fault"
)

func TestOf(t *testing.T) {
	storeDown := fault.New("unreachable", fault.ErrStorage)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"nil", nil, nil},
		{"a decode error", errors.New("file is truncated or damaged"), nil},
		{"ENOSPC from a write", &fs.PathError{Op: "write", Path: "/w/x", Err: syscall.ENOSPC}, fault.ErrDiskFull},
		{"EDQUOT", fmt.Errorf("download: %w", &os.PathError{Op: "write", Path: "/w/x", Err: syscall.EDQUOT}), fault.ErrDiskFull},
		{"ENOMEM", fmt.Errorf("x: %w", syscall.ENOMEM), fault.ErrOutOfMemory},
		{"a store's own sentinel", fmt.Errorf("s3: %w: dial tcp: refused", storeDown), fault.ErrStorage},
		{"disk full beats the store", fmt.Errorf("%w: %w", storeDown, syscall.ENOSPC), fault.ErrDiskFull},
		{"queue", fmt.Errorf("queue: get: %w", fault.ErrQueue), fault.ErrQueue},
		{"model", fmt.Errorf("%w: x.onnx: not found", fault.ErrModel), fault.ErrModel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fault.Of(tc.err); got != tc.want {
				t.Fatalf("Of(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestNewKeepsItsText(t *testing.T) {
	e := fault.New("unreachable", fault.ErrStorage)
	if e.Error() != "unreachable" || !errors.Is(e, fault.ErrStorage) || errors.Is(e, fault.ErrQueue) {
		t.Fatalf("%v", e)
	}
}
