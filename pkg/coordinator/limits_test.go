package coordinator

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/facefleet/facefleet/pkg/media"
)

func TestLimits(t *testing.T) {
	lim := Limits{MaxInputBytes: 1 << 30, MaxWidth: 1920, MaxHeight: 1080, MaxDuration: time.Hour}
	for _, tc := range []struct {
		name string
		size int64
		info media.Info
		want string // "" = accepted
	}{
		{"within", 1 << 20, media.Info{Width: 1920, Height: 1080, Duration: 3599}, ""},
		{"too big", 2 << 30, media.Info{Width: 640, Height: 480, Duration: 10}, "2.0 GB is larger than the 1.0 GB input limit"},
		{"too wide", 1, media.Info{Width: 3840, Height: 1080, Duration: 10}, "3840x1080 is larger than the 1920x1080 resolution limit"},
		{"too tall", 1, media.Info{Width: 1080, Height: 1920, Duration: 10}, "resolution limit"},
		{"too long", 1, media.Info{Width: 640, Height: 480, Duration: 3601}, "3601 s is longer than the 1h0m0s duration limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := lim.Check("clip.mp4", tc.size, &tc.info)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (!errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "clip.mp4: ")):
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if err := (Limits{}).Check("x", 1<<40, &media.Info{Width: 1 << 14, Height: 1 << 14, Duration: 1e6}); err != nil {
		t.Fatalf("zero limits refused: %v", err)
	}
}
