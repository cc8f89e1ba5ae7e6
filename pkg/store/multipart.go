package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
)

// ErrNoMultipart says a Blob takes no multipart uploads (Counted over a store that takes none): the caller stores
// the whole blob with Put or PutFile instead.
var ErrNoMultipart = errors.New("store: no multipart uploads")

// MinPartSize is the smallest part but the last that an upload takes (S3's limit).
const MinPartSize = 5 << 20

// MaxParts is the most parts an upload takes (S3's limit).
const MaxParts = 10000

// Multipart is a Blob that takes one blob in parts, uploaded in any order and at once, so that a file can go up
// while it is still being written. Nothing is visible under the key until Complete.
type Multipart interface {
	// NewUpload starts an upload to key.
	NewUpload(ctx context.Context, key string) (Upload, error)
	// AbortUploads aborts every incomplete upload to key: what a process that died mid-upload left behind.
	AbortUploads(ctx context.Context, key string) error
}

// Upload is one multipart upload.
type Upload interface {
	// PutPart stores part n (1 to MaxParts): the size bytes r yields, which are the blob's bytes from offset off.
	// Parts may be put in any order, concurrently, and again (the last put of a number counts); every part but
	// the highest-numbered must hold at least MinPartSize bytes, and the parts' numbers must follow their offsets.
	PutPart(ctx context.Context, n int, off int64, r io.Reader, size int64) error
	// Complete makes the blob from the parts put, in the order of their numbers; they must cover it from offset 0
	// without a gap or overlap. On error the upload is aborted.
	Complete(ctx context.Context) error
	// Abort drops the upload and its parts; after Complete it does nothing.
	Abort(ctx context.Context) error
}

// NewUpload starts an upload to key in b, or returns ErrNoMultipart.
func NewUpload(ctx context.Context, b Blob, key string) (Upload, error) {
	m, ok := b.(Multipart)
	if !ok {
		return nil, ErrNoMultipart
	}
	return m.NewUpload(ctx, key)
}

// AbortUploads aborts b's incomplete uploads to key; a b that takes no multipart uploads has none.
func AbortUploads(ctx context.Context, b Blob, key string) error {
	m, ok := b.(Multipart)
	if !ok {
		return nil
	}
	return m.AbortUploads(ctx, key)
}

// partSpan is where a put part lies in the blob.
type partSpan struct {
	n         int
	off, size int64
}

// partList is an upload's record of its parts, for the checks every implementation makes.
type partList struct {
	mu    sync.Mutex
	parts map[int]partSpan
}

func (p *partList) check(n int, off, size int64) error {
	switch {
	case n < 1 || n > MaxParts:
		return fmt.Errorf("part %d: want 1 to %d", n, MaxParts)
	case off < 0 || size < 0:
		return fmt.Errorf("part %d: offset %d, size %d", n, off, size)
	}
	return nil
}

func (p *partList) add(n int, off, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.parts == nil {
		p.parts = map[int]partSpan{}
	}
	p.parts[n] = partSpan{n: n, off: off, size: size}
}

// sorted returns the parts by number once they cover a blob from 0 without gaps, every one but the last at least
// MinPartSize.
func (p *partList) sorted() ([]partSpan, error) {
	p.mu.Lock()
	out := make([]partSpan, 0, len(p.parts))
	for _, s := range p.parts {
		out = append(out, s)
	}
	p.mu.Unlock()
	if len(out) == 0 {
		return nil, errors.New("no parts")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	var at int64
	for i, s := range out {
		switch {
		case s.off != at:
			return nil, fmt.Errorf("part %d starts at %d, want %d", s.n, s.off, at)
		case i < len(out)-1 && s.size < MinPartSize:
			return nil, fmt.Errorf("part %d holds %d bytes, fewer than %d", s.n, s.size, MinPartSize)
		}
		at += s.size
	}
	return out, nil
}
