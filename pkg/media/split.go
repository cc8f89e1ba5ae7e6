package media

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
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
	return PieceExt(info.FrameRate, idx), nil
}

// PieceExt is pieceExt for a source already probed (its frame rate) and scanned: the coordinator has both before it
// splits, and scanning a 10-minute 1080p target's packets again cost 0.1 s before its first task.
func PieceExt(rate Rational, idx *FrameIndex) string {
	if tb := idx.OutputTimeBase(rate); !tb.IsZero() && idx.TimeBase.reduced().Den > 1000 {
		return ".mov"
	}
	return ".mkv"
}

// Split cuts the first video stream of src into pieces starting at the given frame indices (presentation order)
// and writes them as dir/segment-%05d.mkv, returning their paths in order: in this process for an MP4 or MOV
// (cutInProcess), by the ffmpeg command's segment muxer otherwise, with the same packets and times. Pieces are video
// only (-an) and stream copied (-c copy), in matroska because it stores copied streams with B-frames and any timestamps robustly, with
// timestamps reset to start at 0 in every piece; a variable-rate source with times finer than a millisecond is cut
// into dir/segment-%05d.mov instead, which keeps them (pieceExt).
//
// starts[0] must be 0, starts must increase, and each start must be a keyframe from ScanFrames: the segment
// muxer (-segment_frames) can only cut where a decoder can start and moves a cut to the next keyframe otherwise.
// total is the frame count of the source (FrameIndex.Count). Every piece is checked with ScanFrames to hold
// exactly its planned frame count; a mismatch is an *Error wrapping ErrFrameCount. dir must not already hold
// pieces; on failure the pieces written are removed.
func Split(ctx context.Context, src string, starts []int, total int, dir string) ([]string, error) {
	return SplitEach(ctx, src, starts, total, dir, nil)
}

// SplitEach is Split handing each piece to each (when not nil) as soon as it is complete and checked, in order,
// while the rest are still cut: a job can queue its first segment long before the last is cut. each may remove
// the piece's file (the paths returned then name removed files); an error from it stops the cut and is returned.
func SplitEach(ctx context.Context, src string, starts []int, total int, dir string, each func(i int, path string) error) ([]string, error) {
	return SplitEachExt(ctx, src, "", starts, total, dir, each)
}

// SplitEachExt is SplitEach with the pieces' extension known (PieceExt of the source's probe and scan); "" finds it.
func SplitEachExt(ctx context.Context, src, ext string, starts []int, total int, dir string, each func(i int, path string) error) ([]string, error) {
	if err := checkPlan(starts, total); err != nil {
		return nil, fmt.Errorf("media: split %s: %w", src, err)
	}
	if err := checkInput(src); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("media: split %s: %w", src, err)
	}
	if old := pieces(dir); len(old) > 0 {
		return nil, fmt.Errorf("media: split %s: %s already holds pieces (%s); use an empty directory", src, dir, filepath.Base(old[0]))
	}
	if ext == "" {
		var err error
		if ext, err = pieceExt(ctx, src); err != nil {
			return nil, err
		}
	} else if pieceExts[ext] == "" {
		return nil, fmt.Errorf("media: split %s: piece extension %q", src, ext)
	}
	paths := make([]string, len(starts))
	for i := range starts {
		paths[i] = filepath.Join(dir, fmt.Sprintf(segmentPattern, i)+ext)
	}
	next := 0 // the next piece to hand over
	deliver := func(upTo int) error {
		for ; next < upTo; next++ {
			if next >= len(paths) {
				return &Error{Path: src, Err: ErrFrameCount,
					Detail: fmt.Sprintf("split wrote more than %d pieces: the source has more than %d frames", len(paths), total)}
			}
			if err := checkPiece(ctx, src, paths, starts, total, next); err != nil {
				return err
			}
			if each != nil {
				if err := each(next, paths[next]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := cutInProcess(ctx, src, pieceExts[ext], starts, paths, deliver)
	if errors.Is(err, errOtherContainer) {
		err = cutCommand(ctx, src, ext, starts, total, dir, deliver)
	}
	if err == nil {
		err = deliver(len(paths))
	}
	if err != nil {
		removePieces(dir)
		return nil, err
	}
	return paths, nil
}

// cutInProcess is the cut in this process (libav.c ffsplit, the segment muxer's arithmetic without an ffmpeg to
// start: 0.17 s here before the first piece), handing each piece to deliver as soon as it is closed. It returns
// errOtherContainer, having written nothing, for a source that is not an MP4 or MOV.
func cutInProcess(ctx context.Context, src, format string, starts []int, paths []string, deliver func(upTo int) error) error {
	sp, err := openSplitter(ctx, src)
	if err != nil {
		return err
	}
	defer sp.close()
	for i, p := range paths {
		cut := math.MaxInt64 // the last piece takes the rest, as the segment muxer's last does
		if i+1 < len(starts) {
			cut = starts[i+1]
		}
		n, err := sp.piece(ctx, p, format, cut)
		if err != nil || n == 0 { // at the stream's end, the pieces left are not written: deliver says so
			return err
		}
		if err := deliver(i + 1); err != nil {
			return err
		}
	}
	return nil
}

// cutCommand is the cut by an ffmpeg command, for the containers cutInProcess leaves to it (their packets may lack
// the decode times the command estimates its own way). Pieces go to deliver as the muxer ends them.
func cutCommand(ctx context.Context, src, ext string, starts []int, total int, dir string, deliver func(upTo int) error) error {
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
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	// The muxer writes each piece's name to its list (stdout here) when it ends the piece, and opens the next piece
	// only after closing the previous one: the k-th name says that piece k-1 is complete on disk.
	cmd := command(cctx, ffmpegBin, ffmpegArgs(
		"-i", arg, "-map", "0:V:0", "-an", "-sn", "-dn", "-c", "copy",
		"-map_metadata", "-1", "-map_chapters", "-1",
		"-f", "segment", "-segment_format", pieceExts[ext],
		"-segment_frames", strings.Join(list, ","), "-reset_timestamps", "1",
		"-segment_list", "pipe:1", "-segment_list_type", "flat",
		// The muxer expands % in the whole name, so a % in dir is escaped.
		fileArg(filepath.Join(strings.ReplaceAll(dir, "%", "%%"), segmentPattern+ext)))...)
	stderr := newTailBuffer()
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("media: split %s: %w", src, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("media: split %s: %w", src, err)
	}
	var failed error
	lines := bufio.NewScanner(out)
	for n := 0; lines.Scan(); n++ {
		if failed == nil && n > 0 {
			failed = deliver(n)
		}
		if failed != nil {
			stop() // and read on, so that the muxer is not blocked on a full pipe before it dies
		}
	}
	err = cmd.Wait()
	switch {
	case failed != nil:
		return failed
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("media: split %s: %w", src, ctx.Err())
	case err != nil && !isExitError(err):
		return fmt.Errorf("media: split %s: %w", src, err)
	case err != nil:
		e := inputError(src, stderr.String(), arg)
		if e.Err == ErrNotMedia {
			e.Err = ErrFFmpeg
		}
		return e
	}
	return checkExtra(src, dir, ext, len(starts), total)
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

// checkExtra refuses a cut that wrote more than its n pieces.
func checkExtra(src, dir, ext string, n, total int) error {
	extra := filepath.Join(dir, fmt.Sprintf(segmentPattern, n)+ext)
	if _, err := os.Stat(extra); err == nil {
		return &Error{Path: src, Err: ErrFrameCount,
			Detail: fmt.Sprintf("split wrote more than %d pieces: the source has more than %d frames", n, total)}
	}
	return nil
}

// checkPiece verifies that the muxer wrote piece i with its planned packet count.
func checkPiece(ctx context.Context, src string, paths []string, starts []int, total, i int) error {
	end := total
	if i+1 < len(starts) {
		end = starts[i+1]
	}
	want := end - starts[i]
	s, err := scanPiece(ctx, paths[i])
	var idx *FrameIndex
	if err == nil {
		idx, err = framesOf(paths[i], s)
	}
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
