package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestPool: at most n functions run at once, every one started is waited for, the first error is kept and reported
// once.
func TestPool(t *testing.T) {
	var cancels, running, most, ran atomic.Int32
	p := newPool(2, func() { cancels.Add(1) })
	first := errors.New("first")
	for i := 0; i < 8; i++ {
		p.do(func() error {
			n := running.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(5 * time.Millisecond)
			running.Add(-1)
			ran.Add(1)
			switch i {
			case 3:
				return first
			case 5:
				for p.err() == nil { // fails only after the first failure is recorded
					time.Sleep(time.Millisecond)
				}
				return errors.New("later")
			}
			return nil
		})
	}
	err := p.wait()
	if ran.Load() != 8 || most.Load() > 2 || cancels.Load() != 1 {
		t.Errorf("ran %d, at most %d at once, onErr %d times; want 8, <= 2, once", ran.Load(), most.Load(), cancels.Load())
	}
	if !errors.Is(err, first) || !errors.Is(p.err(), first) {
		t.Errorf("error %v, want the first one", err)
	}
}

// TestSplitErr: the split reports the cause. Before, a cut refused for its frame count (its pieces removed) was
// reported as the upload that then found its piece gone.
func TestSplitErr(t *testing.T) {
	count := errors.New("media: split t.mp4: frame count")
	store := errors.New("store segment 3: open piece: no such file")
	cancelled := fmt.Errorf("media: split t.mp4: %w", context.Canceled)
	for _, c := range []struct {
		name        string
		cut, stored error
		want        error
	}{
		{"both fine", nil, nil, nil},
		{"the cut failed, its removed pieces failed an upload", count, store, count},
		{"a store failed, the cut was cancelled", cancelled, store, store},
		{"a store failed after the cut ended", nil, store, store},
		{"the job was cancelled", cancelled, nil, cancelled},
	} {
		if got := splitErr(c.cut, c.stored); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
