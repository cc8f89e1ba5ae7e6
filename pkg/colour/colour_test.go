package colour

import (
	"math"
	"testing"
)

func TestLab(t *testing.T) {
	for _, c := range []struct {
		name    string
		b, g, r uint8
		want    [3]float64
	}{
		{"black", 0, 0, 0, [3]float64{0, 0, 0}},
		{"white", 255, 255, 255, [3]float64{100, 0, 0}},
		{"red", 0, 0, 255, [3]float64{53.24, 80.09, 67.20}},
		{"mid grey", 119, 119, 119, [3]float64{50.03, 0, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Lab(c.b, c.g, c.r)
			if math.Sqrt(sq(got[0]-c.want[0])+sq(got[1]-c.want[1])+sq(got[2]-c.want[2])) > 0.05 {
				t.Errorf("got %.2f, want %.2f", got, c.want)
			}
		})
	}
}

func sq(v float64) float64 { return v * v }
