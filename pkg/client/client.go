// Package client is what the coordinator's client verbs do against a cluster: submit a job (inputs to the blob
// store, a queued record to the KV bucket), follow it, cancel or retry it, and download its output. It talks to the
// cluster only through NATS and the store, so it works with no coordinator running (the job waits, queued).
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/media"
	"github.com/facefleet/facefleet/pkg/provenance"
	"github.com/facefleet/facefleet/pkg/queue"
	"github.com/facefleet/facefleet/pkg/store"
)

// Sentinels callers branch on.
var (
	ErrNoJob       = errors.New("no such job")
	ErrNotFinished = errors.New("job is not done")
	ErrTerminal    = errors.New("job already ended")
	ErrNotEnded    = errors.New("job has not ended")
)

// Client is a cluster client.
type Client struct {
	Tasks *queue.Tasks
	State *queue.State
	Blob  store.Blob
	// Fleet holds the processes' heartbeats (pkg/fleet); nil: CoordinatorRunning cannot tell and says yes.
	Fleet *queue.State
}

// CoordinatorRunning reports whether any coordinator's heartbeat is alive. Without one a queued job only waits:
// submitting works with no coordinator, so nothing else would say why the job never starts.
func (c *Client) CoordinatorRunning(ctx context.Context) (bool, error) {
	if c.Fleet == nil {
		return true, nil
	}
	hs, _, err := fleet.List(ctx, c.Fleet, fleet.KindCoordinator) // an unreadable record is no coordinator
	if err != nil {
		return false, err
	}
	return len(hs) > 0, nil
}

// SubmitRequest is one job.
type SubmitRequest struct {
	Source, Target string // local files
	OutputExt      string // the output container, ".mp4" when empty
	SkipAudio      bool
	SegmentSeconds float64 // 0: the coordinator's default
	Spec           job.Spec
	MaxInputBytes  int64 // refuse bigger inputs before uploading them; 0 = no limit
	// Complete, when set, finishes Spec while the inputs are hashed and uploaded: finding the person to follow in
	// the target with this machine's models took half of a submit's 0.5 s, run before the uploads. Its error
	// fails the submit, and what was uploaded is removed.
	Complete func(ctx context.Context, spec *job.Spec) error
}

// Submit uploads the inputs and queues the job; it returns the job id.
func (c *Client) Submit(ctx context.Context, req SubmitRequest) (string, error) {
	for _, p := range []string{req.Source, req.Target} {
		if err := checkInput(p, req.MaxInputBytes); err != nil {
			return "", err
		}
	}
	ext := req.OutputExt
	if ext == "" {
		ext = ".mp4"
	}
	id := job.NewID()
	sub := &job.Submission{
		SourceKey:  job.InputKey(id, "source", job.InputExt(req.Source)),
		TargetKey:  job.InputKey(id, "target", job.InputExt(req.Target)),
		SourceName: filepath.Base(req.Source), TargetName: filepath.Base(req.Target), OutputExt: ext,
		SkipAudio: req.SkipAudio, SegmentSeconds: req.SegmentSeconds, Spec: req.Spec,
		Metadata: provenance.Tags(provenance.Generator),
	}
	now := time.Now().UTC()
	rec := job.Record{Version: job.Version, ID: id, State: job.Queued, Submission: sub, Created: now, Updated: now}
	// Checked here as every reader will check it, so a bad choice fails now, before any upload.
	if err := rec.Validate(id); err != nil {
		return "", err
	}
	// The hashes, the uploads and Complete run side by side: none needs another's result.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel()
			}
		}()
	}
	spec := sub.Spec
	run(func() error { sub.SourceSHA256, _ = provenance.FileSHA256(req.Source); return nil })
	run(func() error { sub.TargetSHA256, _ = provenance.FileSHA256(req.Target); return nil })
	for _, in := range []struct{ key, path string }{{sub.SourceKey, req.Source}, {sub.TargetKey, req.Target}} {
		run(func() error {
			if err := c.Blob.PutFile(ctx, in.key, in.path); err != nil {
				return fmt.Errorf("%s: upload: %w", in.path, err)
			}
			return nil
		})
	}
	if req.Complete != nil {
		run(func() error { return req.Complete(ctx, &spec) })
	}
	wg.Wait()
	sub.Spec = spec
	err := firstCause(errs)
	if err == nil {
		err = rec.Validate(id) // with what Complete added
	}
	if err != nil {
		_ = c.Blob.DeletePrefix(context.WithoutCancel(ctx), job.Prefix(id))
		return "", err
	}
	b, _ := json.Marshal(rec)
	if _, err := c.State.Create(ctx, job.RecordKey(id), b); err != nil {
		_ = c.Blob.DeletePrefix(context.WithoutCancel(ctx), job.Prefix(id))
		return "", fmt.Errorf("queue job: %w", err)
	}
	return id, nil
}

// firstCause is the error that failed a step run side by side with others, not one of the cancellations it caused;
// nil when there is none.
func firstCause(errs []error) error {
	for _, err := range errs {
		if !errors.Is(err, context.Canceled) {
			return err
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

func checkInput(p string, limit int64) error {
	if err := media.CheckInput(p); err != nil {
		return err
	}
	if st, err := os.Stat(p); err == nil && limit > 0 && st.Size() > limit {
		return fmt.Errorf("%s: %.1f GB is larger than the %.1f GB input limit", p, float64(st.Size())/(1<<30), float64(limit)/(1<<30))
	}
	return nil
}

// Get returns a job's record. A record that cannot be decoded or breaks a rule is an error wrapping
// job.ErrInvalid that names the field.
func (c *Client) Get(ctx context.Context, id string) (job.Record, error) {
	if err := job.ValidateID(id); err != nil {
		return job.Record{}, err
	}
	e, err := c.State.Get(ctx, job.RecordKey(id))
	if errors.Is(err, queue.ErrKeyNotFound) {
		return job.Record{}, fmt.Errorf("%w: %s", ErrNoJob, id)
	}
	if err != nil {
		return job.Record{}, err
	}
	r, err := job.DecodeRecord(id, e.Value)
	if err != nil {
		return r, fmt.Errorf("%s: %w", id, err)
	}
	return r, nil
}

// Listed is one job of List. A record that cannot be decoded or breaks a rule is listed too, so that it can be
// seen and removed: Invalid says why, ID is its key's and the rest is untrusted (Created orders it, nothing more).
type Listed struct {
	job.Record
	Invalid error
}

// List returns every job's record, newest first.
func (c *Client) List(ctx context.Context) ([]Listed, error) {
	keys, err := c.State.Keys(ctx, job.RecordKey(""))
	if err != nil {
		return nil, err
	}
	out := make([]Listed, 0, len(keys))
	for _, k := range keys {
		e, err := c.State.Get(ctx, k)
		if err != nil {
			continue // deleted since listed
		}
		id, err := job.RecordID(k)
		if err != nil {
			out = append(out, Listed{Record: job.Record{ID: strings.TrimPrefix(k, job.RecordKey(""))}, Invalid: err})
			continue
		}
		r, err := job.DecodeRecord(id, e.Value)
		if err != nil {
			r = job.Record{ID: id, Created: r.Created}
		}
		out = append(out, Listed{Record: r, Invalid: err})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Watch calls fn with the job's record now and on every change until the job ends or ctx does; it returns the
// last record.
func (c *Client) Watch(ctx context.Context, id string, fn func(job.Record)) (job.Record, error) {
	r, err := c.Get(ctx, id)
	if err != nil {
		return r, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := c.State.Watch(ctx, job.RecordKey(id))
	if err != nil {
		return r, err
	}
	for e := range ch {
		if e.Deleted {
			continue
		}
		if r, err = job.DecodeRecord(id, e.Value); err != nil {
			return r, fmt.Errorf("%s: %w", id, err)
		}
		if fn != nil {
			fn(r)
		}
		if r.State.Terminal() {
			return r, nil
		}
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	return r, errors.New("watch ended: connection closed")
}

// Cancel marks the job cancelled and removes its queued tasks; the coordinator removes its files and workers
// stop working on it. An invalid record is replaced by a cancelled one that says why (nothing it held is kept).
func (c *Client) Cancel(ctx context.Context, id string) error {
	if _, err := c.Get(ctx, id); err != nil && !errors.Is(err, job.ErrInvalid) {
		return err
	}
	_, err := c.State.Modify(ctx, job.RecordKey(id), func(old []byte) ([]byte, error) {
		r, err := job.DecodeRecord(id, old)
		if err != nil {
			now := time.Now().UTC()
			return json.Marshal(job.Record{Version: job.Version, ID: id, State: job.Cancelled, Error: err.Error(), Created: now, Updated: now})
		}
		if r.State.Terminal() {
			return nil, fmt.Errorf("%w: %s is %s", ErrTerminal, id, r.State)
		}
		r.State, r.Parked, r.Updated = job.Cancelled, nil, time.Now().UTC()
		return json.Marshal(r)
	})
	if err != nil {
		return unwrapModify(err)
	}
	return c.Tasks.PurgeSubject(ctx, job.Subject(id))
}

// Delete removes an ended job from the cluster: every file (the uploaded face and target, pieces, results, the
// output and its provenance), its tasks, KV keys and, last, its record, so that until then the job can still be
// found and deleted again. A job still queued or running must be cancelled first. An invalid record is deleted
// whatever it says its state is: only the id's own keys and files go, never a key the record names.
func (c *Client) Delete(ctx context.Context, id string) error {
	if err := job.ValidateID(id); err != nil {
		return c.deleteStray(ctx, id, err)
	}
	r, err := c.Get(ctx, id)
	switch {
	case errors.Is(err, job.ErrInvalid):
	case err != nil:
		return err
	case !r.State.Terminal():
		return fmt.Errorf("%w: %s is %s: cancel it first", ErrNotEnded, id, r.State)
	}
	if err := job.Forget(ctx, c.Tasks, c.State, c.Blob, id, false); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	return c.State.Delete(ctx, job.RecordKey(id))
}

// deleteStray deletes a record under a key that gives no valid job id, which List shows as invalid: that one key,
// as no file or other key can belong to it. Anything else is the id's error.
func (c *Client) deleteStray(ctx context.Context, id string, invalid error) error {
	if _, err := c.State.Get(ctx, job.RecordKey(id)); err != nil {
		return invalid
	}
	return c.State.Delete(ctx, job.RecordKey(id))
}

// Retry queues an ended job again. With segment >= 0 that segment is redone even if it was committed (and the
// output stitched again); with segment < 0 only segments without a result are. A cancelled job starts over. A
// parked job (no live worker fitted it) is queued again as it stands: its owner publishes its unfinished segments.
func (c *Client) Retry(ctx context.Context, id string, segment int) error {
	r, err := c.Get(ctx, id)
	if err != nil {
		return err
	}
	if !r.State.Terminal() && r.Parked != nil && segment < 0 {
		return c.unpark(ctx, id)
	}
	if !r.State.Terminal() {
		return fmt.Errorf("%w: %s is %s", ErrNotEnded, id, r.State)
	}
	if segment >= 0 && r.Segments > 0 && segment >= r.Segments {
		return fmt.Errorf("%s: segment %d: the job has segments 0-%d", id, segment, r.Segments-1)
	}
	if segment >= 0 {
		if err := c.State.Delete(ctx, job.CommitKey(id, segment)); err != nil {
			return err
		}
		_ = c.State.Delete(ctx, job.ProgressKey(id, segment))
	}
	if keys, err := c.State.Keys(ctx, "fails."+id+"."); err == nil {
		for _, k := range keys {
			_ = c.State.Delete(ctx, k)
		}
	}
	if err := c.State.Delete(ctx, job.FailureKey(id)); err != nil {
		return err
	}
	// An ended job has no legitimate task: a dead letter nobody removed would otherwise keep its segment from being
	// published again.
	if err := c.Tasks.PurgeSubject(ctx, job.Subject(id)); err != nil {
		return err
	}
	_, err = c.State.Modify(ctx, job.RecordKey(id), func(old []byte) ([]byte, error) {
		r, err := job.DecodeRecord(id, old)
		if err != nil {
			return nil, err
		}
		if !r.State.Terminal() {
			return nil, fmt.Errorf("%w: %s is %s", ErrNotEnded, id, r.State)
		}
		r.State, r.Error, r.Waiting, r.Owner, r.OutputKey, r.Warning = job.Queued, "", "", "", "", ""
		r.Parked = nil // an ended job's park is stale: its segments are published again
		r.Generation++
		r.Updated = time.Now().UTC()
		return json.Marshal(r)
	})
	return unwrapModify(err)
}

// unpark clears a parked job's park under a new generation (its tasks' message ids must not be deduplicated away);
// the job's coordinator sees the record change and publishes the unfinished segments, or does so when it resumes.
func (c *Client) unpark(ctx context.Context, id string) error {
	_, err := c.State.Modify(ctx, job.RecordKey(id), func(old []byte) ([]byte, error) {
		r, err := job.DecodeRecord(id, old)
		if err != nil {
			return nil, err
		}
		if r.State.Terminal() || r.Parked == nil {
			return nil, fmt.Errorf("%w: %s is %s", ErrNotEnded, id, r.State)
		}
		r.Parked, r.Waiting = nil, ""
		r.Generation++
		r.Updated = time.Now().UTC()
		return json.Marshal(r)
	})
	return unwrapModify(err)
}

// Download writes a done job's output to out (atomically) and its provenance record beside it.
func (c *Client) Download(ctx context.Context, id, out string) error {
	r, err := c.Get(ctx, id)
	if err != nil {
		return err
	}
	if r.State != job.Done || r.OutputKey == "" {
		return fmt.Errorf("%w: %s is %s", ErrNotFinished, id, r.State)
	}
	if err := c.Blob.GetFile(ctx, r.OutputKey, out); err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	side := provenance.SidecarPath(out)
	if err := c.Blob.GetFile(ctx, job.ProvenanceKey(r.OutputKey), side); err != nil {
		return fmt.Errorf("%s: %w", side, err)
	}
	// The record names the stored object; point it at the local file the user now holds.
	var rec provenance.Record
	b, err := os.ReadFile(side)
	if err == nil && json.Unmarshal(b, &rec) == nil {
		if abs, err := filepath.Abs(out); err == nil {
			rec.Output = abs
			_ = provenance.WriteSidecar(rec)
		}
	}
	// The output is the user's from now on: on disk before Download says it is there.
	for _, p := range []string{out, side} {
		if err := store.SyncFile(p); err != nil {
			return err // names p
		}
	}
	return nil
}

// unwrapModify drops queue.Modify's prefix from the errors our own modify functions return.
func unwrapModify(err error) error {
	for _, s := range []error{ErrTerminal, ErrNotEnded} {
		if errors.Is(err, s) {
			msg := err.Error()
			if i := strings.Index(msg, s.Error()); i >= 0 {
				return fmt.Errorf("%w%s", s, msg[i+len(s.Error()):])
			}
		}
	}
	return err
}
