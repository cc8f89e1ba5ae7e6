package job

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/pkg/media"
)

func pts(n int, fps float64) []float64 {
	p := make([]float64, n)
	for i := range p {
		p[i] = float64(i) / fps
	}
	return p
}

// index is a frame scan with these keyframes and times, the last frame lasting as long as the one before.
func index(keyframes []int, pts []float64) *media.FrameIndex {
	idx := &media.FrameIndex{Count: len(pts), Keyframes: keyframes, PTS: pts}
	if n := len(pts); n > 1 {
		idx.End = 2*pts[n-1] - pts[n-2]
	}
	return idx
}

func TestPlan(t *testing.T) {
	// vfr: 30 frames at 1/30 s, then 30 at 1/10 s, starting at 0.5 s (as a late MPEG-TS stream does).
	vfr := make([]float64, 60)
	for i := range vfr {
		vfr[i] = 0.5 + float64(min(i, 30))/30 + float64(max(i-30, 0))/10
	}
	tests := []struct {
		name      string
		keyframes []int
		pts       []float64
		target    float64
		want      []Segment
	}{
		{"one segment when target is 0", []int{0, 25, 50}, pts(75, 25), 0, []Segment{{0, 0, 75, 3}}},
		{"cuts on keyframes at the target", []int{0, 25, 50, 75}, pts(100, 25), 1, []Segment{{0, 0, 25, 1}, {1, 25, 50, 1}, {2, 50, 75, 1}, {3, 75, 100, 1}}},
		{"snaps forward to the next keyframe", []int{0, 30, 60, 90}, pts(100, 25), 1, []Segment{{0, 0, 30, 1.2}, {1, 30, 60, 1.2}, {2, 60, 90, 1.2}, {3, 90, 100, 0.4}}},
		{"skips keyframes that come too soon", []int{0, 10, 20, 50, 60, 110}, pts(120, 25), 2, []Segment{{0, 0, 50, 2}, {1, 50, 110, 2.4}, {2, 110, 120, 0.4}}},
		{"no keyframe after the first", []int{0}, pts(300, 25), 2, []Segment{{0, 0, 300, 12}}},
		{"a long target", []int{0, 250, 500, 750}, pts(1000, 25), 60, []Segment{{0, 0, 1000, 40}}},
		// Durations follow the timestamps, not the frame count: the second segment has 20 frames and 1.5 s.
		{"variable rate", []int{0, 20, 40}, vfr, 0.5, []Segment{{0, 0, 20, 20.0 / 30}, {1, 20, 40, 10.0/30 + 1}, {2, 40, 60, 2}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			total := len(tc.pts)
			got, err := Plan(index(tc.keyframes, tc.pts), tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.Index != w.Index || g.Start != w.Start || g.End != w.End || math.Abs(g.Duration-w.Duration) > 1e-9 {
					t.Fatalf("got %v want %v", got, tc.want)
				}
			}
			// Invariant: contiguous, complete, each start a keyframe, durations adding up to the stream's.
			next, sum := 0, 0.0
			for _, s := range got {
				if s.Start != next || s.Frames() <= 0 {
					t.Fatalf("gap or empty segment in %v", got)
				}
				next = s.End
				sum += s.Duration
			}
			if next != total {
				t.Fatalf("plan covers %d of %d frames", next, total)
			}
			if span := index(nil, tc.pts).End - tc.pts[0]; math.Abs(sum-span) > 1e-9 {
				t.Fatalf("durations add up to %v s, the stream lasts %v s", sum, span)
			}
		})
	}
}

// TestQuickStart: a first segment over 10 s is split at its first keyframe a second or more in; the rest stay as
// planned; a one-segment plan and a first segment of 10 s stay whole.
func TestQuickStart(t *testing.T) {
	tests := []struct {
		name      string
		keyframes []int
		target    float64
		want      []Segment
	}{
		{"30 s segments, a keyframe every 2 s", []int{0, 50, 100, 750, 800}, 30, []Segment{{0, 0, 50, 2}, {1, 50, 750, 28}, {2, 750, 1000, 10}}},
		{"keyframes under a second apart", []int{0, 10, 20, 30, 750}, 30, []Segment{{0, 0, 30, 1.2}, {1, 30, 750, 28.8}, {2, 750, 1000, 10}}},
		{"no keyframe inside the first segment", []int{0, 750}, 30, []Segment{{0, 0, 750, 30}, {1, 750, 1000, 10}}},
		{"one segment", []int{0, 50, 100}, 0, []Segment{{0, 0, 1000, 40}}},
		{"a first segment of 10 s", []int{0, 50, 250, 500}, 10, []Segment{{0, 0, 250, 10}, {1, 250, 500, 10}, {2, 500, 1000, 20}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idx := index(tc.keyframes, pts(1000, 25))
			segs, err := Plan(idx, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			got := QuickStart(idx, segs, 1, 10)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.Index != w.Index || g.Start != w.Start || g.End != w.End || math.Abs(g.Duration-w.Duration) > 1e-9 {
					t.Fatalf("got %v want %v", got, tc.want)
				}
			}
		})
	}
}

func TestPlanRejects(t *testing.T) {
	if _, err := Plan(index([]int{5}, pts(10, 25)), 1); err == nil {
		t.Fatal("a stream not starting on a keyframe was accepted")
	}
	mismatched := index([]int{0}, pts(9, 25))
	mismatched.Count = 10
	if _, err := Plan(mismatched, 1); err == nil {
		t.Fatal("mismatched timestamps accepted")
	}
}

func TestIDs(t *testing.T) {
	id := NewID()
	if err := ValidateID(id); err != nil {
		t.Fatalf("NewID %q invalid: %v", id, err)
	}
	for _, bad := range []string{"", "../etc", "a.b", "a/b", "UPPER", "x", strings.Repeat("a", 80), "a b"} {
		if err := ValidateID(bad); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ValidateID(%q) = %v", bad, err)
		}
	}
	for _, k := range []string{SegmentKey(id, 3), ResultKey(id, 3, 0, 2), ResultKey(id, 3, 1, 2), InputKey(id, "source", ".png")} {
		if !strings.HasPrefix(k, Prefix(id)) {
			t.Errorf("%s escapes %s", k, Prefix(id))
		}
	}
}
