package store

import (
	"context"
	"io"
	"os"
	"time"
)

// Counted is b reporting the bytes each successful transfer moved: up(n) for Put and PutFile, down(n) for Get and
// GetFile (metrics.Store's Up and Down). A failed transfer reports nothing: its bytes are sent again by the retry.
func Counted(b Blob, up, down func(n int64)) Blob { return &counted{Blob: b, up: up, down: down} }

type counted struct {
	Blob
	up, down func(int64)
}

// URL is the wrapped store's (store.URL); what is read through it is not counted here.
func (c *counted) URL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	return URL(ctx, c.Blob, key, ttl)
}

func (c *counted) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if size >= 0 { // exact, or Put fails; r stays as it is (an S3 client reads a file or seeker its own way)
		if err := c.Blob.Put(ctx, key, r, size); err != nil {
			return err
		}
		c.up(size)
		return nil
	}
	cr := &countingReader{r: r}
	if err := c.Blob.Put(ctx, key, cr, size); err != nil {
		return err
	}
	c.up(cr.n)
	return nil
}

func (c *counted) PutFile(ctx context.Context, key, path string) error {
	if err := c.Blob.PutFile(ctx, key, path); err != nil {
		return err
	}
	c.up(fileSize(path))
	return nil
}

func (c *counted) Get(ctx context.Context, key string, w io.Writer) error {
	cw := &countingWriter{w: w}
	if err := c.Blob.Get(ctx, key, cw); err != nil {
		return err
	}
	c.down(cw.n)
	return nil
}

func (c *counted) GetFile(ctx context.Context, key, path string) error {
	if err := c.Blob.GetFile(ctx, key, path); err != nil {
		return err
	}
	c.down(fileSize(path))
	return nil
}

// fileSize is the size of the file just stored or fetched; 0 (nothing counted) when it is gone already.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// NewUpload implements Multipart over b's, counting each part put as it succeeds; ErrNoMultipart when b takes none.
func (c *counted) NewUpload(ctx context.Context, key string) (Upload, error) {
	u, err := NewUpload(ctx, c.Blob, key)
	if err != nil {
		return nil, err
	}
	return &countedUpload{Upload: u, up: c.up}, nil
}

// AbortUploads implements Multipart over b's.
func (c *counted) AbortUploads(ctx context.Context, key string) error {
	return AbortUploads(ctx, c.Blob, key)
}

type countedUpload struct {
	Upload
	up func(int64)
}

func (c *countedUpload) PutPart(ctx context.Context, n int, off int64, r io.Reader, size int64) error {
	if err := c.Upload.PutPart(ctx, n, off, r, size); err != nil {
		return err
	}
	c.up(size)
	return nil
}
