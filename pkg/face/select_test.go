package face

import (
	"reflect"
	"testing"
)

func TestSelect(t *testing.T) {
	faces := []Face{
		{Box: Box{X1: 100, Y1: 0, X2: 150, Y2: 50}}, // area 2500
		{Box: Box{X1: 0, Y1: 0, X2: 80, Y2: 80}},    // area 6400: the largest
		{Box: Box{X1: 300, Y1: 0, X2: 340, Y2: 40}}, // area 1600
	}
	ref := Normalize([]float32{1, 0, 0})
	emb := [][]float32{
		Normalize([]float32{0.9, 0.1, 0}), // distance 0.012: same person
		Normalize([]float32{0, 1, 0}),     // distance 2: someone else
		Normalize([]float32{1, 0.6, 0}),   // distance ~0.28
	}
	tests := []struct {
		mode string
		want []int
	}{
		{SelectMany, []int{0, 1, 2}},
		{SelectOne, []int{1}},
		{"", []int{1}},
		{SelectReference, []int{0, 2}},
	}
	for _, tc := range tests {
		got, err := Select(tc.mode, faces, emb, ref, DefaultSimilarDistance)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Select(%q) = %v, %v; want %v", tc.mode, got, err, tc.want)
		}
	}
	if got, _ := Select(SelectReference, faces, emb, ref, 0.1); !reflect.DeepEqual(got, []int{0}) {
		t.Errorf("tight threshold selected %v", got)
	}
	if got, _ := Select(SelectOne, nil, nil, nil, 0); len(got) != 0 {
		t.Errorf("no faces selected %v", got)
	}
	if _, err := Select("bogus", faces, nil, nil, 0); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := Select(SelectReference, faces, nil, ref, 0.85); err == nil {
		t.Error("reference mode without embeddings accepted")
	}
}

func TestDistanceIsRoops(t *testing.T) {
	a, b := Normalize([]float32{3, 4}), Normalize([]float32{4, 3})
	// |a-b|^2 = 2 - 2cos = 2 - 2*24/25
	if d := Distance(a, b); d < 0.0799 || d > 0.0801 {
		t.Fatalf("distance %v, want 0.08", d)
	}
	if n := Normalize([]float32{0, 0}); n[0] != 0 || n[1] != 0 {
		t.Fatal("zero vector not kept")
	}
}

func TestSortLeftToRight(t *testing.T) {
	f := []Face{{Box: Box{X1: 30}}, {Box: Box{X1: 10}}, {Box: Box{X1: 20}}}
	SortLeftToRight(f)
	if f[0].Box.X1 != 10 || f[1].Box.X1 != 20 || f[2].Box.X1 != 30 {
		t.Fatalf("order %v", f)
	}
}
