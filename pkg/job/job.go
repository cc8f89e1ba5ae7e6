// Package job defines a job's plan, its tasks and its state records, as pure functions over values.
// It does no I/O: the coordinator and the worker read and write these records through the queue and the store.
package job

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/facefleet/facefleet/pkg/media"
)

// ErrInvalidID is returned for a job id that could escape its key prefix.
var ErrInvalidID = errors.New("invalid job id")

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{2,62}$`)

// NewID returns a random job id, safe in object keys and NATS subjects.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "j" + time.Now().UTC().Format("060102") + "-" + hex.EncodeToString(b[:])
}

// ValidateID rejects ids that are not lower-case letters, digits and dashes: no dots (NATS tokens), no slashes (keys).
func ValidateID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return nil
}

// State is a job's lifecycle state.
type State string

// Job states, in the order a successful job passes them.
const (
	Queued    State = "queued"
	Splitting State = "splitting"
	Running   State = "running"
	Stitching State = "stitching"
	Done      State = "done"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// Terminal reports whether no more work will happen for a job in this state.
func (s State) Terminal() bool { return s == Done || s == Failed || s == Cancelled }

// Segment is a half-open range of frames [Start, End) in presentation order that starts on a keyframe.
type Segment struct {
	Index int `json:"index"`
	Start int `json:"start_frame"`
	End   int `json:"end_frame"`
	// Duration is the time from the segment's first frame to the next segment's (the end of the stream for the
	// last), in seconds from the target's timestamps; 0 where unknown. A piece whose frames keep their times
	// (Spec.TimeBase) lasts exactly this long, so that the stitched pieces keep the target's timing.
	Duration float64 `json:"duration,omitempty"`
}

// Frames is the number of frames in the segment.
func (s Segment) Frames() int { return s.End - s.Start }

// Plan cuts a stream (its frame scan: keyframes, the presentation time of every frame, where the last ends) into
// segments of about target seconds, each starting on a keyframe, with their durations. A segment ends at the
// first keyframe whose time is at least target seconds after the segment's start, so segments are never shorter
// than target unless the stream ends.
func Plan(idx *media.FrameIndex, target float64) ([]Segment, error) {
	segs, err := cut(idx.Keyframes, idx.PTS, idx.Count, target)
	if err != nil {
		return nil, err
	}
	durations(idx, segs)
	return segs, nil
}

// durations sets each segment's Duration from the scan's times.
func durations(idx *media.FrameIndex, segs []Segment) {
	for i := range segs {
		segs[i].Duration = 0
		end := idx.End
		if segs[i].End < idx.Count {
			end = idx.PTS[segs[i].End]
		}
		if d := end - idx.PTS[segs[i].Start]; d > 0 {
			segs[i].Duration = d
		}
	}
}

// QuickStart splits a plan's first segment (of the same scan) that lasts longer than longer seconds at its first
// keyframe at least first seconds in, so that the first piece is cut, stored and queued in a fraction of a long
// segment's time; the other segments stay as planned. A plan of one segment (the whole target, by choice or by
// length), or whose first segment is short or has no such keyframe, is returned as it is.
func QuickStart(idx *media.FrameIndex, segs []Segment, first, longer float64) []Segment {
	if len(segs) < 2 || first <= 0 || segs[0].Duration <= longer+1e-6 {
		return segs
	}
	for _, k := range idx.Keyframes {
		if k <= 0 || k >= segs[0].End || k >= len(idx.PTS) {
			continue
		}
		if idx.PTS[k]-idx.PTS[0] >= first-1e-6 {
			out := append([]Segment{{Start: 0, End: k}, {Start: k, End: segs[0].End}}, segs[1:]...)
			for i := range out {
				out[i].Index = i
			}
			durations(idx, out)
			return out
		}
	}
	return segs
}

// cut is Plan's choice of segments.
func cut(keyframes []int, pts []float64, total int, target float64) ([]Segment, error) {
	if total <= 0 || len(pts) != total {
		return nil, fmt.Errorf("plan: %d frames but %d timestamps", total, len(pts))
	}
	if len(keyframes) == 0 || keyframes[0] != 0 {
		return nil, errors.New("plan: the stream does not start with a keyframe")
	}
	if target <= 0 {
		return []Segment{{Index: 0, Start: 0, End: total}}, nil
	}
	var segs []Segment
	start := 0
	for _, k := range keyframes[1:] {
		if k <= start || k >= total {
			continue
		}
		if pts[k]-pts[start] >= target-1e-6 {
			segs = append(segs, Segment{Index: len(segs), Start: start, End: k})
			start = k
		}
	}
	return append(segs, Segment{Index: len(segs), Start: start, End: total}), nil
}

// Spec is what a worker needs to process any segment of a job, the same for all of them.
type Spec struct {
	SourceKey    string      `json:"source_key"`
	Face         FaceOptions `json:"face"`
	Encoder      string      `json:"encoder"`
	Quality      int         `json:"quality"`
	FrameRateNum int         `json:"fps_num"`
	FrameRateDen int         `json:"fps_den"`
	Width        int         `json:"width"`
	Height       int         `json:"height"`
	// FrameFormat and FrameQuality are how kept frames are written (--keep-frames). Where they go is no part of
	// a message: the in-process run's workers are told by their own config (worker.Config.FramesDir), and a remote
	// worker never writes frames where a task says.
	FrameFormat  string `json:"frame_format,omitempty"`
	FrameQuality int    `json:"frame_quality,omitempty"`
	// SourcePixFmt and Color describe the target's video: a processor that reads no pixels lets yuv420p pass
	// through the pipeline unconverted, keeping these colour tags.
	SourcePixFmt string      `json:"source_pix_fmt,omitempty"`
	Color        media.Color `json:"color,omitempty"`
	// SampleAspect is the target's pixel shape, kept on every output (zero: square or unknown).
	SampleAspect media.Rational `json:"sample_aspect,omitzero"`
	// Rotation is the target's clockwise display rotation (JobPlan.Rotation): faces are found and swapped in the
	// frames as displayed, which are stored turned back.
	Rotation int `json:"rotation,omitempty"`
	// TimeBase, when not zero, makes every frame keep the target's time (a variable frame rate) in this output
	// time base, instead of frame i at i/FrameRate; see media.FrameIndex.OutputTimeBase.
	TimeBase media.Rational `json:"time_base,omitzero"`
	// Watermark draws the visible "AI-generated" mark on every frame, after every processor (--watermark).
	Watermark bool `json:"watermark,omitempty"`
}

// Frame processors and face swapper models a job can ask for.
const (
	ProcessorSwapper  = "face_swapper"
	ProcessorEnhancer = "face_enhancer"
	// ProcessorNone does nothing to a frame (no detection either): it measures the pipeline's own cost.
	ProcessorNone = "none"

	SwapperClassical = "classical"     // model-free: 5-point similarity warp
	SwapperMesh      = "mesh"          // model-free: 468-point piecewise-affine warp (Face Mesh landmarks)
	SwapperInswapper = "inswapper_128" // the user's inswapper_128.onnx with ArcFace w600k_r50
)

// FaceOptions are a job's face-processing choices, the same for every segment. Zero values mean the defaults.
type FaceOptions struct {
	Processors      []string   `json:"frame_processors"`         // face_swapper, face_enhancer (in order)
	Swapper         string     `json:"face_swapper_model"`       // classical, mesh, inswapper_128
	Selector        string     `json:"face_selector_mode"`       // many, one, reference
	Reference       []float32  `json:"reference_embedding"`      // the reference identity (selector reference)
	SimilarDistance float32    `json:"similar_face_distance"`    // roop's |n1-n2|^2 threshold
	Blend           string     `json:"face_blend,omitempty"`     // feather or poisson (model-free swappers)
	MaskBlur        float32    `json:"face_mask_blur,omitempty"` // fraction of the face size
	MaskPadding     [4]float32 `json:"face_mask_padding"`        // top, right, bottom, left, percent
	Enhancer        string     `json:"face_enhancer_model"`      // gfpgan_1.4, codeformer, or a file
	EnhancerBlend   int        `json:"face_enhancer_blend"`      // percent
	Recognizer      string     `json:"face_recognizer_model"`    // w600k_r50 or a file (inswapper, reference)
	// ReferenceModel is the sha256 of the recognizer file Reference was made with: a worker whose file differs
	// refuses the job rather than compare identities of two different models ("" = not checked).
	ReferenceModel string `json:"reference_model_sha256,omitempty"`
	// Follow is the person selector one follows in every segment, found once in the reference frame; Reference
	// (with ReferenceModel) is that person's embedding when a recognizer was at hand. nil: each segment follows
	// the largest face of its first frame with faces (a job from a client before Follow).
	Follow *Follow `json:"follow,omitempty"`
}

// Follow is where the followed person is in the reference frame, and their shape (pkg/face.GeometryOf) for the
// segments that start elsewhere to find them again.
type Follow struct {
	Frame int `json:"frame"` // the reference frame, an index of the whole target
	// Box is the person's face box in that frame (x1, y1, x2, y2) in fractions of the frame's width and height.
	Box      [4]float32 `json:"box"`
	Geometry []float32  `json:"geometry,omitempty"`
}

// AltersFaces reports whether the options change any face: false for frame processor none alone, which only
// re-encodes (the content filter screens only jobs that alter faces).
func (o FaceOptions) AltersFaces() bool {
	return !(len(o.Processors) == 1 && o.Processors[0] == ProcessorNone)
}

// Task is one segment's unit of work on the queue. Width, Height (in Spec) and the segment's frame count let a
// worker decide before downloading anything whether the segment fits its memory.
type Task struct {
	Version    int     `json:"version,omitempty"` // the layout (Version); 0 before versions were written
	Job        string  `json:"job"`
	Segment    Segment `json:"segment"`
	SegmentKey string  `json:"segment_key"`
	Spec       Spec    `json:"spec"`
	// Generation is the job record's generation when the task was published: a retry publishes the segment again
	// under a new message id, which deduplication would otherwise drop.
	Generation int `json:"generation,omitempty"`
}

// MsgID is the task's Nats-Msg-Id: republishing a plan after a restart is deduplicated by it.
func (t Task) MsgID() string {
	if t.Generation > 0 {
		return fmt.Sprintf("%s/%d/%d", t.Job, t.Segment.Index, t.Generation)
	}
	return fmt.Sprintf("%s/%d", t.Job, t.Segment.Index)
}

// TaskSubject is the NATS subject of one segment's task: a resuming coordinator can ask whether it is queued.
func TaskSubject(jobID string, n int) string { return fmt.Sprintf("facefleet.tasks.%s.%d", jobID, n) }

// Subject matches every task of a job, so a job's pending tasks can be purged on cancel.
func Subject(jobID string) string { return "facefleet.tasks." + jobID + ".>" }

// SubjectAll matches every job's tasks.
const SubjectAll = "facefleet.tasks.>"

// Keys of the blob store: everything a job writes stays under jobs/<id>/.

// SegmentKey is where the coordinator stores segment n of a job's target. The name says .mkv (Split's pieces); the
// only segment of a one-segment job is the target itself in its own container, which readers tell by content.
func SegmentKey(jobID string, n int) string {
	return fmt.Sprintf("jobs/%s/segments/%05d.mkv", jobID, n)
}

// ResultKey is where a worker uploads its result for one attempt of one generation: attempts, and retries of a
// finished segment, never overwrite each other.
func ResultKey(jobID string, n, generation, attempt int) string {
	if generation > 0 {
		return fmt.Sprintf("jobs/%s/results/%05d-g%d-%d.mp4", jobID, n, generation, attempt)
	}
	return fmt.Sprintf("jobs/%s/results/%05d-%d.mp4", jobID, n, attempt)
}

// InputKey is where a job's inputs are stored, submitted or run locally: name is "source" or "target", ext the
// file's extension (InputExt).
func InputKey(jobID, name, ext string) string { return "jobs/" + jobID + "/input/" + name + ext }

// OutputKey is where the coordinator stores a finished job's output; its provenance record sits beside it.
func OutputKey(jobID, ext string) string { return "jobs/" + jobID + "/output" + ext }

// ProvenanceKey is the provenance record of an output stored under key.
func ProvenanceKey(outputKey string) string { return outputKey + ".provenance.json" }

// Prefix is the key prefix of everything a job stores.
func Prefix(jobID string) string { return "jobs/" + jobID + "/" }

// Record is a job's state in the KV bucket. Every writer changes it with compare-and-set, so a client's cancel is
// never lost under a coordinator's progress update.
type Record struct {
	Version     int    `json:"version,omitempty"` // the layout (Version); 0 before versions were written
	ID          string `json:"id"`
	State       State  `json:"state"`
	Segments    int    `json:"segments"`
	TotalFrames int    `json:"total_frames"`
	FramesDone  int    `json:"frames_done"`
	Error       string `json:"error,omitempty"`
	// Warning is set on a job that finished with something the user should know: no face found in the target.
	Warning string `json:"warning,omitempty"`
	// Waiting says why segments are not being processed, when no worker can take them (placement).
	Waiting string `json:"waiting,omitempty"`
	// Parked is set while the job's tasks are off the queue because no live worker can fit them (Parking).
	Parked *Parking `json:"parked,omitempty"`
	// Owner is the coordinator running the job; another takes it over when the owner's heartbeat expires.
	Owner string `json:"owner,omitempty"`
	// Generation counts retries; tasks carry it in their message ids.
	Generation int `json:"generation,omitempty"`
	// Submission is what a client asked for (cluster jobs only).
	Submission *Submission `json:"submission,omitempty"`
	OutputKey  string      `json:"output_key,omitempty"`
	// SplitSeconds and StitchSeconds are the coordinator's own share of the job's wall time.
	SplitSeconds  float64   `json:"split_seconds,omitempty"`
	StitchSeconds float64   `json:"stitch_seconds,omitempty"`
	Created       time.Time `json:"created"`
	Updated       time.Time `json:"updated"`
}

// Percent is the share of frames done, 0-100.
func (r Record) Percent() float64 {
	if r.TotalFrames <= 0 {
		return 0
	}
	return 100 * float64(r.FramesDone) / float64(r.TotalFrames)
}

// SourceImage is how a worker's failure names the job's source picture, which it knows by its own path only; the
// coordinator adds the user's file name.
const SourceImage = "the source image"

// Submission is a cluster job as the client submitted it: inputs already in the blob store, and how to process them.
type Submission struct {
	SourceKey      string  `json:"source_key"`
	TargetKey      string  `json:"target_key"`
	SourceName     string  `json:"source_name"` // the client's file names, for messages
	TargetName     string  `json:"target_name"`
	OutputExt      string  `json:"output_ext"` // ".mp4", ".mkv", ...
	SkipAudio      bool    `json:"skip_audio,omitempty"`
	SegmentSeconds float64 `json:"segment_seconds,omitempty"` // 0: the coordinator's default
	Spec           Spec    `json:"spec"`
	// Metadata is written into the output's container (the synthetic-media label).
	Metadata map[string]string `json:"metadata,omitempty"`
	// Source, Target hashes for the provenance record.
	SourceSHA256 string `json:"source_sha256,omitempty"`
	TargetSHA256 string `json:"target_sha256,omitempty"`
}

// JobPlan is a split job's segments and the target's properties the stitch needs. It is written once the segments
// are stored, so a coordinator that resumes the job skips the split.
type JobPlan struct {
	Segments    []Segment   `json:"segments"`
	TotalFrames int         `json:"total_frames"`
	Width       int         `json:"width"`
	Height      int         `json:"height"`
	FPSNum      int         `json:"fps_num"`
	FPSDen      int         `json:"fps_den"`
	HasAudio    bool        `json:"has_audio"`
	Rotation    int         `json:"rotation"`
	PixFmt      string      `json:"pix_fmt,omitempty"`
	Color       media.Color `json:"color,omitempty"`
	// SampleAspect is the target's pixel shape (zero: square or unknown).
	SampleAspect media.Rational `json:"sample_aspect,omitzero"`
	// TimeBase is Spec.TimeBase: zero for a constant frame rate.
	TimeBase media.Rational `json:"time_base,omitzero"`
}

// Waiting is a worker's note that it cannot take a segment (it does not fit its memory, or the worker is in trouble
// of its own).
type Waiting struct {
	Worker string    `json:"worker"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	// Unfit marks a hand-back because the segment does not fit the worker's budget (not trouble of its own): the
	// coordinator parks a job that every live worker handed back so. Need is the budget the worker's plan needed
	// (bytes, 0 unknown); FitPixels is the worker's own figure of the largest frame it fits (fleet.Heartbeat).
	Unfit     bool   `json:"unfit,omitempty"`
	Need      uint64 `json:"need,omitempty"`
	FitPixels int64  `json:"fit_pixels,omitempty"`
}

// Parking is a parked job's placement: every live worker handed its segments back as too big for its budget, so
// the coordinator took its tasks off the queue (a pending task that no worker can take would keep an autoscaler
// at its maximum) until a worker that may fit them joins, or `coordinator retry` asks again. Committed segments
// stay committed.
type Parking struct {
	Since  time.Time `json:"since"`
	Width  int       `json:"width"`
	Height int       `json:"height"`
	// Need is the least budget a refusing worker's plan needed (bytes; 0 unknown).
	Need uint64 `json:"need,omitempty"`
	// FitPixels is the largest frame a refusing worker said it fits: only a worker that fits more is tried again.
	FitPixels int64 `json:"fit_pixels,omitempty"`
	// Workers are the workers that handed the job back (at most MaxParkWorkers).
	Workers []string `json:"workers,omitempty"`
}

// MaxParkWorkers bounds Parking.Workers.
const MaxParkWorkers = 64

// Note is what `status` shows of a parked job.
func (p Parking) Note() string {
	need := ""
	if p.Need > 0 {
		need = fmt.Sprintf(" (needs at least %.1f GB)", float64(p.Need)/(1<<30))
	}
	return fmt.Sprintf("parked: no worker fits %dx%d%s; waiting for a bigger worker", p.Width, p.Height, need)
}

// Commit records the one accepted result of a segment. The first commit wins (KV create), later ones are discarded.
type Commit struct {
	Job     string `json:"job"`
	Segment int    `json:"segment"`
	Attempt int    `json:"attempt"`
	// Generation is the task's: a retry of a committed segment commits under a new generation.
	Generation int     `json:"generation,omitempty"`
	Worker     string  `json:"worker"`
	ResultKey  string  `json:"result_key"`
	Frames     int     `json:"frames"`
	Seconds    float64 `json:"seconds"`
	// Faces is how many faces were found and worked on in the segment's frames, when FacesCounted (not with frame
	// processor none, nor from an older worker). No pointer: commits are compared as values.
	Faces        int  `json:"faces,omitempty"`
	FacesCounted bool `json:"faces_counted,omitempty"`
}

// NoFaceWarning is the line that tells a user no face was found in any frame of target, so nothing was swapped.
func NoFaceWarning(target string) string {
	return fmt.Sprintf("warning: no face found in %s; the output equals the input re-encoded", target)
}

// FacesFound sums the faces of commits; counted is false when any commit did not count them.
func FacesFound(commits []Commit) (faces int, counted bool) {
	for _, c := range commits {
		if !c.FacesCounted {
			return 0, false
		}
		faces += c.Faces
	}
	return faces, len(commits) > 0
}

// Failure is written when a segment cannot be processed: bad input or retries exhausted.
type Failure struct {
	Job     string `json:"job"`
	Segment int    `json:"segment"`
	Worker  string `json:"worker"`
	Reason  string `json:"reason"`
}

// Progress is a worker's running count of frames done in one segment.
type Progress struct {
	Frames int `json:"frames"`
}

// ProgressEvery is how often a worker records a segment's Progress and a coordinator a job's frames done (the
// defaults of both): the live line and the dashboard refresh once a second. Workers recording twice as often
// made most of a fleet's KV writes, and in the 64-worker simulation woke every worker twice a second for
// records no reader refreshed on.
const ProgressEvery = time.Second

// KV keys (dot-separated NATS tokens; ids are validated to hold no dots).
func RecordKey(jobID string) string          { return "job." + jobID }
func CommitKey(jobID string, n int) string   { return fmt.Sprintf("commit.%s.%d", jobID, n) }
func CommitPattern(jobID string) string      { return "commit." + jobID + ".*" }
func ProgressKey(jobID string, n int) string { return fmt.Sprintf("progress.%s.%d", jobID, n) }
func ProgressPattern(jobID string) string    { return "progress." + jobID + ".*" }
func FailureKey(jobID string) string         { return "failure." + jobID }
func PlanKey(jobID string) string            { return "plan." + jobID }
func WaitingKey(jobID string, n int) string  { return fmt.Sprintf("waiting.%s.%d", jobID, n) }
func WaitingPattern(jobID string) string     { return "waiting." + jobID + ".*" }
func FailsKey(jobID string, n int) string    { return fmt.Sprintf("fails.%s.%d", jobID, n) }

// RecordPattern matches every job's record.
const RecordPattern = "job.*"

// SegmentKeyPrefixes are the prefixes of the per-segment KV keys a job owns (commits, progress, waiting notes,
// failure counts), for cleanup with State.Keys.
func SegmentKeyPrefixes(jobID string) []string {
	return []string{"commit." + jobID + ".", "progress." + jobID + ".", "waiting." + jobID + ".", "fails." + jobID + "."}
}
