package provenance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func encoded(t *testing.T, format string) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 8, 8))
	var b bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// noTags is a video reader that must not be called for a picture.
func noTags(t *testing.T) func(context.Context, string) (map[string]string, error) {
	return func(context.Context, string) (map[string]string, error) {
		t.Error("a picture's label was looked for in container tags")
		return nil, nil
	}
}

func TestInspect(t *testing.T) {
	type setup struct {
		format   string // png, jpg, or mp4 (tags come from the fake container reader)
		label    bool
		sidecar  string // "", "match", "other", "garbage", "hostile"
		modified bool   // the file changes after its record was written
	}
	for _, tc := range []struct {
		name    string
		s       setup
		verdict Verdict
		problem string
	}{
		{"png, labelled and recorded", setup{"png", true, "match", false}, Verified, ""},
		{"jpeg, labelled and recorded", setup{"jpg", true, "match", false}, Verified, ""},
		{"video, labelled and recorded", setup{"mp4", true, "match", false}, Verified, ""},
		{"png, neither", setup{"png", false, "", false}, Unlabelled, "no synthetic-media label and no provenance record"},
		{"video, neither", setup{"mp4", false, "", false}, Unlabelled, "no synthetic-media label"},
		{"jpeg, label without sidecar", setup{"jpg", true, "", false}, Unverified, "is missing"},
		{"png, changed after", setup{"png", true, "match", true}, Unverified, "the file was changed after it was made"},
		{"png, sidecar of another file", setup{"png", true, "other", false}, Unverified, "of another file"},
		{"png, sidecar not JSON", setup{"png", true, "garbage", false}, Unverified, "unreadable: not a provenance record"},
		{"png, sidecar with a bad hash", setup{"png", true, "hostile", false}, Unverified, "is not a sha256"},
		{"png, label stripped", setup{"png", false, "match", false}, Unverified, "label is gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "out."+tc.s.format)
			var data []byte
			tags := noTags(t)
			switch tc.s.format {
			case "mp4":
				data = []byte("a video, as far as the fake container reader says")
				tags = func(_ context.Context, path string) (map[string]string, error) {
					if tc.s.label {
						return Tags(Generator), nil
					}
					return map[string]string{"encoder": "Lavf"}, nil
				}
			default:
				data = encoded(t, map[string]string{"png": "png", "jpg": "jpeg"}[tc.s.format])
				if tc.s.label {
					var err error
					if data, err = LabelImage(data, Tags(Generator)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			rec := New(p, []string{"face_swapper"})
			rec.SourceSHA256, rec.TargetSHA256 = strings.Repeat("a", 64), strings.Repeat("b", 64)
			rec.OutputSHA256, _ = FileSHA256(p)
			switch tc.s.sidecar {
			case "match":
			case "other":
				rec.OutputSHA256 = strings.Repeat("c", 64)
			case "hostile":
				rec.OutputSHA256 = "\x1b[31m"
			}
			switch tc.s.sidecar {
			case "match", "other", "hostile":
				if err := WriteSidecar(rec); err != nil {
					t.Fatal(err)
				}
			case "garbage":
				if err := os.WriteFile(SidecarPath(p), []byte("{\"synthetic_media\": tru"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.s.modified {
				if err := os.WriteFile(p, append(data, 0), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r, err := Inspect(context.Background(), p, tags)
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict != tc.verdict || !strings.Contains(r.Problem, tc.problem) {
				t.Fatalf("verdict %d %q, want %d %q", r.Verdict, r.Problem, tc.verdict, tc.problem)
			}
			out := r.String()
			if strings.ContainsRune(out, 0x1b) || !strings.HasPrefix(out, p+": ") {
				t.Fatalf("report %q", out)
			}
			if tc.verdict == Verified && (!strings.Contains(out, "made by Facefleet") || !strings.Contains(out, strings.Repeat("a", 64))) {
				t.Fatalf("report %q: want the verdict and the inputs' hashes", out)
			}
		})
	}
}

// A file that cannot be read, or a damaged picture, is an error (exit 1), never a verdict.
func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	trunc := filepath.Join(dir, "cut.png")
	if err := os.WriteFile(trunc, encoded(t, "png")[:20], 0o644); err != nil {
		t.Fatal(err)
	}
	bad := errors.New("not a media file")
	tags := func(_ context.Context, p string) (map[string]string, error) { return nil, fmt.Errorf("%s: %w", p, bad) } // as media.ReadMetadata names it
	txt := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(txt, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "missing.mp4"), dir, trunc, txt} {
		_, err := Inspect(context.Background(), p, tags)
		if err == nil || !strings.HasPrefix(err.Error(), p+": ") {
			t.Errorf("%s: %v, want an error that starts with the file's name", p, err)
		}
	}
}
