package job

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func pts(n int, fps float64) []float64 {
	p := make([]float64, n)
	for i := range p {
		p[i] = float64(i) / fps
	}
	return p
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name      string
		keyframes []int
		total     int
		target    float64
		want      []Segment
	}{
		{"one segment when target is 0", []int{0, 25, 50}, 75, 0, []Segment{{0, 0, 75}}},
		{"cuts on keyframes at the target", []int{0, 25, 50, 75}, 100, 1, []Segment{{0, 0, 25}, {1, 25, 50}, {2, 50, 75}, {3, 75, 100}}},
		{"snaps forward to the next keyframe", []int{0, 30, 60, 90}, 100, 1, []Segment{{0, 0, 30}, {1, 30, 60}, {2, 60, 90}, {3, 90, 100}}},
		{"skips keyframes that come too soon", []int{0, 10, 20, 50, 60, 110}, 120, 2, []Segment{{0, 0, 50}, {1, 50, 110}, {2, 110, 120}}},
		{"no keyframe after the first", []int{0}, 300, 2, []Segment{{0, 0, 300}}},
		{"a long target", []int{0, 250, 500, 750}, 1000, 60, []Segment{{0, 0, 1000}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Plan(tc.keyframes, pts(tc.total, 25), tc.total, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
			// Invariant: contiguous, complete, each start a keyframe.
			next := 0
			for _, s := range got {
				if s.Start != next || s.Frames() <= 0 {
					t.Fatalf("gap or empty segment in %v", got)
				}
				next = s.End
			}
			if next != tc.total {
				t.Fatalf("plan covers %d of %d frames", next, tc.total)
			}
		})
	}
}

func TestPlanRejects(t *testing.T) {
	if _, err := Plan([]int{5}, pts(10, 25), 10, 1); err == nil {
		t.Fatal("a stream not starting on a keyframe was accepted")
	}
	if _, err := Plan([]int{0}, pts(9, 25), 10, 1); err == nil {
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
	for _, k := range []string{SegmentKey(id, 3), ResultKey(id, 3, 0, 2), ResultKey(id, 3, 1, 2), SourceKey(id, ".png")} {
		if !strings.HasPrefix(k, Prefix(id)) {
			t.Errorf("%s escapes %s", k, Prefix(id))
		}
	}
}
