package coordinator

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/facefleet/facefleet/pkg/store"
)

// targetURLTTL is how long a stored target's URL stays good: the split reads it for as long as it cuts (seconds
// for a 10-minute 1080p target), each of the cut's seeks a new request.
const targetURLTTL = time.Hour

// fetcher brings a stored target into a file here, once, in the background from the first start. A submitted job's
// split reads the stored target in place, by URL (store.URL), and its first task goes out before the download
// ends; the steps that need the file itself wait for it: the stitch's audio, the content screen, a one-segment
// job's piece, and the scan and cut of a target that is not an MP4 or MOV of H.264 or HEVC (media.ErrNoIndex).
type fetcher struct {
	blob      store.Blob
	key, path string
	name      string // the user's name of the target, in errors
	log       *zap.Logger
	mu        sync.Mutex
	cur       *fetch
	stop      context.CancelFunc
}

// fetch is one download; err is set before done closes.
type fetch struct {
	done chan struct{}
	err  error
}

// start begins the download unless one is under way or done; a failed one is tried again.
func (f *fetcher) start(ctx context.Context) *fetch {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.cur; c != nil {
		select {
		case <-c.done:
			if c.err == nil {
				return c
			}
		default:
			return c
		}
	}
	if f.stop != nil {
		f.stop() // the failed download's context
	}
	ctx, stop := context.WithCancel(ctx)
	c := &fetch{done: make(chan struct{})}
	f.cur, f.stop = c, stop
	go func() {
		defer close(c.done)
		t0 := time.Now()
		if err := f.blob.GetFile(ctx, f.key, f.path); err != nil {
			c.err = fmt.Errorf("%s: download: %w", f.name, err)
		}
		f.log.Debug("target downloaded", zap.String("key", f.key), zap.Duration("download", time.Since(t0)), zap.Error(c.err))
	}()
	return c
}

// file is the target as a file here, once downloaded.
func (f *fetcher) file(ctx context.Context) (string, error) {
	c := f.start(ctx)
	select {
	case <-c.done:
		if c.err != nil {
			return "", c.err
		}
		return f.path, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// url is where the target is read in place, or store.ErrNoURL. It holds credentials: never log it.
func (f *fetcher) url(ctx context.Context) (string, error) {
	return store.URL(ctx, f.blob, f.key, targetURLTTL)
}

// drop stops a download under way and removes the file: what needed the target is done.
func (f *fetcher) drop() {
	f.close()
	_ = os.Remove(f.path)
}

// close stops a download under way and waits for it: a job that ends leaves nothing writing into its directory.
func (f *fetcher) close() {
	f.mu.Lock()
	c, stop := f.cur, f.stop
	f.mu.Unlock()
	if stop != nil {
		stop()
		<-c.done
	}
}
