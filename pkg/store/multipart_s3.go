package store

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/minio/minio-go/v7"
)

var _ Multipart = (*S3)(nil)

// NewUpload implements Multipart with an S3 multipart upload.
func (s *S3) NewUpload(ctx context.Context, key string) (Upload, error) {
	if err := ValidKey(key); err != nil {
		return nil, fmt.Errorf("store: upload %s: %w", clip(key), err)
	}
	core := minio.Core{Client: s.client}
	id, err := core.NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("store: upload %s: %w", clip(key), s.fail(ctx, err))
	}
	return &s3Upload{s: s, core: core, key: key, id: id, etags: map[int]string{}}, nil
}

// AbortUploads implements Multipart: every incomplete upload whose key is key is aborted.
func (s *S3) AbortUploads(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return fmt.Errorf("store: abort uploads %s: %w", clip(key), err)
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	core := minio.Core{Client: s.client}
	for u := range s.client.ListIncompleteUploads(lctx, s.bucket, key, false) {
		if u.Err != nil {
			return fmt.Errorf("store: abort uploads %s: %w", clip(key), s.fail(ctx, u.Err))
		}
		if u.Key != key { // the listing is by prefix
			continue
		}
		if err := core.AbortMultipartUpload(ctx, s.bucket, key, u.UploadID); err != nil {
			return fmt.Errorf("store: abort upload %s: %w", clip(key), s.fail(ctx, err))
		}
	}
	return nil
}

type s3Upload struct {
	s     *S3
	core  minio.Core
	key   string
	id    string
	parts partList
	mu    sync.Mutex
	etags map[int]string
	done  bool
}

func (u *s3Upload) PutPart(ctx context.Context, n int, off int64, r io.Reader, size int64) error {
	if err := u.parts.check(n, off, size); err != nil {
		return fmt.Errorf("store: upload %s: %w", clip(u.key), err)
	}
	// A reader that can seek (a file section) is re-read by minio's retries.
	p, err := u.core.PutObjectPart(ctx, u.s.bucket, u.key, u.id, n, r, size,
		minio.PutObjectPartOptions{DisableContentSha256: putOptions().DisableContentSha256})
	if err != nil {
		return fmt.Errorf("store: upload %s: part %d: %w", clip(u.key), n, u.s.fail(ctx, err))
	}
	u.parts.add(n, off, size)
	u.mu.Lock()
	u.etags[n] = p.ETag
	u.mu.Unlock()
	return nil
}

func (u *s3Upload) Complete(ctx context.Context) error {
	parts, err := u.parts.sorted()
	if err != nil {
		_ = u.Abort(context.WithoutCancel(ctx))
		return fmt.Errorf("store: upload %s: %w", clip(u.key), err)
	}
	done := make([]minio.CompletePart, len(parts))
	u.mu.Lock()
	for i, p := range parts {
		done[i] = minio.CompletePart{PartNumber: p.n, ETag: u.etags[p.n]}
	}
	u.mu.Unlock()
	if _, err := u.core.CompleteMultipartUpload(ctx, u.s.bucket, u.key, u.id, done, minio.PutObjectOptions{}); err != nil {
		_ = u.Abort(context.WithoutCancel(ctx))
		return fmt.Errorf("store: upload %s: complete: %w", clip(u.key), u.s.fail(ctx, err))
	}
	u.mu.Lock()
	u.done = true
	u.mu.Unlock()
	return nil
}

func (u *s3Upload) Abort(ctx context.Context) error {
	u.mu.Lock()
	done := u.done
	u.done = true
	u.mu.Unlock()
	if done {
		return nil
	}
	if err := u.core.AbortMultipartUpload(ctx, u.s.bucket, u.key, u.id); err != nil {
		return fmt.Errorf("store: upload %s: abort: %w", clip(u.key), u.s.fail(ctx, err))
	}
	return nil
}
