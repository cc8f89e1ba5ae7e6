package media

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// segmentPattern names Split's pieces inside dir; the extension is the container's (pieceExt).
const segmentPattern = "segment-%05d"

// pieceExts are the containers of Split's pieces by extension, as the segment muxer names them.
var pieceExts = map[string]string{".mkv": "matroska", ".mov": "mov"}

// pieceExt picks the container of src's pieces. Matroska stores copied streams with B-frames and any timestamps
// robustly, but only to the millisecond: enough where frames are restamped at i/rate (a constant rate), not for a
// variable-rate source whose frames keep their own times (FrameIndex.OutputTimeBase) in a finer time base. Its
// pieces are MOV, which keeps the source's time base, so every frame's time reaches the encoder exactly.
func pieceExt(ctx context.Context, src string) (string, error) {
	info, err := Probe(ctx, src)
	if err != nil {
		return "", err
	}
	idx, err := ScanFrames(ctx, src)
	if err != nil {
		return "", err
	}
	if tb := idx.OutputTimeBase(info.FrameRate); !tb.IsZero() && idx.TimeBase.reduced().Den > 1000 {
		return ".mov", nil
	}
	return ".mkv", nil
}

// Split cuts the first video stream of src into pieces starting at the given frame indices (presentation order)
// and writes them as dir/segment-%05d.mkv, returning their paths in order. Pieces are video only (-an) and stream
// copied (-c copy), in matroska because it stores copied streams with B-frames and any timestamps robustly, with
// timestamps reset to start at 0 in every piece; a variable-rate source with times finer than a millisecond is cut
// into dir/segment-%05d.mov instead, which keeps them (pieceExt).
//
// starts[0] must be 0, starts must increase, and each start must be a keyframe from ScanFrames: the segment
// muxer (-segment_frames) can only cut where a decoder can start and moves a cut to the next keyframe otherwise.
// total is the frame count of the source (FrameIndex.Count). Every piece is checked with ScanFrames to hold
// exactly its planned frame count; a mismatch is an *Error wrapping ErrFrameCount. dir must not already hold
// pieces; on failure the pieces written are removed.
func Split(ctx context.Context, src string, starts []int, total int, dir string) ([]string, error) {
	if err := checkPlan(starts, total); err != nil {
		return nil, fmt.Errorf("media: split %s: %w", src, err)
	}
	if err := CheckInput(src); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("media: split %s: %w", src, err)
	}
	if old := pieces(dir); len(old) > 0 {
		return nil, fmt.Errorf("media: split %s: %s already holds pieces (%s); use an empty directory", src, dir, filepath.Base(old[0]))
	}
	ext, err := pieceExt(ctx, src)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(starts))
	for i := range starts {
		paths[i] = filepath.Join(dir, fmt.Sprintf(segmentPattern, i)+ext)
	}
	// The segment muxer counts the reference stream's packets in decode order; at a closed-GOP keyframe that count
	// equals the keyframe's presentation index, so cutting "at frame N" is exact there.
	cuts := starts[1:]
	if len(cuts) == 0 {
		cuts = []int{total} // the muxer needs a list; a cut at the end never happens
	}
	list := make([]string, len(cuts))
	for i, c := range cuts {
		list[i] = strconv.Itoa(c)
	}
	arg := fileArg(src)
	_, stderr, err := run(ctx, ffmpegBin, ffmpegArgs(
		"-i", arg, "-map", "0:V:0", "-an", "-sn", "-dn", "-c", "copy",
		"-map_metadata", "-1", "-map_chapters", "-1",
		"-f", "segment", "-segment_format", pieceExts[ext],
		"-segment_frames", strings.Join(list, ","), "-reset_timestamps", "1",
		// The muxer expands % in the whole name, so a % in dir is escaped.
		fileArg(filepath.Join(strings.ReplaceAll(dir, "%", "%%"), segmentPattern+ext)))...)
	if err != nil {
		removePieces(dir)
		if !isExitError(err) {
			return nil, fmt.Errorf("media: split %s: %w", src, err)
		}
		e := inputError(src, stderr, arg)
		if e.Err == ErrNotMedia {
			e.Err = ErrFFmpeg
		}
		return nil, e
	}
	if err := checkPieces(ctx, src, paths, starts, total); err != nil {
		removePieces(dir)
		return nil, err
	}
	return paths, nil
}

// checkPlan validates starts against total.
func checkPlan(starts []int, total int) error {
	switch {
	case total <= 0:
		return fmt.Errorf("total %d frames must be positive", total)
	case len(starts) == 0 || starts[0] != 0:
		return errors.New("starts must begin with frame 0")
	}
	for i := 1; i < len(starts); i++ {
		if starts[i] <= starts[i-1] || starts[i] >= total {
			return fmt.Errorf("start %d (frame %d) must be above %d and below total %d", i, starts[i], starts[i-1], total)
		}
	}
	return nil
}

// checkPieces verifies that the muxer wrote exactly the planned pieces, each with its planned packet count.
func checkPieces(ctx context.Context, src string, paths []string, starts []int, total int) error {
	extra := filepath.Join(filepath.Dir(paths[0]), fmt.Sprintf(segmentPattern, len(paths))+filepath.Ext(paths[0]))
	if _, err := os.Stat(extra); err == nil {
		return &Error{Path: src, Err: ErrFrameCount,
			Detail: fmt.Sprintf("split wrote more than %d pieces: the source has more than %d frames", len(paths), total)}
	}
	for i, p := range paths {
		end := total
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		want := end - starts[i]
		idx, err := ScanFrames(ctx, p)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrNotFound) {
			return &Error{Path: src, Err: ErrFrameCount,
				Detail: fmt.Sprintf("piece %d (frame %d) was not written: is every start a keyframe?", i, starts[i])}
		}
		if err != nil {
			return err
		}
		if idx.Count != want {
			return &Error{Path: src, Err: ErrFrameCount, Detail: fmt.Sprintf(
				"piece %d has %d frames, want %d (frames %d-%d): starts must be keyframes, total the source's count, and a source whose edit list hides frames needs a re-encode",
				i, idx.Count, want, starts[i], end-1)}
		}
	}
	return nil
}

// removePieces deletes Split's output in dir; Split refuses to start on a directory that holds pieces, so these
// are all its own.
func removePieces(dir string) {
	for _, p := range pieces(dir) {
		_ = os.Remove(p)
	}
}

// pieces lists the files in dir named as Split's pieces.
func pieces(dir string) []string {
	var all []string
	for ext := range pieceExts {
		found, _ := filepath.Glob(filepath.Join(dir, "segment-*"+ext))
		all = append(all, found...)
	}
	return all
}
