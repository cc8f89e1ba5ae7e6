package coordinator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/facefleet/facefleet/pkg/job"
	"github.com/facefleet/facefleet/pkg/store"
)

// prefetchers bounds the results a job fetches at once while its segments are processed: the store's bandwidth
// is shared with the workers' uploads and downloads.
const prefetchers = 2

// prefetch fetches each committed result into the job's work dir as its commit arrives, while the rest of the job
// is still processed, so that the stitch after the last commit fetches one piece instead of every one. A failed
// fetch is only forgotten: the stitch fetches that result again and reports the error.
type prefetch struct {
	blob store.Blob
	dir  string
	ctx  context.Context
	stop context.CancelFunc
	sem  chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	n      int
	keys   map[string]bool   // result keys started
	done   map[string]string // result key -> its fetched file
	onDone func(job.Commit, string)
}

// notify has f called with each commit whose result is fetched from now on, and its file (the progressive
// stitch's feed). f must not block.
func (p *prefetch) notify(f func(job.Commit, string)) {
	p.mu.Lock()
	p.onDone = f
	p.mu.Unlock()
}

// newPrefetch fetches into dir until ctx ends or close is called.
func newPrefetch(ctx context.Context, blob store.Blob, dir string) *prefetch {
	ctx, stop := context.WithCancel(ctx)
	return &prefetch{blob: blob, dir: dir, ctx: ctx, stop: stop, sem: make(chan struct{}, prefetchers),
		keys: map[string]bool{}, done: map[string]string{}}
}

// close stops the fetches, waits for them and removes their files: nothing is written into the work dir after it.
func (p *prefetch) close() {
	p.stop()
	for _, f := range p.fetched() {
		_ = os.Remove(f)
	}
}

// commit starts fetching cm's result unless it was already started. A nil prefetch does nothing.
func (p *prefetch) commit(cm job.Commit) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.keys[cm.ResultKey] {
		p.mu.Unlock()
		return
	}
	p.keys[cm.ResultKey] = true
	p.n++
	path := filepath.Join(p.dir, fmt.Sprintf("prefetch-%05d-%d.mp4", cm.Segment, p.n))
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case p.sem <- struct{}{}:
		case <-p.ctx.Done():
			return
		}
		defer func() { <-p.sem }()
		if err := p.blob.GetFile(p.ctx, cm.ResultKey, path); err != nil {
			return
		}
		p.mu.Lock()
		p.done[cm.ResultKey] = path
		f := p.onDone
		p.mu.Unlock()
		if f != nil {
			f(cm, path)
		}
	}()
}

// fetched waits for the fetches started and returns the files they made by result key. A nil prefetch has none.
func (p *prefetch) fetched() map[string]string {
	if p == nil {
		return nil
	}
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}
