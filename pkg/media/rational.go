package media

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Rational is an exact ratio such as a frame rate (30000/1001). The zero value means "unknown", like ffprobe's "0/0".
type Rational struct{ Num, Den int }

// Float returns Num/Den, or 0 when Den is 0.
func (r Rational) Float() float64 {
	if r.Den == 0 {
		return 0
	}
	return float64(r.Num) / float64(r.Den)
}

// String formats r as ffmpeg does: "30000/1001".
func (r Rational) String() string { return strconv.Itoa(r.Num) + "/" + strconv.Itoa(r.Den) }

// MarshalText writes r as String does, so that job messages carry "3/4".
func (r Rational) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads what MarshalText writes (anything ParseRational takes).
func (r *Rational) UnmarshalText(b []byte) error {
	v, err := ParseRational(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// IsZero reports whether r is unknown or zero.
func (r Rational) IsZero() bool { return r.Num == 0 || r.Den == 0 }

// ParseRational parses "30000/1001", "25" or a decimal such as "29.97" (-> 2997/100). The result is reduced
// ("50/2" -> 25/1). ffprobe's "0/0" (unknown) parses to the zero Rational without error; negative values and
// other zero denominators are errors.
func ParseRational(s string) (Rational, error) {
	s = strings.TrimSpace(s)
	if s == "0/0" {
		return Rational{}, nil
	}
	var r *big.Rat
	if num, den, ok := strings.Cut(s, "/"); ok {
		n, err1 := strconv.ParseInt(num, 10, 64)
		d, err2 := strconv.ParseInt(den, 10, 64)
		if err1 != nil || err2 != nil || d == 0 {
			return Rational{}, fmt.Errorf("media: invalid rational %q", s)
		}
		r = big.NewRat(n, d)
	} else {
		var ok bool
		if r, ok = new(big.Rat).SetString(s); !ok || strings.ContainsAny(s, "eE") {
			return Rational{}, fmt.Errorf("media: invalid rational %q", s)
		}
	}
	if r.Sign() < 0 {
		return Rational{}, fmt.Errorf("media: invalid rational %q: negative", s)
	}
	if !r.Num().IsInt64() || !r.Denom().IsInt64() || r.Num().Int64() > 1<<31 || r.Denom().Int64() > 1<<31 {
		return Rational{}, fmt.Errorf("media: invalid rational %q: out of range", s)
	}
	return Rational{Num: int(r.Num().Int64()), Den: int(r.Denom().Int64())}, nil
}

// reduced returns r in lowest terms with a positive denominator.
func (r Rational) reduced() Rational {
	if r.Den == 0 {
		return r
	}
	if r.Den < 0 {
		r.Num, r.Den = -r.Num, -r.Den
	}
	g := gcd(abs(r.Num), r.Den)
	if g > 1 {
		r.Num, r.Den = r.Num/g, r.Den/g
	}
	return r
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}
