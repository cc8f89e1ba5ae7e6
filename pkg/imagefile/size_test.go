package imagefile

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestSize: the size comes from the header of PNGs and JPEGs (a truncated file whose header is whole still has
// one); other formats and damaged headers are left to the probe.
func TestSize(t *testing.T) {
	dir := t.TempDir()
	gen := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		full := append([]string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=321x123", "-frames:v", "1"}, args...)
		if out, err := exec.Command("ffmpeg", append(full, p)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v %s", err, out)
		}
		return p
	}
	png, jpg, bmp := gen("a.png"), gen("a.jpg"), gen("a.bmp")
	whole, _ := os.ReadFile(png)
	cut := filepath.Join(dir, "cut.png")
	_ = os.WriteFile(cut, whole[:64], 0o600)
	junk := filepath.Join(dir, "junk.png")
	_ = os.WriteFile(junk, append([]byte(nil), pngMagic...), 0o600)
	tests := []struct {
		path string
		ok   bool
	}{{png, true}, {jpg, true}, {cut, true}, {bmp, false}, {junk, false}}
	for _, tt := range tests {
		w, h, ok, err := Size(tt.path)
		if err != nil || ok != tt.ok || ok && (w != 321 || h != 123) {
			t.Errorf("%s: %dx%d ok %v err %v, want ok %v and 321x123", filepath.Base(tt.path), w, h, ok, err, tt.ok)
		}
	}
	if _, _, _, err := Size(filepath.Join(dir, "missing.png")); err == nil {
		t.Error("a missing file has no error")
	}
}
