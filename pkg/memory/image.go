package memory

import (
	"fmt"
	"math"
)

// An image target is read whole, processed and written whole: its peak grows with its pixels and nothing can be
// traded for memory (no pool, no codec threads), so a picture that does not fit is refused before it is decoded.
//
// Measured on machine A with /usr/bin/time -v: a 16000x16000 PNG (testsrc, 1.8 MB) swapped into a PNG peaked at
// 2.91 GB (2906672 KB), of which 0.2 GB are the process and its models: 10.8 bytes a pixel. They are the decoded BGR
// picture (3), Go's decoded RGBA image (4, garbage once copied, but the next allocation comes before the collector
// returns it) and the RGBA image Go's PNG encoder reads (4). JPEG goes through libjpeg-turbo straight into the BGR
// picture and out of it: 3 bytes a pixel and the encoded bytes, which at quality 100 4:4:4 may reach 3 a pixel,
// held twice (the encoder's buffer, the labelled copy). Other formats are decoded by FFmpeg (a frame in the
// decoder's format and the converted one): counted as PNG.
const (
	imagePixelBytes     = 3 // the BGR picture
	pngCodecPixelBytes  = 8 // Go's RGBA images: one decoded, one encoded
	jpegCodecPixelBytes = 6 // the encoded output, twice
)

// ImageInput describes an image target to plan.
type ImageInput struct {
	Width, Height int
	// FileBytes is the target file's size: read whole before decoding.
	FileBytes uint64
	// JPEGIn and JPEGOut say the target is, and the output will be, a JPEG (else PNG, or decoded by FFmpeg).
	JPEGIn, JPEGOut bool
	// ModelBytes and ProcessBytes are as PlanInput's (0 ProcessBytes is DefaultProcessBytes); ScratchBytes 0 is
	// DefaultScratchPerPixel bytes per pixel.
	ModelBytes, ProcessBytes, ScratchBytes uint64
}

// EstimateImage models the peak of an image job.
func (in ImageInput) EstimateImage() Estimate {
	px := uint64(max(in.Width, 0)) * uint64(max(in.Height, 0))
	process := in.ProcessBytes
	if process == 0 {
		process = DefaultProcessBytes
	}
	scratch := in.ScratchBytes
	if scratch == 0 {
		scratch = px * DefaultScratchPerPixel
	}
	codec := uint64(0)
	if !in.JPEGIn {
		codec += pngCodecPixelBytes / 2 * px
	}
	if in.JPEGOut {
		codec += jpegCodecPixelBytes * px
	} else {
		codec += pngCodecPixelBytes / 2 * px
	}
	items := []Item{
		{"process (binary, libraries)", process},
		{"go heap", GoHeapBytes},
		{"models", in.ModelBytes},
		{"target file", in.FileBytes},
		{fmt.Sprintf("picture (%dx%d bgr24)", in.Width, in.Height), imagePixelBytes * px},
		{"decoding and encoding", codec},
		{"crops", scratch},
	}
	var total uint64
	for _, it := range items {
		total += it.Bytes
	}
	return Estimate{Peak: total, Breakdown: items}
}

// PlanImage checks that an image job fits the budget (its estimate within PlanFraction of it) and returns the
// estimate; a picture that does not fit is a *BudgetError naming the smallest budget that would do.
func (b Budget) PlanImage(in ImageInput) (Estimate, error) {
	if in.Width <= 0 || in.Height <= 0 {
		return Estimate{}, fmt.Errorf("memory: plan: image size %dx%d", in.Width, in.Height)
	}
	e := in.EstimateImage()
	if b.Total > 0 && float64(e.Peak) > PlanFraction*float64(b.Total) {
		need := float64(e.Peak) / PlanFraction
		return e, &BudgetError{Budget: b.Total, Need: uint64(math.Ceil(need/(GB/10)-1e-9) * (GB / 10)),
			Width: in.Width, Height: in.Height, Image: true}
	}
	return e, nil
}
