package models

import (
	"slices"
	"strings"
	"testing"
)

func TestFilterSpecOfManifest(t *testing.T) {
	e, err := Lookup("open_nsfw")
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != ContentFilter || e.Distribution != DistUser || e.Filter == nil {
		t.Fatalf("open_nsfw: kind %s, distribution %s, filter %v", e.Kind, e.Distribution, e.Filter)
	}
	f := *e.Filter
	if f.Layout != LayoutNHWC || f.Order != OrderBGR || f.Width != 224 || f.Height != 224 || f.Threshold != 0.8 ||
		f.Mean != [3]float32{104, 117, 123} || f.Std != [3]float32{1, 1, 1} || f.Scale != 1 ||
		!slices.Equal(f.Shape, []int64{1, 2}) || f.Score != 1 || f.Input != "*" || f.Output != "*" {
		t.Fatalf("open_nsfw spec %+v", f)
	}
}

// Every malformed declaration is refused with the key at fault: the manifest is parsed at start, so a bad row is
// a build defect caught here, never a classifier fed the wrong numbers.
func TestFilterSpecRejects(t *testing.T) {
	const good = "input=* layout=NCHW size=8x4 order=RGB scale=0.00392 mean=0.5,0.5,0.5 std=0.5,0.5,0.5 output=prob shape=1,2 score=1 threshold=0.8"
	if f, err := ParseFilterSpec(good + " free text: a=b after it is ignored"); err != nil || f.Width != 8 || f.Height != 4 {
		t.Fatalf("good spec: %+v, %v", f, err)
	}
	for _, tc := range []struct{ from, to, key string }{
		{"layout=NCHW", "layout=CHW", "layout"},
		{"size=8x4", "size=8", "size"},
		{"size=8x4", "size=0x4", "size"},
		{"size=8x4", "size=8x99999", "size"},
		{"order=RGB", "order=RGBA", "order"},
		{"scale=0.00392", "scale=NaN", "scale"},
		{"scale=0.00392", "scale=0", "scale"},
		{"mean=0.5,0.5,0.5", "mean=0.5,0.5", "mean"},
		{"mean=0.5,0.5,0.5", "mean=0.5,Inf,0.5", "mean"},
		{"std=0.5,0.5,0.5", "std=0.5,0,0.5", "std"},
		{"shape=1,2", "shape=1,-2", "shape"},
		{"score=1", "score=2", "score"},
		{"threshold=0.8", "threshold=1", "threshold"},
		{"threshold=0.8", "threshold=NaN", "threshold"},
		{"threshold=0.8", "", "threshold"},
		{"input=*", "input=* input=x", "input"},
	} {
		s := strings.Replace(good, tc.from, tc.to, 1)
		if _, err := ParseFilterSpec(s); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: err %v, want one naming %s", tc.to, err, tc.key)
		}
	}
	bad := strings.Join(manifestColumns, "\t") + "\nx\tx.onnx\tcontent_filter\tuser\t\t\tMIT\t\ts\tinput=* layout=NHWC\n"
	if _, err := parseManifest(bad); err == nil || !strings.Contains(err.Error(), "content_filter contract") {
		t.Fatalf("manifest with a bad declaration: %v", err)
	}
}
