package face

import (
	"errors"
	"testing"
)

// at is a face of side s centred on (x, y).
func at(x, y, s float32) Face {
	return Face{Box: Box{x - s/2, y - s/2, x + s/2, y + s/2}, Score: 1}
}

// followFrame is one frame a Follower sees: its detections, their descriptors (nil: describing fails the test)
// and the face it must pick (-1: none).
type followFrame struct {
	index int
	faces []Face
	desc  [][]float32
	want  int
}

var (
	alice = []float32{1, 0}
	bob   = []float32{0, 1}
	// Two look-alikes of alice, neither clearly closer: the ratio test refuses both.
	carol = []float32{0.95, 0.05}
	dave  = []float32{0.955, 0.045}
)

func TestFollowerPick(t *testing.T) {
	crossing := func() []followFrame { // A (followed) walks right along the top, B left along the bottom: they swap sides
		var fr []followFrame
		for i := 0; i <= 10; i++ {
			x := float32(i) * 40
			fr = append(fr, followFrame{index: i, faces: []Face{at(500-x, 300, 100), at(100+x, 200, 100)}, want: 1})
		}
		return fr
	}()
	tests := []struct {
		name   string
		ref    FollowReference
		frames []followFrame
	}{
		{"reference box, the other face grows larger", FollowReference{Box: at(100, 100, 80).Box}, []followFrame{
			{0, []Face{at(400, 100, 100), at(100, 100, 80)}, nil, 1},
			{1, []Face{at(405, 100, 130), at(110, 100, 78)}, nil, 1},
			{2, []Face{at(112, 100, 60), at(410, 100, 180)}, nil, 0},
			{3, []Face{at(415, 100, 200), at(118, 100, 58)}, nil, 1},
		}},
		{"faces cross, no descriptor", FollowReference{Box: at(100, 200, 100).Box}, crossing},
		{"lost beyond the gap, no descriptor: never another face", FollowReference{Box: at(100, 100, 80).Box}, []followFrame{
			{0, []Face{at(100, 100, 80)}, nil, 0},
			{1, nil, nil, -1},
			{8, []Face{at(400, 300, 120)}, nil, -1},
			{9, []Face{at(100, 100, 80)}, nil, -1}, // the track is gone: position alone does not re-acquire
		}},
		{"short gap: continued by position", FollowReference{Box: at(100, 100, 80).Box}, []followFrame{
			{0, []Face{at(100, 100, 80)}, nil, 0},
			{3, []Face{at(400, 300, 80), at(110, 100, 80)}, nil, 1},
		}},
		{"lost, re-identified by descriptor only", FollowReference{Box: at(100, 100, 80).Box, Descriptor: alice}, []followFrame{
			{0, []Face{at(100, 100, 80), at(300, 100, 80)}, nil, 0},
			{10, []Face{at(500, 300, 120)}, [][]float32{bob}, -1},
			{11, []Face{at(500, 300, 120), at(50, 50, 60)}, [][]float32{bob, alice}, 1},
			{12, []Face{at(52, 50, 60), at(500, 300, 120)}, nil, 0}, // tracked again, no descriptor asked
		}},
		{"segment start after the reference frame: descriptor, not size or position", FollowReference{Frame: 0, Box: at(100, 100, 80).Box, Descriptor: alice}, []followFrame{
			{50, []Face{at(100, 100, 200), at(600, 100, 60)}, [][]float32{bob, alice}, 1},
			{51, []Face{at(100, 100, 200), at(598, 100, 60)}, nil, 1},
		}},
		{"two faces within the gate: the descriptor decides", FollowReference{Box: at(100, 100, 80).Box, Descriptor: alice}, []followFrame{
			{0, []Face{at(100, 100, 80)}, nil, 0},
			{1, []Face{at(110, 100, 80), at(95, 105, 80)}, [][]float32{bob, alice}, 1},
		}},
		{"two faces within the gate, no descriptor: none", FollowReference{Box: at(100, 100, 80).Box}, []followFrame{
			{0, []Face{at(100, 100, 80)}, nil, 0},
			{1, []Face{at(110, 100, 80), at(95, 105, 80)}, nil, -1},
		}},
		{"look-alikes: the ratio test refuses", FollowReference{Frame: 0, Box: at(100, 100, 80).Box, Descriptor: alice}, []followFrame{
			{30, []Face{at(100, 100, 80), at(300, 100, 80)}, [][]float32{carol, dave}, -1},
		}},
		{"nobody close enough", FollowReference{Frame: 0, Box: at(100, 100, 80).Box, Descriptor: alice}, []followFrame{
			{30, []Face{at(100, 100, 80)}, [][]float32{bob}, -1},
		}},
		{"no reference: the first frame's largest, then followed", FollowReference{}, []followFrame{
			{0, nil, nil, -1},
			{1, []Face{at(100, 100, 60), at(400, 100, 90)}, nil, 1},
			{2, []Face{at(100, 100, 150), at(405, 100, 88)}, nil, 1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFollower(DefaultFollowConfig(DefaultSimilarDistance), tc.ref)
			for _, fr := range tc.frames {
				describe := func() ([][]float32, error) {
					if fr.desc == nil {
						return nil, errors.New("describe called where continuity decides")
					}
					return fr.desc, nil
				}
				got, err := f.Pick(fr.index, fr.faces, describe)
				if err != nil {
					t.Fatalf("frame %d: %v", fr.index, err)
				}
				if got != fr.want {
					t.Fatalf("frame %d: picked %d, want %d", fr.index, got, fr.want)
				}
			}
		})
	}
}

// TestFollowerLose: after Lose (a scene cut), a face where the person was is taken only if it is re-identified.
func TestFollowerLose(t *testing.T) {
	for _, tc := range []struct {
		name string
		desc [][]float32
		want int
	}{
		{"another person in the same place", [][]float32{bob}, -1},
		{"the person", [][]float32{alice}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFollower(DefaultFollowConfig(DefaultSimilarDistance), FollowReference{Box: at(100, 100, 80).Box, Descriptor: alice})
			if got, _ := f.Pick(0, []Face{at(100, 100, 80)}, nil); got != 0 {
				t.Fatalf("reference frame: %d", got)
			}
			f.Lose()
			got, err := f.Pick(1, []Face{at(101, 100, 80)}, func() ([][]float32, error) { return tc.desc, nil })
			if err != nil || got != tc.want {
				t.Fatalf("after Lose: picked %d (%v), want %d", got, err, tc.want)
			}
		})
	}
}
