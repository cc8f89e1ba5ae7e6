package memory

import (
	"errors"
	"strings"
	"testing"
)

// TestModelInProcess: the in-process measurements of pkg/media's decoder and x264 encoder (VmHWM less the RSS before
// them; ffmpeg_model.go) at 4K and 10000x10000, long and short clips, lie under the model and not far: the plan
// for a large frame is above its peak but close (the old decoder model asked 4.4 times the 10000x10000 decoder).
func TestModelInProcess(t *testing.T) {
	tests := []struct {
		name                string
		w, h                int
		threads, frames, la int // frames 0: as many as the encoder holds; encoder rows have la > 0
		mib                 uint64
	}{
		{"decoder", 10000, 10000, 1, 16, 0, 1112},
		{"decoder", 10000, 10000, 2, 16, 0, 1454},
		{"decoder", 10000, 10000, 4, 16, 0, 1927},
		{"x264, 30 frames", 3840, 2160, 3, 0, 10, 807},
		{"x264, 5 frames", 3840, 2160, 3, 5, 10, 331},
		{"x264, 10 frames", 3840, 2160, 3, 10, 10, 538},
		{"x264, 5 frames", 10000, 10000, 3, 5, 10, 3620},
		{"x264, 16 frames", 10000, 10000, 3, 16, 10, 8310},
		{"x264, 16 frames, lookahead 5", 10000, 10000, 3, 16, 5, 7463},
		{"x264, 5 frames", 10000, 10000, 1, 5, 10, 3333},
		{"x264, 16 frames", 10000, 10000, 1, 16, 10, 6456},
	}
	for _, tt := range tests {
		var got uint64
		if tt.la == 0 {
			got = DecoderRSS(tt.w, tt.h, tt.threads)
		} else {
			got = inProcess(EncoderRSSFrames("libx264", tt.w, tt.h, tt.threads, tt.la, tt.frames))
		}
		want := tt.mib * mib
		if got < want || float64(got) > 1.3*float64(want) {
			t.Errorf("%s %dx%d, %d threads: model %d MiB, measured %d MiB: want within [+0%%, +30%%]",
				tt.name, tt.w, tt.h, tt.threads, got/mib, tt.mib)
		}
	}
	if EncoderRSSFrames("libx264", 1920, 1080, 3, 10, 1000) != EncoderRSS("libx264", 1920, 1080, 3, 10) {
		t.Error("a long clip should cost the full encoder")
	}
	if EncoderRSSFrames("libx265", 1920, 1080, 3, 0, 2) != EncoderRSS("libx265", 1920, 1080, 3, 0) {
		t.Error("x265 has no short-clip model: it should cost the full encoder")
	}
}

// TestPlanImage: an image target is planned from its header's size; one too large for the budget is refused in
// one line that names the smallest budget that does. The 16000x16000 PNG of the issue peaked at 2.91 GB
// (/usr/bin/time -v) and was processed under --max-memory 1.
func TestPlanImage(t *testing.T) {
	const peak16k = 2906672 * 1024 // bytes, measured
	tests := []struct {
		name    string
		budget  float64
		in      ImageInput
		wantErr string
	}{
		{"16000x16000 PNG, 1 GB", 1, ImageInput{Width: 16000, Height: 16000, ModelBytes: 75 * mib},
			"--max-memory 1 GB is too small for the 16000x16000 image: needs at least 5.4 GB"},
		{"16000x16000 PNG, 6 GB", 6, ImageInput{Width: 16000, Height: 16000, ModelBytes: 75 * mib}, ""},
		{"16000x16000 JPEG to JPEG, 1 GB", 1, ImageInput{Width: 16000, Height: 16000, JPEGIn: true, JPEGOut: true},
			"--max-memory 1 GB is too small for the 16000x16000 image: needs at least 4.7 GB"},
		{"1920x1080 PNG, 1 GB", 1, ImageInput{Width: 1920, Height: 1080, ModelBytes: 75 * mib}, ""},
		{"no budget", 0, ImageInput{Width: 16000, Height: 16000}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := gb(tt.budget).PlanImage(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				var be *BudgetError
				if err == nil || err.Error() != tt.wantErr || !errors.As(err, &be) || !errors.Is(err, ErrBudgetTooSmall) {
					t.Fatalf("PlanImage: %v\nwant %s", err, tt.wantErr)
				}
				if _, err := (Budget{Total: be.Need}).PlanImage(tt.in); err != nil {
					t.Errorf("the named budget fails: %v", err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Error("not one line")
				}
			}
			if tt.in.Width == 16000 && !tt.in.JPEGIn && e.Peak < peak16k {
				t.Errorf("estimate %d below the measured peak %d", e.Peak, uint64(peak16k))
			}
		})
	}
	if _, err := (Budget{}).PlanImage(ImageInput{Width: 0, Height: 5}); err == nil || errors.Is(err, ErrBudgetTooSmall) {
		t.Errorf("a 0x5 image: %v, want an input error", err)
	}
}
