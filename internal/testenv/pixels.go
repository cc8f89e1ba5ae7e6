package testenv

// SquaredError is the sum of squared differences of two pictures of the same size and layout (8-bit samples).
func SquaredError(a, b []byte) float64 {
	var sum float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		sum += d * d
	}
	return sum
}
