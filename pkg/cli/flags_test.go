package cli

import "testing"

func TestPaddingFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [4]float32
		ok   bool
	}{
		{"10", [4]float32{10, 10, 10, 10}, true},
		{"10,20", [4]float32{10, 20, 10, 20}, true},
		{"1 2 3 4", [4]float32{1, 2, 3, 4}, true},
		{"1,2,3", [4]float32{}, false},
		{"-1", [4]float32{}, false},
		{"101", [4]float32{}, false},
		{"x", [4]float32{}, false},
		{"NaN", [4]float32{}, false},
		{"10,Inf", [4]float32{}, false},
	} {
		var p [4]float32
		err := padding{&p}.Set(tc.in)
		if (err == nil) != tc.ok || (tc.ok && p != tc.want) {
			t.Errorf("Set(%q) = %v, %v; want %v ok=%v", tc.in, p, err, tc.want, tc.ok)
		}
	}
}

func TestGigabytesFlag(t *testing.T) {
	var b int64
	g := gigabytes{&b}
	if err := g.Set("1.5"); err != nil || b != 3<<29 {
		t.Fatalf("1.5 GB = %d bytes, %v", b, err)
	}
	if g.String() != "1.5" {
		t.Fatalf("String() = %q", g.String())
	}
	if g.Set("-1") == nil || g.Set("lots") == nil || g.Set("NaN") == nil || g.Set("Inf") == nil || g.Set("1e12") == nil {
		t.Fatal("bad sizes accepted")
	}
}
