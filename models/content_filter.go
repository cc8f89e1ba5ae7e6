package models

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FilterSpec is how a content_filter model is fed and read, declared in its manifest contract as key=value words
// before any free text:
//
//	input=NAME layout=NHWC|NCHW size=WxH order=RGB|BGR [scale=S] mean=M,M,M std=S,S,S output=NAME shape=D,D,.. score=I threshold=T
//
// A pixel v (0-255, channel c in order) is fed as (v*scale - mean[c]) / std[c]. The score is element I of the
// output (flat, row-major), a probability; a sample scoring above threshold is flagged. NAME "*" is the model's
// only input, or its first output.
type FilterSpec struct {
	Input         string
	Layout        string
	Width, Height int
	Order         string
	Scale         float32
	Mean, Std     [3]float32
	Output        string
	Shape         []int64
	Score         int
	Threshold     float64
}

// Layouts and channel orders a FilterSpec may declare.
const (
	LayoutNCHW = "NCHW"
	LayoutNHWC = "NHWC"
	OrderRGB   = "RGB"
	OrderBGR   = "BGR"
)

// maxFilterSide bounds a declared input size: a classifier's input is a thumbnail, never a frame.
const maxFilterSide = 4096

// ParseFilterSpec reads the declaration at the start of a content_filter contract.
func ParseFilterSpec(contract string) (FilterSpec, error) {
	fs := FilterSpec{Scale: 1}
	seen := map[string]string{}
	for _, w := range strings.Fields(contract) {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			break // free text from here
		}
		if _, dup := seen[k]; dup {
			return fs, fmt.Errorf("%s declared twice", k)
		}
		seen[k] = v
	}
	for _, k := range []string{"input", "layout", "size", "order", "mean", "std", "output", "shape", "score", "threshold"} {
		if seen[k] == "" {
			return fs, fmt.Errorf("%s= is required", k)
		}
	}
	var err error
	fs.Input, fs.Output, fs.Layout, fs.Order = seen["input"], seen["output"], seen["layout"], seen["order"]
	if fs.Layout != LayoutNCHW && fs.Layout != LayoutNHWC {
		return fs, fmt.Errorf("layout=%s: want NCHW or NHWC", fs.Layout)
	}
	if fs.Order != OrderRGB && fs.Order != OrderBGR {
		return fs, fmt.Errorf("order=%s: want RGB or BGR", fs.Order)
	}
	w, h, ok := strings.Cut(seen["size"], "x")
	if fs.Width, err = strconv.Atoi(w); !ok || err != nil || fs.Width < 1 || fs.Width > maxFilterSide {
		return fs, fmt.Errorf("size=%s: want WxH, each 1-%d", seen["size"], maxFilterSide)
	}
	if fs.Height, err = strconv.Atoi(h); err != nil || fs.Height < 1 || fs.Height > maxFilterSide {
		return fs, fmt.Errorf("size=%s: want WxH, each 1-%d", seen["size"], maxFilterSide)
	}
	if s, ok := seen["scale"]; ok {
		v, err := finite32(s)
		if err != nil || v == 0 {
			return fs, fmt.Errorf("scale=%s: want a finite non-zero number", s)
		}
		fs.Scale = v
	}
	if fs.Mean, err = triple(seen["mean"], false); err != nil {
		return fs, fmt.Errorf("mean=%s: %w", seen["mean"], err)
	}
	if fs.Std, err = triple(seen["std"], true); err != nil {
		return fs, fmt.Errorf("std=%s: %w", seen["std"], err)
	}
	n := int64(1)
	for _, d := range strings.Split(seen["shape"], ",") {
		v, err := strconv.ParseInt(d, 10, 64)
		if err != nil || v < 1 || v > 1<<20 {
			return fs, fmt.Errorf("shape=%s: want positive dimensions", seen["shape"])
		}
		fs.Shape, n = append(fs.Shape, v), n*v
	}
	if fs.Score, err = strconv.Atoi(seen["score"]); err != nil || fs.Score < 0 || int64(fs.Score) >= n {
		return fs, fmt.Errorf("score=%s: want an index below the output's %d elements", seen["score"], n)
	}
	if fs.Threshold, err = strconv.ParseFloat(seen["threshold"], 64); err != nil || !(fs.Threshold >= 0 && fs.Threshold < 1) {
		return fs, fmt.Errorf("threshold=%s: want 0 <= t < 1", seen["threshold"])
	}
	return fs, nil
}

func triple(s string, positive bool) ([3]float32, error) {
	var out [3]float32
	f := strings.Split(s, ",")
	if len(f) != 3 {
		return out, errors.New("want three comma-separated numbers, one per channel")
	}
	for i := range f {
		v, err := finite32(f[i])
		if err != nil || (positive && v <= 0) {
			return out, errors.New("want finite numbers (std > 0)")
		}
		out[i] = v
	}
	return out, nil
}

func finite32(s string) (float32, error) {
	v, err := strconv.ParseFloat(s, 32)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, errors.New("not a finite number")
	}
	return float32(v), nil
}
