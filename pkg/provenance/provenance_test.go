package provenance

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLabelImageStaysDecodable(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(1, 1, color.White)
	var p, j bytes.Buffer
	if err := png.Encode(&p, img); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&j, img, nil); err != nil {
		t.Fatal(err)
	}
	tags := Tags("facefleet test")
	for _, tc := range []struct {
		name string
		in   []byte
		dec  func([]byte) error
	}{
		{"png", p.Bytes(), func(b []byte) error { _, err := png.Decode(bytes.NewReader(b)); return err }},
		{"jpeg", j.Bytes(), func(b []byte) error { _, err := jpeg.Decode(bytes.NewReader(b)); return err }},
	} {
		out, err := LabelImage(tc.in, tags)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := tc.dec(out); err != nil {
			t.Fatalf("%s: labelled image no longer decodes: %v", tc.name, err)
		}
		if !bytes.Contains(out, []byte(KeySynthetic)) || !bytes.Contains(out, []byte(SourceType)) {
			t.Fatalf("%s: label missing", tc.name)
		}
	}
	if _, err := LabelImage([]byte("GIF89a"), tags); err == nil {
		t.Fatal("gif accepted")
	}
}

func TestSidecar(t *testing.T) {
	out := filepath.Join(t.TempDir(), "o.mp4")
	if err := WriteSidecar(Record{SyntheticMedia: true, Output: out, Terms: Terms}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(SidecarPath(out))
	if err != nil || !strings.Contains(string(b), `"synthetic_media": true`) {
		t.Fatalf("sidecar %q %v", b, err)
	}
}
