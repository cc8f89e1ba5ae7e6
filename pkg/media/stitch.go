package media

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// StitchConfig configures Stitch.
type StitchConfig struct {
	Pieces    []string // processed pieces in order, all encoded by Encoder with equal settings
	AudioFrom string   // file whose first audio stream is muxed in (normally the source); "" = no audio
	Output    string   // the extension picks the container: .mp4, .mkv, .mov or .webm
	// Metadata is written as container tags. Keys are case-insensitive across containers (matroska upper-cases
	// them; ReadMetadata lower-cases them): use lower-case keys.
	Metadata map[string]string
	// Rotation is the source's Info.Rotation (clockwise degrees: 0, 90, 180, 270). Pieces are decoded without
	// rotation, so the output must carry the source's display matrix again for players to show it upright.
	// Only .mp4 and .mov outputs can carry it in ffmpeg 5.1.
	Rotation int
	// Frames, when set, holds each piece's frame count as its maker committed it, one per piece. Stitch then
	// trusts those counts instead of reading every packet of every piece, and checks only what costs nothing:
	// each piece's container header must state exactly its count (an MP4's or MOV's sample table; a piece whose
	// header states none, matroska, is counted packet by packet), else a *PieceError wrapping ErrFrameCount; and
	// the output must hold their sum (the in-process copy counts the video packets it writes; after the ffmpeg
	// command's fallback the output is counted), else ErrFrameCount naming the output.
	Frames []int
}

// Validate reports the first problem with c.
func (c StitchConfig) Validate() error {
	if len(c.Pieces) == 0 {
		return errors.New("media: stitch config: no pieces")
	}
	if err := c.validateOutput(); err != nil {
		return err
	}
	if c.Frames != nil && len(c.Frames) != len(c.Pieces) {
		return fmt.Errorf("media: stitch config: %d frame counts for %d pieces", len(c.Frames), len(c.Pieces))
	}
	for i, n := range c.Frames {
		if n <= 0 {
			return fmt.Errorf("media: stitch config: piece %d: %d frames, want > 0", i, n)
		}
	}
	return nil
}

// validateOutput is Validate of everything but the pieces and their counts: what an Appender is given up front.
func (c StitchConfig) validateOutput() error {
	switch {
	case c.Output == "":
		return errors.New("media: stitch config: Output is empty")
	case containerFormats[strings.ToLower(filepath.Ext(c.Output))] == "":
		return fmt.Errorf("media: stitch config: %s: extension must be .mp4, .mov, .mkv or .webm", c.Output)
	}
	switch ext := strings.ToLower(filepath.Ext(c.Output)); {
	case c.Rotation != 0 && c.Rotation != 90 && c.Rotation != 180 && c.Rotation != 270:
		return fmt.Errorf("media: stitch config: rotation %d must be 0, 90, 180 or 270", c.Rotation)
	case c.Rotation != 0 && ext != ".mp4" && ext != ".mov":
		return fmt.Errorf("media: stitch config: %s: rotation needs an .mp4 or .mov output", c.Output)
	}
	for k := range c.Metadata {
		if k == "" || strings.ContainsAny(k, "=\n\r") {
			return fmt.Errorf("media: stitch config: invalid metadata key %q", k)
		}
	}
	return nil
}

// Stitch joins cfg.Pieces with the concat demuxer (-c copy) and muxes the first audio stream of cfg.AudioFrom
// once, copied, in this process (remux); if that fails (the output container cannot take that audio codec) it runs
// the ffmpeg command, which retries re-encoding the audio (AAC, or Opus for webm). -shortest is not used: the audio keeps its full length. The output is written to a temporary
// name beside cfg.Output and renamed, so cfg.Output never holds a partial file.
//
// Each piece's exact stream duration is written into the concat list: without it the concat demuxer advances by
// the container duration, which MP4 rounds to milliseconds, and at 30000/1001 fps every piece shifted the rest by
// 0.43 ms (9 ms after 20 pieces, growing with the count). Exact durations need .mp4/.mov pieces (Encoder writes
// an exact timescale); for matroska pieces the demuxer's own estimate is used.
func Stitch(ctx context.Context, cfg StitchConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	for _, p := range cfg.Pieces {
		if err := CheckInput(p); err != nil {
			return err
		}
	}
	if cfg.AudioFrom != "" {
		if err := CheckInput(cfg.AudioFrom); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "facefleet-stitch-")
	if err != nil {
		return fmt.Errorf("media: stitch %s: %w", cfg.Output, err)
	}
	defer os.RemoveAll(tmp)
	list, err := concatList(ctx, cfg.Pieces, cfg.Frames)
	if err != nil {
		return err
	}
	listPath := filepath.Join(tmp, "pieces.txt")
	if err := os.WriteFile(listPath, []byte(list), 0o600); err != nil {
		return fmt.Errorf("media: stitch %s: %w", cfg.Output, err)
	}
	delay := 0.0
	if cfg.AudioFrom != "" {
		if delay, err = videoDelay(ctx, cfg.AudioFrom); err != nil {
			return err
		}
	}
	ext := strings.ToLower(filepath.Ext(cfg.Output))
	partial := filepath.Join(filepath.Dir(cfg.Output), "."+filepath.Base(cfg.Output)+".partial")
	defer os.Remove(partial)

	// The remux runs in this process; the ffmpeg command does what it cannot (re-encode audio the container cannot
	// hold) and, when both fail, gives the reference error.
	written, err := remux(ctx, cfg, listPath, partial, ext, delay)
	if err != nil && ctx.Err() == nil {
		written = -1 // the command's output is counted below
		err = stitchRun(ctx, cfg, listPath, partial, ext, delay, "copy")
	}
	if err != nil && cfg.AudioFrom != "" && isFFmpegFailure(err) {
		// Copying fails when the container cannot hold the source's audio codec (pcm in mp4, aac in webm ...).
		reencode := "aac"
		if ext == ".webm" {
			reencode = "libopus"
		}
		err = stitchRun(ctx, cfg, listPath, partial, ext, delay, reencode)
	}
	if err != nil {
		return err
	}
	if err := checkOutputFrames(ctx, cfg, partial, written); err != nil {
		return err
	}
	if err := checkRotation(ctx, cfg, partial); err != nil {
		return err
	}
	if err := os.Rename(partial, cfg.Output); err != nil {
		return fmt.Errorf("media: stitch %s: %w", cfg.Output, err)
	}
	return nil
}

func isFFmpegFailure(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Err == ErrFFmpeg
}

func stitchRun(ctx context.Context, cfg StitchConfig, listPath, out, ext string, delay float64, audioCodec string) error {
	var args []string
	if delay > 0 {
		args = append(args, "-itsoffset", strconv.FormatFloat(delay, 'f', 6, 64))
	}
	args = append(args, "-f", "concat", "-safe", "0", "-i", fileArg(listPath))
	if cfg.AudioFrom != "" {
		args = append(args, "-i", fileArg(cfg.AudioFrom))
	}
	args = append(args, "-map", "0:v:0", "-c:v", "copy")
	if cfg.AudioFrom != "" {
		args = append(args, "-map", "1:a:0?", "-c:a", audioCodec)
	}
	// Tags come only from cfg.Metadata: the pieces' tags are ours (encoder) and the source's are not this file's.
	args = append(args, "-map_metadata", "-1", "-map_chapters", "-1")
	keys := make([]string, 0, len(cfg.Metadata))
	for k := range cfg.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-metadata", k+"="+cfg.Metadata[k])
	}
	if cfg.Rotation != 0 {
		// ffmpeg 5.1 turns a stream "rotate" tag of R into a display matrix that rotates R degrees
		// counterclockwise (older and newer versions differ), so a clockwise rotation C is written as 360-C;
		// checkRotation verifies the result.
		args = append(args, "-metadata:s:v:0", "rotate="+strconv.Itoa((360-cfg.Rotation)%360))
	}
	if ext == ".mp4" || ext == ".mov" {
		args = append(args, "-movflags", "+use_metadata_tags") // else the mov muxer drops keys it does not know
	}
	args = append(args, "-f", containerFormats[ext], "-y", fileArg(out))
	_, stderr, err := run(ctx, ffmpegBin, ffmpegArgs(args...)...)
	if err == nil {
		return nil
	}
	if !isExitError(err) {
		return fmt.Errorf("media: stitch %s: %w", cfg.Output, err)
	}
	return newError(cfg.Output, ErrFFmpeg, stderr, fileArg(out), fileArg(listPath), fileArg(cfg.AudioFrom))
}

// videoDelay returns how long after the start of path its first video stream starts (0 if it has none).
// ffmpeg shifts each input so that its earliest stream starts at 0, while the pieces' video always starts at 0:
// when the source's audio starts first (common in MPEG-TS and matroska), the video must be delayed by this much
// to keep lip sync. When the video starts first, the audio keeps its own offset and nothing is needed.
func videoDelay(ctx context.Context, path string) (float64, error) {
	s, err := scanVideo(ctx, path, false)
	if err != nil {
		return 0, err
	}
	if !s.found || math.IsNaN(s.formatStart) || math.IsNaN(s.start) || s.start-s.formatStart < 0.0005 {
		return 0, nil
	}
	return s.start - s.formatStart, nil
}

// checkRotation makes sure the written file shows as the source did: with another ffmpeg version the rotate tag
// could silently turn the video the wrong way.
func checkRotation(ctx context.Context, cfg StitchConfig, out string) error {
	if cfg.Rotation == 0 {
		return nil
	}
	info, err := Probe(ctx, out)
	if err != nil {
		return err
	}
	if info.Rotation != cfg.Rotation {
		return &Error{Path: cfg.Output, Err: ErrFFmpeg,
			Detail: fmt.Sprintf("output rotation is %d degrees, want %d: this ffmpeg maps the rotate tag differently", info.Rotation, cfg.Rotation)}
	}
	return nil
}

// checkOutputFrames holds the stitched output (out, for cfg.Output) to the sum of cfg.Frames, if set: written is
// the video packets the in-process copy wrote, or -1 when the ffmpeg command wrote out and it must be counted.
func checkOutputFrames(ctx context.Context, cfg StitchConfig, out string, written int64) error {
	if cfg.Frames == nil {
		return nil
	}
	want := 0
	for _, n := range cfg.Frames {
		want += n
	}
	if written < 0 {
		idx, err := ScanFrames(ctx, out)
		if err != nil {
			return err
		}
		written = int64(idx.Count)
	}
	if written != int64(want) {
		return &Error{Path: cfg.Output, Err: ErrFrameCount,
			Detail: fmt.Sprintf("stitched %d frames, the pieces' counts add up to %d", written, want)}
	}
	return nil
}

// concatList writes the concat demuxer script: one quoted absolute path per piece (relative entries would be
// resolved against the list's temp dir), each with its exact duration when the piece's stream has one. With
// frames (one count per piece), each piece's header must state its count (pieceFrames).
func concatList(ctx context.Context, pieces []string, frames []int) (string, error) {
	var b strings.Builder
	b.WriteString("ffconcat version 1.0\n")
	for i, p := range pieces {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("media: stitch: %w", err)
		}
		b.WriteString("file " + quoteConcat(abs) + "\n")
		s, err := scanHeader(ctx, p)
		if err != nil {
			return "", &PieceError{Piece: i, Err: err}
		}
		if !s.found {
			return "", &PieceError{Piece: i, Err: &Error{Path: p, Err: ErrNoVideo}}
		}
		if frames != nil {
			if err := pieceFrames(ctx, p, s, frames[i]); err != nil {
				return "", &PieceError{Piece: i, Err: err}
			}
		}
		if d := durationOf(s); d != "" {
			b.WriteString("duration " + d + "\n")
		}
	}
	return b.String(), nil
}

// pieceFrames checks that the piece at path, whose header scan is s, holds want frames: by its header's count
// where it states one (reading the header only, which is what makes a long job's stitch cheap), else by counting
// its packets.
func pieceFrames(ctx context.Context, path string, s *videoScan, want int) error {
	got, what := s.frames, "its header states"
	if got <= 0 {
		idx, err := ScanFrames(ctx, path)
		if err != nil {
			return err
		}
		got, what = int64(idx.Count), "it holds"
	}
	if got != int64(want) {
		return &Error{Path: path, Err: ErrFrameCount, Detail: fmt.Sprintf("%s %d frames, its commit says %d", what, got, want)}
	}
	return nil
}

// quoteConcat quotes s for the concat script: inside single quotes everything is literal, so a single quote in s
// closes the quotes, is written escaped (backslash, quote) and reopens them.
func quoteConcat(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// streamDuration returns the first video stream's exact duration in seconds (duration_ts * time_base, with
// microsecond precision, which is what the concat demuxer parses), or "" when the container gives none.
func streamDuration(ctx context.Context, path string) (string, error) {
	s, err := scanVideo(ctx, path, false)
	if err != nil {
		return "", err
	}
	if !s.found {
		return "", &Error{Path: path, Err: ErrNoVideo}
	}
	return durationOf(s), nil
}

// durationOf is streamDuration of a scan that found a video stream.
func durationOf(s *videoScan) string {
	tb := s.timeBase
	if s.durationTS <= 0 || tb.IsZero() {
		return ""
	}
	us := (s.durationTS*int64(tb.Num)*1_000_000 + int64(tb.Den)/2) / int64(tb.Den)
	return strconv.FormatInt(us/1_000_000, 10) + "." + fmt.Sprintf("%06d", us%1_000_000)
}
