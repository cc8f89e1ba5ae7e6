package version

import "testing"

// TestWithStamp: a build the toolchain did not stamp takes the Makefile's -ldflags revision; one it stamped keeps
// its own.
func TestWithStamp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		b        Build
		stamp    string
		rev      string
		modified bool
	}{
		{"not stamped, no ldflags", Build{}, "", "", false},
		{"ldflags, clean", Build{}, "339195d1c2ab", "339195d1c2ab", false},
		{"ldflags, modified", Build{}, "339195d1c2ab+modified", "339195d1c2ab", true},
		{"the toolchain's wins", Build{Revision: "aaaa"}, "bbbb+modified", "aaaa", false},
	} {
		got := withStamp(tc.b, tc.stamp)
		if got.Revision != tc.rev || got.Modified != tc.modified {
			t.Errorf("%s: %+v", tc.name, got)
		}
	}
}
