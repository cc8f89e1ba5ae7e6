package job

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/facefleet/facefleet/pkg/media"
)

const (
	testID  = "j260101-0123456789abcdef"
	otherID = "j260101-fedcba9876543210"
)

func goodRecord() Record {
	return Record{Version: Version, ID: testID, State: Queued, Submission: &Submission{
		SourceKey: InputKey(testID, "source", ".png"), TargetKey: InputKey(testID, "target", ".mp4"),
		SourceName: "face.png", TargetName: "clip.mp4", OutputExt: ".mp4",
		Spec:     Spec{Face: FaceOptions{Processors: []string{ProcessorSwapper}}, Encoder: "libx264", Quality: 35},
		Metadata: map[string]string{"synthetic_media": "true"}}}
}

func goodTask() Task {
	return Task{Version: Version, Job: testID, Segment: Segment{Index: 1, Start: 25, End: 50}, SegmentKey: SegmentKey(testID, 1),
		Spec: Spec{SourceKey: InputKey(testID, "source", ".png"), Face: FaceOptions{Processors: []string{ProcessorSwapper}},
			Encoder: "libx264", Quality: 35, FrameRateNum: 25, FrameRateDen: 1, Width: 64, Height: 48}}
}

// TestValidateRecord: every hostile field of a job record is refused, naming the field; the good record passes.
func TestValidateRecord(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Record)
		field string // "" = valid
	}{
		{"good", func(*Record) {}, ""},
		{"in-process record without a submission", func(r *Record) { r.Submission = nil; r.State = Running }, ""},
		{"output_ext traversal", func(r *Record) { r.Submission.OutputExt = "/../../../../x.mp4" }, "submission.output_ext"},
		{"output_ext not allowed", func(r *Record) { r.Submission.OutputExt = ".sh" }, "submission.output_ext"},
		{"warning with a terminal escape", func(r *Record) { r.Warning = "no face\x1b[2J" }, "warning"},
		{"another job's target", func(r *Record) { r.Submission.TargetKey = InputKey(otherID, "target", ".mp4") }, "submission.target_key"},
		{"another job's source", func(r *Record) { r.Submission.SourceKey = InputKey(otherID, "source", ".png") }, "submission.source_key"},
		{"source key traversal", func(r *Record) {
			r.Submission.SourceKey = InputKey(testID, "source", "/../../../"+otherID+"/input/source.png")
		}, "submission.source_key"},
		{"target key any object", func(r *Record) { r.Submission.TargetKey = "secrets/key.pem" }, "submission.target_key"},
		{"source named as target", func(r *Record) { r.Submission.SourceKey = InputKey(testID, "target", ".mp4") }, "submission.source_key"},
		{"file name with a path", func(r *Record) { r.Submission.TargetName = "../../etc/passwd" }, "submission.target_name"},
		{"file name with an escape", func(r *Record) { r.Submission.SourceName = "a\x1b[2Jb.png" }, "submission.source_name"},
		{"unknown state", func(r *Record) { r.State = "exploded" }, "state"},
		{"empty state", func(r *Record) { r.State = "" }, "state"},
		{"another job's id", func(r *Record) { r.ID = otherID }, "id"},
		{"unknown version", func(r *Record) { r.Version = 99 }, "version"},
		{"negative frames", func(r *Record) { r.TotalFrames = -1 }, "total_frames"},
		{"huge frames", func(r *Record) { r.FramesDone = 1 << 40 }, "frames_done"},
		{"huge segment seconds", func(r *Record) { r.Submission.SegmentSeconds = 1e300 }, "submission.segment_seconds"},
		{"negative segment seconds", func(r *Record) { r.Submission.SegmentSeconds = -1 }, "submission.segment_seconds"},
		{"quality over 100", func(r *Record) { r.Submission.Spec.Quality = 101 }, "submission.spec.quality"},
		{"unknown encoder", func(r *Record) { r.Submission.Spec.Encoder = "ffv1" }, "submission.spec.encoder"},
		{"unknown processor", func(r *Record) { r.Submission.Spec.Face.Processors = []string{"rm -rf"} }, "submission.spec.face.frame_processors"},
		{"frame format as a path", func(r *Record) { r.Submission.Spec.FrameFormat = "png/../../x" }, "submission.spec.frame_format"},
		{"output key of another job", func(r *Record) { r.State, r.OutputKey = Done, OutputKey(otherID, ".mp4") }, "output_key"},
		{"owner with a dot", func(r *Record) { r.Owner = "a.b" }, "owner"},
		{"bad hash", func(r *Record) { r.Submission.TargetSHA256 = "xyz" }, "submission.target_sha256"},
		{"oversize error", func(r *Record) { r.Error = strings.Repeat("x", 100<<10) }, "error"},
		{"parked", func(r *Record) { r.State, r.Parked = Running, goodParking() }, ""},
		{"parked at no size", func(r *Record) { r.Parked = goodParking(); r.Parked.Width = 0 }, "parked.width"},
		{"parked huge need", func(r *Record) { r.Parked = goodParking(); r.Parked.Need = 1 << 60 }, "parked.need"},
		{"parked fit below -1", func(r *Record) { r.Parked = goodParking(); r.Parked.FitPixels = -2 }, "parked.fit_pixels"},
		{"parked worker with a dot", func(r *Record) { r.Parked = goodParking(); r.Parked.Workers = []string{"a.b"} }, "parked.workers"},
		{"parked too many workers", func(r *Record) {
			r.Parked = goodParking()
			r.Parked.Workers = make([]string, MaxParkWorkers+1)
			for i := range r.Parked.Workers {
				r.Parked.Workers[i] = "w"
			}
		}, "parked.workers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := goodRecord()
			tc.edit(&r)
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			_, err = DecodeRecord(testID, b)
			checkField(t, err, tc.field)
		})
	}
}

func goodParking() *Parking {
	return &Parking{Width: 3840, Height: 2160, Need: 5 << 30, FitPixels: 1920 * 1080, Workers: []string{"tiny-1"}}
}

// TestValidateWaiting: a placement note's figures are in range; the note of a worker that fits nothing (-1) passes.
func TestValidateWaiting(t *testing.T) {
	for _, tc := range []struct {
		name  string
		w     Waiting
		field string
	}{
		{"trouble", Waiting{Worker: "w1", Reason: "disk full since 12:00:00 UTC, retrying"}, ""},
		{"unfit", Waiting{Worker: "w1", Reason: "3840x2160 does not fit", Unfit: true, Need: 5 << 30, FitPixels: 2073600}, ""},
		{"fits nothing", Waiting{Worker: "w1", Reason: "x", Unfit: true, FitPixels: -1}, ""},
		{"need too big", Waiting{Worker: "w1", Need: 1 << 62}, "need"},
		{"unfit from a worker id with a dot", Waiting{Worker: "a.b", Reason: "x", Unfit: true}, "worker"},
		{"fit too big", Waiting{Worker: "w1", FitPixels: MaxFitPixels + 1}, "fit_pixels"},
		{"fit below -1", Waiting{Worker: "w1", FitPixels: -5}, "fit_pixels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(tc.w)
			_, err := DecodeWaiting(b)
			checkField(t, err, tc.field)
		})
	}
}

func TestParkingNote(t *testing.T) {
	for _, tc := range []struct {
		p    Parking
		want string
	}{
		{Parking{Width: 3840, Height: 2160, Need: 1288490189}, "parked: no worker fits 3840x2160 (needs at least 1.2 GB); waiting for a bigger worker"},
		{Parking{Width: 640, Height: 480}, "parked: no worker fits 640x480; waiting for a bigger worker"},
	} {
		if got := tc.p.Note(); got != tc.want {
			t.Errorf("note %q, want %q", got, tc.want)
		}
	}
}

// TestDecodeRefuses: values that are not records at all are refused as invalid, never half-read.
func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, value, want string
	}{
		{"garbage", "{{{", "cannot decode"},
		{"NaN", `{"id":"` + testID + `","state":"queued","split_seconds":NaN}`, "cannot decode"},
		{"number too big for a float", `{"id":"` + testID + `","state":"queued","split_seconds":1e400}`, "cannot decode"},
		{"number too big for an int", `{"id":"` + testID + `","state":"queued","total_frames":1e30}`, "cannot decode"},
		{"wrong type", `{"id":7}`, "cannot decode"},
		{"null", `null`, "id"},
		{"empty", ``, "cannot decode"},
		{"oversize", `{"id":"` + testID + `","state":"queued","error":"` + strings.Repeat("x", MaxValueBytes) + `"}`, "bytes, more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRecord(testID, []byte(tc.value))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrInvalid with %q", err, tc.want)
			}
		})
	}
}

// TestValidateTask: a task may name only its own job's segment and source, in range.
func TestValidateTask(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Task)
		field string
	}{
		{"good", func(*Task) {}, ""},
		{"upper-case source extension", func(tk *Task) { tk.Spec.SourceKey = InputKey(testID, "source", ".PNG") }, ""},
		// One source key scheme: run's own former key is no longer one.
		{"source outside input/", func(tk *Task) { tk.Spec.SourceKey = Prefix(testID) + "source.png" }, "spec.source_key"},
		{"bad job id", func(tk *Task) { tk.Job = "../x" }, "job"},
		{"segment key of another job", func(tk *Task) { tk.SegmentKey = SegmentKey(otherID, 1) }, "segment_key"},
		{"segment key of another segment", func(tk *Task) { tk.SegmentKey = SegmentKey(testID, 2) }, "segment_key"},
		{"source of another job", func(tk *Task) { tk.Spec.SourceKey = InputKey(otherID, "source", ".png") }, "spec.source_key"},
		{"no source", func(tk *Task) { tk.Spec.SourceKey = "" }, "spec.source_key"},
		{"negative frames", func(tk *Task) { tk.Segment.Start, tk.Segment.End = 10, 5 }, "segment.end_frame"},
		{"negative start", func(tk *Task) { tk.Segment.Start = -5 }, "segment.start_frame"},
		{"zero fps", func(tk *Task) { tk.Spec.FrameRateDen = 0 }, "spec.fps_den"},
		{"huge width", func(tk *Task) { tk.Spec.Width = 1 << 20 }, "spec.width"},
		{"huge mask blur", func(tk *Task) { tk.Spec.Face.MaskBlur = 1e30 }, "spec.face.face_mask_blur"},
		{"rotated a quarter turn", func(tk *Task) { tk.Spec.Rotation = 270 }, ""},
		{"rotation off the quarter turns", func(tk *Task) { tk.Spec.Rotation = 45 }, "spec.rotation"},
		{"unknown version", func(tk *Task) { tk.Version = 2 }, "version"},
		{"follow", func(tk *Task) { tk.Spec.Face.Follow = goodFollow() }, ""},
		{"follow frame negative", func(tk *Task) { tk.Spec.Face.Follow = goodFollow(); tk.Spec.Face.Follow.Frame = -1 }, "spec.face.follow.frame"},
		{"follow box far outside", func(tk *Task) { tk.Spec.Face.Follow = goodFollow(); tk.Spec.Face.Follow.Box[2] = 1e9 }, "spec.face.follow.box"},
		{"follow box inverted", func(tk *Task) { tk.Spec.Face.Follow = goodFollow(); tk.Spec.Face.Follow.Box[0] = 0.9 }, "spec.face.follow.box"},
		{"follow box empty", func(tk *Task) { tk.Spec.Face.Follow = &Follow{Frame: 3} }, "spec.face.follow.box"},
		{"follow geometry too long", func(tk *Task) {
			tk.Spec.Face.Follow = goodFollow()
			tk.Spec.Face.Follow.Geometry = make([]float32, maxGeometry+1)
		}, "spec.face.follow.geometry"},
		{"follow geometry huge value", func(tk *Task) { tk.Spec.Face.Follow = goodFollow(); tk.Spec.Face.Follow.Geometry[1] = 3e38 }, "spec.face.follow.geometry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := goodTask()
			tc.edit(&tk)
			b, _ := json.Marshal(tk)
			_, err := DecodeTask(b)
			checkField(t, err, tc.field)
		})
	}
}

func goodFollow() *Follow {
	return &Follow{Frame: 0, Box: [4]float32{0.1, 0.2, 0.3, 0.5}, Geometry: []float32{0.1, -0.2, 0.05}}
}

// TestValidatePlanCommit: plans are contiguous and in range; a commit names only its own segment's result.
func TestValidatePlanCommit(t *testing.T) {
	good := JobPlan{Segments: []Segment{{Index: 0, Start: 0, End: 25}, {Index: 1, Start: 25, End: 50}}, TotalFrames: 50, Width: 64, Height: 48, FPSNum: 25, FPSDen: 1}
	for _, tc := range []struct {
		name  string
		edit  func(*JobPlan)
		field string
	}{
		{"good", func(*JobPlan) {}, ""},
		{"gap", func(p *JobPlan) { p.Segments[1].Start = 30 }, "segments"},
		{"negative frames", func(p *JobPlan) { p.Segments[1].End = -3 }, "segments"},
		{"past the end", func(p *JobPlan) { p.Segments[1].End = 60 }, "segments"},
		{"no segments", func(p *JobPlan) { p.Segments = nil }, "segments"},
		{"fps den 0", func(p *JobPlan) { p.FPSDen = 0 }, "fps_den"},
		{"rotation", func(p *JobPlan) { p.Rotation = 45 }, "rotation"},
		{"duration huge", func(p *JobPlan) { p.Segments[0].Duration = 1e300 }, "segments[0].duration"},
		{"duration negative", func(p *JobPlan) { p.Segments[1].Duration = -1 }, "segments[1].duration"},
		{"time base too fine", func(p *JobPlan) { p.TimeBase = media.Rational{Num: 1, Den: 1 << 31} }, "time_base"},
		{"pix_fmt path", func(p *JobPlan) { p.PixFmt = "../x" }, "pix_fmt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			p.Segments = append([]Segment(nil), good.Segments...)
			tc.edit(&p)
			b, _ := json.Marshal(p)
			_, err := DecodePlan(testID, b)
			checkField(t, err, tc.field)
		})
	}
	cm := Commit{Job: testID, Segment: 1, Attempt: 2, Generation: 1, Worker: "w1", ResultKey: ResultKey(testID, 1, 1, 2), Frames: 25}
	for _, tc := range []struct {
		name  string
		edit  func(*Commit)
		field string
	}{
		{"good", func(*Commit) {}, ""},
		{"another job's result", func(c *Commit) { c.ResultKey = ResultKey(otherID, 1, 1, 2) }, "result_key"},
		{"any object", func(c *Commit) { c.ResultKey = "jobs/" + testID + "/input/target.mp4" }, "result_key"},
		{"another job", func(c *Commit) { c.Job = otherID }, "job"},
		{"negative frames", func(c *Commit) { c.Frames = -1 }, "frames"},
		{"negative faces", func(c *Commit) { c.Faces, c.FacesCounted = -3, true }, "faces"},
		{"frames past the segment's end are the caller's to check", func(c *Commit) { c.Frames = 1000 }, ""},
	} {
		t.Run("commit "+tc.name, func(t *testing.T) {
			c := cm
			tc.edit(&c)
			b, _ := json.Marshal(c)
			_, err := DecodeCommit(testID, b)
			checkField(t, err, tc.field)
		})
	}
}

// TestMessage: what a writer keeps of an error is always a valid record field, on one line.
func TestMessage(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"two\nlines\r\tand \x1b[2Jescape", "two lines  and  [2Jescape"},
		{strings.Repeat("é", MaxText), strings.Repeat("é", MaxText/2-2) + "..."},
	} {
		got := Message(errors.New(tc.in))
		if got != tc.want {
			t.Errorf("Message(%.20q) = %.20q..., want %.20q...", tc.in, got, tc.want)
		}
		r := goodRecord()
		r.Error = got
		if err := r.Validate(testID); err != nil {
			t.Errorf("a record with Message(%.20q) is invalid: %v", tc.in, err)
		}
	}
}

func TestInputExt(t *testing.T) {
	for in, want := range map[string]string{"a/face.PNG": ".png", "clip.mp4": ".mp4", "noext": "", "x.m p4": "",
		"x.tar/../y": "", "dir.d/file": "", "x." + strings.Repeat("a", 17): ""} {
		if got := InputExt(in); got != want {
			t.Errorf("InputExt(%q) = %q, want %q", in, got, want)
		}
	}
}

// checkField wants a nil error for field "", else ErrInvalid naming field.
func checkField(t *testing.T, err error, field string) {
	t.Helper()
	switch {
	case field == "" && err != nil:
		t.Fatalf("valid value refused: %v", err)
	case field != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), ": "+field+" ")):
		t.Fatalf("err %v, want ErrInvalid naming %s", err, field)
	}
}
