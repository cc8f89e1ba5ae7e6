package face

import (
	"fmt"
	"math"
	"sort"
)

// Selector modes, FaceFusion's names with roop's meanings.
const (
	SelectMany      = "many"      // every face
	SelectOne       = "one"       // one person, followed through the video (Follower); Select: the largest face
	SelectReference = "reference" // faces close to a reference identity
)

// DefaultSimilarDistance is roop's threshold: two normalised embeddings belong to the same person when
// |n1-n2|^2 < 0.85.
const DefaultSimilarDistance = 0.85

// Normalize returns v / |v| (a zero vector stays zero).
func Normalize(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	if s == 0 {
		return out
	}
	inv := 1 / math.Sqrt(s)
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return out
}

// Distance is roop's face distance: the squared Euclidean distance of two normalised embeddings (0..4).
func Distance(a, b []float32) float32 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return float32(s)
}

// SortLeftToRight orders faces by the left edge of their box, as roop numbers --reference-face-position.
func SortLeftToRight(faces []Face) {
	sort.SliceStable(faces, func(i, j int) bool { return faces[i].Box.X1 < faces[j].Box.X1 })
}

// Select returns the indices of the faces to process. embeddings (one per face) and reference are needed only for
// SelectReference, which keeps every face within maxDistance of the reference, closest first.
func Select(mode string, faces []Face, embeddings [][]float32, reference []float32, maxDistance float32) ([]int, error) {
	switch mode {
	case SelectMany:
		idx := make([]int, len(faces))
		for i := range idx {
			idx[i] = i
		}
		return idx, nil
	case SelectOne, "":
		best, area := -1, float32(-1)
		for i, f := range faces {
			if a := f.Box.Area(); a > area {
				best, area = i, a
			}
		}
		if best < 0 {
			return nil, nil
		}
		return []int{best}, nil
	case SelectReference:
		if len(embeddings) != len(faces) || len(reference) == 0 {
			return nil, fmt.Errorf("face: reference selection needs one embedding per face and a reference")
		}
		var idx []int
		for i, e := range embeddings {
			if Distance(e, reference) < maxDistance {
				idx = append(idx, i)
			}
		}
		sort.SliceStable(idx, func(a, b int) bool {
			return Distance(embeddings[idx[a]], reference) < Distance(embeddings[idx[b]], reference)
		})
		return idx, nil
	}
	return nil, fmt.Errorf("face: selector mode %q: want many, one or reference", mode)
}
