package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/facefleet/facefleet/pkg/media"
)

// Every record and message this package defines is read back from NATS (KV values, task messages), which any
// client of the cluster can write: nothing in one is trusted until its Decode function or Validate method has
// checked every field. A failure is a bad job (or a refused task), never a crash, and never a key or a path taken
// from the value.

// ErrInvalid marks a record or message that cannot be decoded or breaks a rule. The error's text names the
// record and the field: "invalid job record: submission.output_ext \"/../x.mp4\": want .mp4, .mov, .mkv or .webm".
var ErrInvalid = errors.New("invalid")

// Bounds of what a record may hold. They are sanity limits, far above any real job, that keep arithmetic and
// memory finite whatever a hostile value says.
const (
	// MaxValueBytes is the largest record or task accepted (a submission with a reference embedding and the
	// provenance tags is a few KB).
	MaxValueBytes    = 256 << 10
	MaxFrames        = 100_000_000 // a day at 1000 fps
	MaxSegments      = 1 << 20
	MaxDimension     = 16384    // width or height in pixels
	MaxRational      = 1 << 30  // numerator or denominator of a frame rate or pixel shape
	MaxCount         = 1 << 20  // generations, attempts
	maxSeconds       = 1e7      // durations a record reports (segment length, split and stitch times)
	MaxText          = 64 << 10 // an error or a reason; a fleet record's texts too
	maxName          = 255      // a file name, an id, a codec or colour name
	maxMetadata      = 64       // container tags
	maxReference     = 4096     // values of a reference embedding
	maxGeometry      = 1024     // values of a follow geometry descriptor (pkg/face.GeometryValues is 82)
	maxFacesPerFrame = 1024     // a crowd, far past what a detector returns
)

// Version is the layout of the records and tasks this build writes. 0 is the layout before versions were
// written, the same one; a later version is refused rather than half-read.
const Version = 1

// OutputExts are the containers a cluster job's output may be written to (media's encoder takes the same).
var OutputExts = []string{".mp4", ".mov", ".mkv", ".webm"}

// States are every State a record may hold.
var States = []State{Queued, Splitting, Running, Stitching, Done, Failed, Cancelled}

var (
	inputExtPattern = regexp.MustCompile(`^(\.[A-Za-z0-9]{1,16})?$`)
	tokenPattern    = regexp.MustCompile(`^[A-Za-z0-9_.-]*$`)      // codec, pixel format and colour names
	workerPattern   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`) // fleet ids
	sha256Pattern   = regexp.MustCompile(`^([0-9a-f]{64})?$`)
)

// InputExt is a submitted file's extension as its key holds it: lower case, or "" where the name's extension is
// not 1-16 letters and digits (readers tell the file by content, not by name).
func InputExt(name string) string {
	ext := name[strings.LastIndexAny(name, `/\`)+1:]
	if i := strings.LastIndexByte(ext, '.'); i >= 0 {
		ext = strings.ToLower(ext[i:])
	} else {
		ext = ""
	}
	if !inputExtPattern.MatchString(ext) {
		return ""
	}
	return ext
}

// Message is what a record keeps of an error: one line of printable text (control characters, line breaks among
// them, become spaces), cut to the length a record may hold, so a writer never makes its own record invalid.
func Message(err error) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, err.Error())
	if len(s) > MaxText {
		s = strings.ToValidUTF8(s[:MaxText-3], "") + "..."
	}
	return s
}

// RecordID is the job id of a record key "job.<id>".
func RecordID(key string) (string, error) {
	id, ok := strings.CutPrefix(key, RecordKey(""))
	if !ok {
		return "", fmt.Errorf("%w: key %s is not a job record's", ErrInvalidID, strconv.Quote(clip(key)))
	}
	return id, ValidateID(id)
}

// DecodeRecord reads the value of job id's record (key RecordKey(id)).
func DecodeRecord(id string, b []byte) (Record, error) {
	var r Record
	if err := decode("job record", b, &r); err != nil {
		return r, err
	}
	return r, r.Validate(id)
}

// DecodeTask reads a task message.
func DecodeTask(b []byte) (Task, error) {
	var t Task
	if err := decode("task", b, &t); err != nil {
		return t, err
	}
	return t, t.Validate()
}

// DecodePlan reads job id's plan.
func DecodePlan(id string, b []byte) (JobPlan, error) {
	var p JobPlan
	if err := decode("plan of job "+id, b, &p); err != nil {
		return p, err
	}
	return p, p.Validate()
}

// DecodeCommit reads a commit of job id. The caller checks the segment against its plan.
func DecodeCommit(id string, b []byte) (Commit, error) {
	var c Commit
	if err := decode("commit", b, &c); err != nil {
		return c, err
	}
	return c, c.Validate(id)
}

// DecodeFailure reads job id's failure record.
func DecodeFailure(id string, b []byte) (Failure, error) {
	var f Failure
	if err := decode("failure record", b, &f); err != nil {
		return f, err
	}
	return f, f.Validate(id)
}

// DecodeProgress reads a segment's progress record.
func DecodeProgress(b []byte) (Progress, error) {
	var p Progress
	if err := decode("progress record", b, &p); err != nil {
		return p, err
	}
	return p, p.Validate()
}

// DecodeWaiting reads a worker's placement note.
func DecodeWaiting(b []byte) (Waiting, error) {
	var w Waiting
	if err := decode("waiting note", b, &w); err != nil {
		return w, err
	}
	return w, w.Validate()
}

func decode(what string, b []byte, v any) error {
	if len(b) > MaxValueBytes {
		return fmt.Errorf("%w %s: %d bytes, more than the %d-byte limit", ErrInvalid, what, len(b), MaxValueBytes)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w %s: cannot decode: %v", ErrInvalid, what, err)
	}
	return nil
}

// Validate checks a job record read under RecordKey(id).
func (r Record) Validate(id string) error {
	c := check{}
	c.version(r.Version)
	if r.ID != id {
		c.fail("id", "%s under the key of job %s", quote(r.ID), id)
	}
	if !validState(r.State) {
		c.fail("state", "%s: want one of %v", quote(string(r.State)), States)
	}
	c.intRange("segments", r.Segments, 0, MaxSegments)
	c.intRange("total_frames", r.TotalFrames, 0, MaxFrames)
	c.intRange("frames_done", r.FramesDone, 0, MaxFrames)
	c.text("error", r.Error, MaxText)
	c.text("waiting", r.Waiting, MaxText)
	c.text("warning", r.Warning, MaxText)
	if r.Owner != "" && !workerPattern.MatchString(r.Owner) {
		c.fail("owner", "%s: want letters, digits, '-' or '_'", quote(r.Owner))
	}
	c.intRange("generation", r.Generation, 0, MaxCount)
	if r.Parked != nil {
		r.Parked.check(c.in("parked"))
	}
	if r.Submission != nil {
		r.Submission.check(c.in("submission"), id)
	}
	if r.OutputKey != "" {
		c.oneOfKeys("output_key", r.OutputKey, outputKeys(id))
	}
	c.float("split_seconds", r.SplitSeconds, 0, maxSeconds)
	c.float("stitch_seconds", r.StitchSeconds, 0, maxSeconds)
	return c.result("job record")
}

// Validate checks a submission of job id.
func (s Submission) Validate(id string) error {
	c := check{}
	s.check(&c, id)
	return c.result("submission")
}

func (s Submission) check(c *check, id string) {
	c.inputKey("source_key", s.SourceKey, id, "source")
	c.inputKey("target_key", s.TargetKey, id, "target")
	c.fileName("source_name", s.SourceName)
	c.fileName("target_name", s.TargetName)
	if !contains(OutputExts, s.OutputExt) {
		c.fail("output_ext", "%s: want %s", quote(s.OutputExt), strings.Join(OutputExts, ", "))
	}
	c.float("segment_seconds", s.SegmentSeconds, 0, maxSeconds)
	s.Spec.check(c.in("spec"), id, false)
	if len(s.Metadata) > maxMetadata {
		c.fail("metadata", "%d tags, more than %d", len(s.Metadata), maxMetadata)
	}
	for k, v := range s.Metadata {
		if k == "" || len(k) > 64 || !tokenPattern.MatchString(k) {
			c.fail("metadata", "tag %s: want 1-64 letters, digits, '_', '.' or '-'", quote(k))
		}
		c.text("metadata."+k, v, 4096)
	}
	c.sha256("source_sha256", s.SourceSHA256)
	c.sha256("target_sha256", s.TargetSHA256)
}

// Validate checks a task message: its job id, its segment and the keys it names, which must be exactly the ones
// its job id and segment give.
func (t Task) Validate() error {
	c := check{}
	c.version(t.Version)
	if err := ValidateID(t.Job); err != nil {
		c.fail("job", "%v", err)
		return c.result("task")
	}
	t.Segment.check(c.in("segment"))
	if t.SegmentKey != SegmentKey(t.Job, t.Segment.Index) {
		c.fail("segment_key", "%s: not segment %d of job %s", quote(t.SegmentKey), t.Segment.Index, t.Job)
	}
	c.intRange("generation", t.Generation, 0, MaxCount)
	t.Spec.check(c.in("spec"), t.Job, true)
	return c.result("task")
}

func (s Segment) check(c *check) {
	c.intRange("index", s.Index, 0, MaxSegments-1)
	c.intRange("start_frame", s.Start, 0, MaxFrames-1)
	c.intRange("end_frame", s.End, s.Start+1, MaxFrames)
	c.float("duration", s.Duration, 0, maxSeconds)
}

// Validate checks a job's processing settings. The size, rate and source key are filled in by the coordinator, so
// a submission's spec may leave them out; a task's must have them.
func (s Spec) Validate(id string, task bool) error {
	c := check{}
	s.check(&c, id, task)
	return c.result("spec")
}

func (s Spec) check(c *check, id string, task bool) {
	switch {
	case s.SourceKey == "" && !task:
	default:
		c.inputKey("source_key", s.SourceKey, id, "source")
	}
	s.Face.check(c.in("face"))
	switch s.Encoder {
	case "", media.CodecH264, media.CodecH265, media.CodecVP9:
	default:
		c.fail("encoder", "%s: want %s, %s or %s", quote(s.Encoder), media.CodecH264, media.CodecH265, media.CodecVP9)
	}
	c.intRange("quality", s.Quality, 0, 100)
	lo := 0
	if task {
		lo = 1
	}
	c.intRange("fps_num", s.FrameRateNum, lo, MaxRational)
	c.intRange("fps_den", s.FrameRateDen, lo, MaxRational)
	c.intRange("width", s.Width, lo, MaxDimension)
	c.intRange("height", s.Height, lo, MaxDimension)
	switch s.FrameFormat { // it becomes the kept frames' file extension
	case "", "png", "jpg":
	default:
		c.fail("frame_format", "%s: want png or jpg", quote(s.FrameFormat))
	}
	c.intRange("frame_quality", s.FrameQuality, 0, 100)
	c.token("source_pix_fmt", s.SourcePixFmt)
	checkColor(c.in("color"), s.Color)
	c.rational("sample_aspect", s.SampleAspect)
	c.rotation("rotation", s.Rotation)
	c.timeBase("time_base", s.TimeBase)
}

func (o FaceOptions) check(c *check) {
	if len(o.Processors) > 8 {
		c.fail("frame_processors", "%d processors, more than 8", len(o.Processors))
	}
	for _, p := range o.Processors {
		if p != ProcessorSwapper && p != ProcessorEnhancer && p != ProcessorNone {
			c.fail("frame_processors", "%s: want %s, %s or %s", quote(p), ProcessorSwapper, ProcessorEnhancer, ProcessorNone)
		}
	}
	c.model("face_swapper_model", o.Swapper)
	switch o.Selector { // pkg/face's selector modes (job does not link face)
	case "", "one", "many", "reference":
	default:
		c.fail("face_selector_mode", "%s: want one, many or reference", quote(o.Selector))
	}
	if len(o.Reference) > maxReference {
		c.fail("reference_embedding", "%d values, more than %d", len(o.Reference), maxReference)
	}
	for _, v := range o.Reference {
		c.float("reference_embedding", float64(v), -1e6, 1e6)
	}
	c.float("similar_face_distance", float64(o.SimilarDistance), -1e6, 1e6) // <= 0: the default
	switch o.Blend {                                                        // pkg/engine's blends
	case "", "feather", "poisson":
	default:
		c.fail("face_blend", "%s: want feather or poisson", quote(o.Blend))
	}
	c.float("face_mask_blur", float64(o.MaskBlur), -1e6, 1e6) // a fraction of the face; <= 0: the default
	for _, v := range o.MaskPadding {
		c.float("face_mask_padding", float64(v), -100, 100)
	}
	c.model("face_enhancer_model", o.Enhancer)
	c.intRange("face_enhancer_blend", o.EnhancerBlend, 0, 100)
	c.model("face_recognizer_model", o.Recognizer)
	c.sha256("reference_model_sha256", o.ReferenceModel)
	if o.Follow != nil {
		o.Follow.check(c.in("follow"))
	}
}

func (f Follow) check(c *check) {
	c.intRange("frame", f.Frame, 0, MaxFrames)
	for _, v := range f.Box {
		// A face may reach past the frame's edge a little; far past it is no face of this frame.
		c.float("box", float64(v), -1, 2)
	}
	if !(f.Box[0] < f.Box[2] && f.Box[1] < f.Box[3]) {
		c.fail("box", "%g,%g,%g,%g: want x1 < x2 and y1 < y2", f.Box[0], f.Box[1], f.Box[2], f.Box[3])
	}
	if len(f.Geometry) > maxGeometry {
		c.fail("geometry", "%d values, more than %d", len(f.Geometry), maxGeometry)
	}
	for _, v := range f.Geometry {
		c.float("geometry", float64(v), -1e3, 1e3)
	}
}

// Validate checks a plan: segments in order, contiguous from frame 0 to the last, and the target's properties.
func (p JobPlan) Validate() error {
	c := check{}
	c.intRange("total_frames", p.TotalFrames, 1, MaxFrames)
	if len(p.Segments) == 0 || len(p.Segments) > MaxSegments {
		c.fail("segments", "%d segments: want 1-%d", len(p.Segments), MaxSegments)
	}
	next := 0
	for i, s := range p.Segments {
		if s.Index != i || s.Start != next || s.End <= s.Start {
			c.fail("segments", "segment %d is %d [%d, %d): want index %d from frame %d, not empty", i, s.Index, s.Start, s.End, i, next)
			break
		}
		s.check(c.in(fmt.Sprintf("segments[%d]", i)))
		next = s.End
	}
	if c.ok() && next != p.TotalFrames {
		c.fail("segments", "end at frame %d of %d", next, p.TotalFrames)
	}
	c.intRange("width", p.Width, 1, MaxDimension)
	c.intRange("height", p.Height, 1, MaxDimension)
	c.intRange("fps_num", p.FPSNum, 1, MaxRational)
	c.intRange("fps_den", p.FPSDen, 1, MaxRational)
	c.rotation("rotation", p.Rotation)
	c.token("pix_fmt", p.PixFmt)
	checkColor(c.in("color"), p.Color)
	c.rational("sample_aspect", p.SampleAspect)
	c.timeBase("time_base", p.TimeBase)
	return c.result("plan")
}

// Validate checks a commit of job id: its result key must be the one its segment, generation and attempt give.
func (cm Commit) Validate(id string) error {
	c := check{}
	if cm.Job != id {
		c.fail("job", "%s in a commit of job %s", quote(cm.Job), id)
	}
	c.intRange("segment", cm.Segment, 0, MaxSegments-1)
	c.intRange("attempt", cm.Attempt, 0, MaxCount)
	c.intRange("generation", cm.Generation, 0, MaxCount)
	c.text("worker", cm.Worker, maxName)
	if c.ok() && cm.ResultKey != ResultKey(id, cm.Segment, cm.Generation, cm.Attempt) {
		c.fail("result_key", "%s: not a result of segment %d of job %s", quote(cm.ResultKey), cm.Segment, id)
	}
	c.intRange("frames", cm.Frames, 0, MaxFrames)
	c.intRange("faces", cm.Faces, 0, MaxFrames*maxFacesPerFrame) // summed by FacesFound
	c.float("seconds", cm.Seconds, 0, maxSeconds)
	return c.result("commit")
}

// Validate checks job id's failure record.
func (f Failure) Validate(id string) error {
	c := check{}
	if f.Job != id {
		c.fail("job", "%s in the failure record of job %s", quote(f.Job), id)
	}
	c.intRange("segment", f.Segment, 0, MaxSegments-1)
	c.text("worker", f.Worker, maxName)
	c.text("reason", f.Reason, MaxText)
	return c.result("failure record")
}

// Validate checks a progress record.
func (p Progress) Validate() error {
	c := check{}
	c.intRange("frames", p.Frames, 0, MaxFrames)
	return c.result("progress record")
}

// Validate checks a placement note.
func (w Waiting) Validate() error {
	c := check{}
	c.text("worker", w.Worker, maxName)
	if w.Unfit && !workerPattern.MatchString(w.Worker) { // a parked job's record names it (Parking.Workers)
		c.fail("worker", "%s: want letters, digits, '-' or '_'", quote(w.Worker))
	}
	c.text("reason", w.Reason, MaxText)
	c.bytes("need", w.Need)
	c.fitPixels("fit_pixels", w.FitPixels)
	return c.result("waiting note")
}

func (p Parking) check(c *check) {
	c.intRange("width", p.Width, 1, MaxDimension)
	c.intRange("height", p.Height, 1, MaxDimension)
	c.bytes("need", p.Need)
	c.fitPixels("fit_pixels", p.FitPixels)
	if len(p.Workers) > MaxParkWorkers {
		c.fail("workers", "%d workers: want at most %d", len(p.Workers), MaxParkWorkers)
	}
	for _, w := range p.Workers {
		if !workerPattern.MatchString(w) {
			c.fail("workers", "%s: want letters, digits, '-' or '_'", quote(w))
		}
	}
}

// MaxBytes bounds a memory size a record holds: --max-memory's own limit, 1048576 GB.
const MaxBytes = 1 << 50

// MaxFitPixels is the largest frame a task may have: MaxDimension squared.
const MaxFitPixels = int64(MaxDimension) * MaxDimension

func (c *check) bytes(field string, v uint64) {
	if v > MaxBytes {
		c.fail(field, "%d bytes: want at most %d", v, uint64(MaxBytes))
	}
}

// fitPixels is a worker's largest frame: -1 (none fits), 0 (not said) or up to MaxFitPixels.
func (c *check) fitPixels(field string, v int64) {
	if v < -1 || v > MaxFitPixels {
		c.fail(field, "%d: want -1-%d", v, MaxFitPixels)
	}
}

func checkColor(c *check, col media.Color) {
	c.token("space", col.Space)
	c.token("range", col.Range)
	c.token("primaries", col.Primaries)
	c.token("transfer", col.Transfer)
}

func validState(s State) bool { return contains(States, s) }

func contains[T comparable](set []T, v T) bool {
	for _, s := range set {
		if s == v {
			return true
		}
	}
	return false
}

func outputKeys(id string) []string {
	keys := make([]string, len(OutputExts))
	for i, ext := range OutputExts {
		keys[i] = OutputKey(id, ext)
	}
	return keys
}

// check collects the first broken rule of a record, naming the field by its JSON path.
type check struct {
	prefix string
	err    *error // shared by nested checks
}

func (c *check) in(field string) *check {
	if c.err == nil {
		c.err = new(error)
	}
	return &check{prefix: c.prefix + field + ".", err: c.err}
}

func (c *check) fail(field, format string, a ...any) {
	if c.err == nil {
		c.err = new(error)
	}
	if *c.err == nil {
		*c.err = fmt.Errorf("%s%s %s", c.prefix, field, fmt.Sprintf(format, a...))
	}
}

// ok reports whether no rule is broken so far.
func (c *check) ok() bool { return c.err == nil || *c.err == nil }

func (c *check) result(what string) error {
	if c.err == nil || *c.err == nil {
		return nil
	}
	return fmt.Errorf("%w %s: %v", ErrInvalid, what, *c.err)
}

func (c *check) version(v int) {
	if v < 0 || v > Version {
		c.fail("version", "%d: this build reads versions up to %d", v, Version)
	}
}

func (c *check) intRange(field string, v, lo, hi int) {
	if v < lo || v > hi {
		c.fail(field, "%d: want %d-%d", v, lo, hi)
	}
}

// float refuses NaN and infinities (which JSON cannot hold, but a float32 overflow can make) and values out of
// [lo, hi].
func (c *check) float(field string, v, lo, hi float64) {
	if math.IsNaN(v) || v < lo || v > hi {
		c.fail(field, "%g: want %g-%g", v, lo, hi)
	}
}

func (c *check) rational(field string, r media.Rational) {
	if r.Num < 0 || r.Den < 0 || r.Num > MaxRational || r.Den > MaxRational {
		c.fail(field, "%d/%d: want 0-%d for each", r.Num, r.Den, MaxRational)
	}
}

// rotation allows the quarter turns a display rotation is rounded to (media.Info.Rotation).
func (c *check) rotation(field string, v int) {
	switch v {
	case 0, 90, 180, 270:
	default:
		c.fail(field, "%d: want 0, 90, 180 or 270", v)
	}
}

// timeBase allows an unset time base (zero) or a positive one: a frame time is divided by it.
func (c *check) timeBase(field string, r media.Rational) {
	if r != (media.Rational{}) && (r.Num <= 0 || r.Den <= 0 || r.Num > MaxRational || r.Den > MaxRational) {
		c.fail(field, "%d/%d: want 0/0 or 1-%d for each", r.Num, r.Den, MaxRational)
	}
}

// text allows any printable text and line breaks, up to max bytes: control characters (a terminal's escape
// sequences among them) are refused, as a status line prints the text.
func (c *check) text(field, v string, max int) {
	if len(v) > max {
		c.fail(field, "%d bytes, more than %d", len(v), max)
		return
	}
	for _, r := range v {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			c.fail(field, "%s: holds a control character", quote(v))
			return
		}
	}
}

func (c *check) token(field, v string) {
	if len(v) > maxName || !tokenPattern.MatchString(v) {
		c.fail(field, "%s: want letters, digits, '_', '.' or '-'", quote(v))
	}
}

func (c *check) sha256(field, v string) {
	if !sha256Pattern.MatchString(v) {
		c.fail(field, "%s: want 64 lower-case hex digits", quote(v))
	}
}

// fileName is a user's file name shown in messages: never a path, never "." or "..".
func (c *check) fileName(field, v string) {
	c.text(field, v, maxName)
	if strings.ContainsAny(v, `/\`) || v == "." || v == ".." {
		c.fail(field, "%s: a file name may not hold a path", quote(v))
	}
}

// model is a model's name, or a file path on the worker (the engine resolves it, and loads only ONNX models).
func (c *check) model(field, v string) {
	c.text(field, v, 4096)
	if strings.ContainsAny(v, "\x00\n\r\t") {
		c.fail(field, "%s: not a model name or file", quote(v))
	}
}

// inputKey requires exactly InputKey(id, name, ext) with a plain extension: no other job's object, no other name.
func (c *check) inputKey(field, key, id, name string) {
	c.ext(field, key, InputKey(id, name, ""))
}

func (c *check) ext(field, key, stem string) {
	ext, ok := strings.CutPrefix(key, stem)
	if !ok || !inputExtPattern.MatchString(ext) {
		c.fail(field, "%s: want %s with an extension of letters and digits", quote(key), stem)
	}
}

func (c *check) oneOfKeys(field, key string, keys []string) {
	if !contains(keys, key) {
		c.fail(field, "%s: want one of %s", quote(key), strings.Join(keys, ", "))
	}
}

// quote shows a value in a message: quoted (control characters escaped) and cut to a readable length.
func quote(s string) string { return strconv.Quote(clip(s)) }

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
