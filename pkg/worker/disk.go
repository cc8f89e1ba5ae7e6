package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/facefleet/facefleet/pkg/fleet"
	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/queue"
)

// What a worker keeps on disk, and for how long. Several workers may share one --work-dir: each keeps its files in
// its own subdirectory, worker-<id>, and holds an exclusive flock on worker-<id>/.lock while it lives. The kernel
// drops the lock when the process dies, however it dies, so a directory whose lock can be taken belongs to nobody:
// a starting worker removes every such directory (the segments and source faces of killed workers). A pid file
// could name a reused pid; a lock cannot outlive its process.
//
// A job's source face is personal data: it is kept only while the job may still need it. The worker removes it when
// the job's record turns terminal (done, failed, cancelled) or disappears (coordinator delete, retention), which it
// checks every SourceCheck for the jobs it holds faces of and at once whenever it sees a task of an ended job; and,
// whatever the records say (a record it cannot read during an outage), when no task of the job came for SourceIdle.
// A retry of an ended job downloads the face again.

// ErrWorkDirInUse is returned when another live worker holds the same id's directory under the work dir.
var ErrWorkDirInUse = errors.New("work directory in use by another worker")

const (
	ownDirPrefix = "worker-"
	lockName     = ".lock"
	trashPrefix  = ".trash-"
	sourcesDir   = "sources"
	// DefaultSourceCheck is how often the records of the jobs whose faces a worker holds are checked.
	DefaultSourceCheck = 30 * time.Second
	// DefaultSourceIdle is how long a job's face is kept after the last task of that job came.
	DefaultSourceIdle = 15 * time.Minute
)

// legacySegmentDir matches the segment directories of workers that wrote straight into --work-dir.
var legacySegmentDir = regexp.MustCompile(`^[a-z0-9-]+-[0-9]{5}-[0-9]+$`)

// workDir is this worker's own directory and the lock that proves it owns it.
type workDir struct {
	path string
	lock *os.File
}

// openWorkDir makes parent (0700 if it is new), takes this worker's subdirectory, empties it of an earlier life's
// files, and removes the directories of workers that are gone.
func openWorkDir(parent, id string, log *zap.Logger) (*workDir, error) {
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	own := filepath.Join(parent, ownDirPrefix+fleet.SafeID(id)) // --id is the user's: no slashes or dots in a path
	if err := os.MkdirAll(own, 0o700); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	if err := os.Chmod(own, 0o700); err != nil { // made by an older version with 0755
		return nil, fmt.Errorf("worker: %w", err)
	}
	lock, ok, err := tryLock(filepath.Join(own, lockName))
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("worker: %s: %w (is worker %q running twice?)", own, ErrWorkDirInUse, id)
	}
	d := &workDir{path: own, lock: lock}
	entries, _ := os.ReadDir(own)
	for _, e := range entries {
		if e.Name() != lockName {
			removeLogged(filepath.Join(own, e.Name()), log)
		}
	}
	sweepDead(parent, own, log)
	return d, nil
}

// sweepDead removes what dead workers left under parent: their own directories (lock free), half-removed ones, and
// the flat layout of workers before per-worker directories (segment directories and the shared sources/). A
// worker of that old version still running on the same work dir would lose its current segment, which the queue
// redelivers.
func sweepDead(parent, own string, log *zap.Logger) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		name, p := e.Name(), filepath.Join(parent, e.Name())
		if !e.IsDir() || p == own {
			continue
		}
		switch {
		case strings.HasPrefix(name, trashPrefix):
			removeLogged(p, log)
		case strings.HasPrefix(name, ownDirPrefix):
			lock, ok, err := tryLock(filepath.Join(p, lockName))
			if err != nil || !ok {
				continue // alive, or not ours to judge
			}
			// Renamed away under the lock, so a worker starting with that id now makes a fresh directory.
			trash := filepath.Join(parent, trashPrefix+name)
			if os.Rename(p, trash) == nil {
				removeLogged(trash, log)
			}
			lock.Close()
		case name == sourcesDir || legacySegmentDir.MatchString(name):
			removeLogged(p, log)
		}
	}
}

// tryLock opens (creating, 0600) path and takes an exclusive flock without waiting; ok is false when another open
// file holds it.
func tryLock(path string) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return f, true, nil
}

func removeLogged(p string, log *zap.Logger) {
	if err := os.RemoveAll(p); err != nil {
		log.Warn("cannot remove a leftover", zap.String("path", p), zap.Error(err))
	} else {
		log.Info("removed a leftover", zap.String("path", p))
	}
}

// close removes everything this worker kept and releases its directory.
func (d *workDir) close(log *zap.Logger) {
	entries, _ := os.ReadDir(d.path)
	for _, e := range entries {
		if e.Name() == lockName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(d.path, e.Name())); err != nil {
			log.Warn("cannot remove a work file", zap.Error(err))
		}
	}
	_ = d.lock.Close()
}

// dropSource removes a job's cached source face, if this worker holds it.
func (w *Worker) dropSource(jobID, why string) {
	w.srcMu.Lock()
	defer w.srcMu.Unlock()
	for i, s := range w.sources {
		if s.job == jobID {
			if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				w.log.Warn("cannot remove a source face", zap.String("job", jobID), zap.Error(err))
			}
			w.sources = append(w.sources[:i], w.sources[i+1:]...)
			w.log.Info("source face removed", zap.String("job", jobID), zap.String("why", why))
			return
		}
	}
}

// sweepSources removes the source faces of jobs that ended, were deleted, or sent no task for SourceIdle.
func (w *Worker) sweepSources(ctx context.Context) {
	w.srcMu.Lock()
	held := append([]cachedSource(nil), w.sources...)
	w.srcMu.Unlock()
	for _, s := range held {
		if time.Since(s.used) > w.cfg.SourceIdle {
			w.dropSource(s.job, "no task for "+w.cfg.SourceIdle.String())
			continue
		}
		e, err := w.deps.State.Get(ctx, job.RecordKey(s.job))
		switch {
		case errors.Is(err, queue.ErrKeyNotFound):
			w.dropSource(s.job, "job deleted")
		case err != nil:
			// Unknown for now (an outage): the idle limit still applies.
		default:
			var rec job.Record
			if json.Unmarshal(e.Value, &rec) == nil && rec.State.Terminal() {
				w.dropSource(s.job, "job "+string(rec.State))
			}
		}
	}
}

// janitor runs sweepSources every SourceCheck until ctx ends.
func (w *Worker) janitor(ctx context.Context) {
	t := time.NewTicker(w.cfg.SourceCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.sweepSources(ctx)
		}
	}
}
