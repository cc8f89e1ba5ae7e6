package job

import (
	"encoding/json"
	"testing"
)

func TestFacesFound(t *testing.T) {
	counted := func(n int) Commit { return Commit{Faces: n, FacesCounted: true} }
	tests := []struct {
		name        string
		commits     []Commit
		faces       int
		wantCounted bool
	}{
		{"none found in any segment", []Commit{counted(0), counted(0)}, 0, true},
		{"found in one segment", []Commit{counted(0), counted(3)}, 3, true},
		{"one worker did not count (processor none, older worker)", []Commit{counted(0), {}}, 0, false},
		{"no commits", nil, 0, false},
	}
	for _, tt := range tests {
		faces, ok := FacesFound(tt.commits)
		if faces != tt.faces || ok != tt.wantCounted {
			t.Errorf("%s: %d, %v; want %d, %v", tt.name, faces, ok, tt.faces, tt.wantCounted)
		}
	}
	// Commits are compared as values (a takeover must leave them unchanged): two reads of one are equal.
	b, _ := json.Marshal(counted(2))
	var x, y Commit
	_ = json.Unmarshal(b, &x)
	_ = json.Unmarshal(b, &y)
	if x != y {
		t.Errorf("two reads of one commit differ: %+v, %+v", x, y)
	}
}
