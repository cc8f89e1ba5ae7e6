package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// maxGB bounds every size flag in GB (1 PiB): a larger budget or limit is a typo, and beyond about 1.7e10 GB the
// byte count no longer fits the integers it is kept in.
const maxGB = 1 << 20

// parseFinite parses a flag's number; NaN and the infinities pass strconv.ParseFloat and slip through every range
// check (NaN compares false with any limit), so they are refused here, for every flag that takes a fraction.
func parseFinite(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("%q: want a number", s)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q: want a finite number", s)
	}
	return f, nil
}

// finite wraps a pflag float value so that it refuses NaN and infinities. Every value reaches a flag through Set,
// from the command line, FACEFLEET_* or the config file (pkg/config), so this is the one place they are refused.
type finite struct{ pflag.Value }

func (v finite) Set(s string) error {
	if _, err := parseFinite(s); err != nil {
		return err
	}
	return v.Value.Set(s)
}

// finiteFloats wraps every float flag of a command tree in finite. Sizes in GB (sizeGB, gigabytes) check their own.
func finiteFloats(root *cobra.Command) {
	wrap := func(f *pflag.Flag) {
		switch f.Value.(type) {
		case finite:
			return
		}
		switch f.Value.Type() {
		case "float32", "float64", "float32Slice", "float64Slice":
			f.Value = finite{f.Value}
		}
	}
	root.Flags().VisitAll(wrap)
	root.PersistentFlags().VisitAll(wrap)
	for _, c := range root.Commands() {
		finiteFloats(c)
	}
}

// parseGB parses a size in GB: finite, from 0 to maxGB.
func parseGB(s string) (float64, error) {
	f, err := parseFinite(s)
	if err != nil || f < 0 || f > maxGB {
		return 0, fmt.Errorf("%q: want a size in GB from 0 to %d", s, maxGB)
	}
	return f, nil
}

// sizeGB is a size flag kept in GB (--max-memory, --max-input-size).
type sizeGB struct{ gb *float64 }

func (v sizeGB) String() string {
	if v.gb == nil {
		return "0"
	}
	return strconv.FormatFloat(*v.gb, 'g', -1, 64)
}
func (v sizeGB) Type() string { return "GB" }
func (v sizeGB) Set(s string) error {
	f, err := parseGB(s)
	if err != nil {
		return err
	}
	*v.gb = f
	return nil
}

// gigabytes is a size flag given in GB and kept in bytes (--execution-gpu-mem-limit).
type gigabytes struct{ b *int64 }

func (v gigabytes) String() string {
	if v.b == nil {
		return "0"
	}
	return strconv.FormatFloat(float64(*v.b)/(1<<30), 'g', -1, 64)
}
func (v gigabytes) Type() string { return "GB" }
func (v gigabytes) Set(s string) error {
	f, err := parseGB(s)
	if err != nil {
		return err
	}
	*v.b = int64(f * (1 << 30))
	return nil
}

// padding parses --face-mask-padding like FaceFusion: one value for all sides, two for vertical and horizontal, or
// top,right,bottom,left.
type padding struct{ p *[4]float32 }

func (v padding) String() string {
	if v.p == nil {
		return "0"
	}
	return fmt.Sprintf("%g,%g,%g,%g", v.p[0], v.p[1], v.p[2], v.p[3])
}
func (v padding) Type() string { return "top,right,bottom,left" }
func (v padding) Set(s string) error {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
	var vals []float32
	for _, p := range parts {
		f, err := parseFinite(p)
		if err != nil || f < 0 || f > 100 {
			return fmt.Errorf("%q: want percentages 0-100", p)
		}
		vals = append(vals, float32(f))
	}
	switch len(vals) {
	case 1:
		*v.p = [4]float32{vals[0], vals[0], vals[0], vals[0]}
	case 2:
		*v.p = [4]float32{vals[0], vals[1], vals[0], vals[1]}
	case 4:
		copy(v.p[:], vals)
	default:
		return fmt.Errorf("%q: want 1, 2 or 4 values", s)
	}
	return nil
}
