package media

import (
	"errors"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// Sentinel errors; a *Error wraps exactly one of them.
var (
	ErrNotFound  = errors.New("file not found")
	ErrEmpty     = errors.New("file is empty")
	ErrNotMedia  = errors.New("not a media file ffprobe can read")
	ErrNoVideo   = errors.New("no video stream")
	ErrTruncated = errors.New("file is truncated or damaged")
	// ErrNoIndex: ScanIndex cannot read this file's frames from its sample tables; ScanFrames can.
	ErrNoIndex = errors.New("no sample tables to read frames from")
	ErrFFmpeg  = errors.New("ffmpeg failed")
	// ErrFrameCount reports output whose frame count differs from the plan (for example a split start that is
	// not a keyframe): carrying on would shift every later frame against the audio.
	ErrFrameCount = errors.New("frame count does not match the plan")
)

// PieceError is Stitch's refusal of one of its pieces: Piece is its index in StitchConfig.Pieces, so that a caller
// can name what the piece stands for (the coordinator: its segment).
type PieceError struct {
	Piece int
	Err   error // an *Error naming the piece's file
}

func (e *PieceError) Error() string { return e.Err.Error() }
func (e *PieceError) Unwrap() error { return e.Err }

// Error is returned for a bad input or a failed ffmpeg run. Error() is always one line: "<path>: <problem>",
// followed by " (<detail>)" when ffmpeg said something useful.
type Error struct {
	Path   string // the file the problem is about
	Err    error  // one of the sentinels above (or fs.ErrPermission and the like)
	Detail string // the last meaningful line ffmpeg printed, or our own explanation; one line
	Stderr string // the tail of ffmpeg's stderr, possibly several lines, for logs; not part of Error()
}

func (e *Error) Error() string {
	msg := "unknown error"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	s := e.Path + ": " + msg
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return oneLine(s)
}

func (e *Error) Unwrap() error { return e.Err }

// newError builds an *Error whose Detail is taken from ffmpeg's stderr. args are the strings ffmpeg knows the
// files by (for example "file:/x/in.mp4"); they are cut from the detail because Path already names the file.
func newError(path string, err error, stderr string, args ...string) *Error {
	return &Error{Path: path, Err: err, Detail: lastMeaningful(stderr, args...), Stderr: stderrTail(stderr)}
}

// genericLines are ffmpeg's closing remarks; the line before them says what actually went wrong.
var genericLines = []string{
	"Conversion failed!",
	"Error initializing output stream",
	"Error while opening encoder",
	"Could not write header for output file",
	"Error opening output files",
	"Error opening output file",
	"Error while filtering",
	"Error while processing the decoded data",
	"Error marking filters as finished",
	"Exiting normally",
	"Terminating",
	"Nothing was written into output file",
	"Output file is empty",
}

// addrRe matches the per-run context address in "[mov,mp4 @ 0x55d1c0ffee00]" so details are stable across runs.
var addrRe = regexp.MustCompile(` @ 0x[0-9a-fA-F]+\]`)

// lastMeaningful returns the last stderr line that is not one of ffmpeg's generic closing lines, cleaned to one
// short line. If every line is generic, the last line is used.
func lastMeaningful(stderr string, args ...string) string {
	lines := strings.Split(strings.ReplaceAll(stderr, "\r", "\n"), "\n")
	fallback := ""
	for i := len(lines) - 1; i >= 0; i-- {
		l := cleanLine(lines[i], args)
		if l == "" {
			continue
		}
		if fallback == "" {
			fallback = l
		}
		if !isGeneric(l) {
			return l
		}
	}
	return fallback
}

func isGeneric(l string) bool {
	for _, g := range genericLines {
		if strings.HasPrefix(l, g) {
			return true
		}
	}
	return false
}

func cleanLine(l string, args []string) string {
	l = strings.TrimSpace(l)
	l = addrRe.ReplaceAllString(l, "]")
	for _, a := range args {
		if a != "" {
			l = strings.TrimPrefix(l, a+": ")
		}
	}
	return truncate(oneLine(l), 300)
}

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// stderrTail keeps the last few lines of stderr for Error.Stderr.
func stderrTail(s string) string {
	s = strings.TrimSpace(s)
	const max = 2000
	if len(s) <= max {
		return s
	}
	s = s[len(s)-max:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// tailBuffer keeps the last max bytes written to it: enough of ffmpeg's stderr to explain a failure, without
// letting a chatty decoder (one warning per damaged frame) grow memory for hours.
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func newTailBuffer() *tailBuffer { return &tailBuffer{max: 64 << 10} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
