// Package store keeps blobs (video segments, results, inputs) under slash-separated keys. It knows nothing about
// jobs beyond key prefixes.
//
// Keys look like relative POSIX paths ("jobs/7f3a/segments/0003"); ValidKey says exactly which are accepted, and
// every implementation rejects the others with ErrInvalidKey before touching storage. Prefixes in List and
// DeletePrefix are plain string prefixes, as in S3: "jobs/7" matches "jobs/7/x" and "jobs/77/y".
//
// Every implementation must pass the conformance suite in package storetest.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNotFound is returned (wrapped) by Get, GetFile and Stat when no blob has the key.
var ErrNotFound = errors.New("blob not found")

// ErrInvalidKey is returned (wrapped) for a key or prefix that ValidKey or ValidPrefix rejects.
var ErrInvalidKey = errors.New("invalid blob key")

// ErrNoURL is returned (wrapped) by URL for a store that hands out no URL for its blobs (a local directory).
var ErrNoURL = errors.New("store hands out no URL for its blobs")

// URLer is a Blob that can hand out an HTTP URL from which another reader (libavformat, the ffmpeg command) reads
// a blob for a while, with Range requests, without the store's credentials: S3's presigned GET. The URL grants
// that read to whoever holds it: never log it.
type URLer interface {
	URL(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// URL is b's URL for key, valid for ttl, or ErrNoURL where b hands out none.
func URL(ctx context.Context, b Blob, key string, ttl time.Duration) (string, error) {
	u, ok := b.(URLer)
	if !ok {
		return "", ErrNoURL
	}
	return u.URL(ctx, key, ttl)
}

// MaxKeyLen is the longest key accepted, in bytes (S3's limit).
const MaxKeyLen = 1024

// Info describes one stored blob.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Blob stores byte streams under keys. Implementations are safe for concurrent use. A reader never sees a partly
// written blob: Put and PutFile replace the whole blob at once, or leave the previous one in place on error.
type Blob interface {
	// Put stores r under key. size is the exact number of bytes r yields, or -1 when unknown; when size is
	// given and r yields more or fewer bytes, Put fails and stores nothing.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// PutFile stores the file at path under key.
	PutFile(ctx context.Context, key, path string) error
	// Get writes the blob to w.
	Get(ctx context.Context, key string, w io.Writer) error
	// GetFile writes the blob to path atomically (a temporary file in path's directory, then a rename):
	// on error path is left as it was. Missing parent directories are created. The copy is not synced to disk
	// (the store keeps the blob); a caller that keeps it across a crash calls SyncFile.
	GetFile(ctx context.Context, key, path string) error
	// Stat describes one blob.
	Stat(ctx context.Context, key string) (Info, error)
	// List returns the blobs whose keys start with prefix, sorted by key; "" lists everything. No match is an
	// empty result, not an error.
	List(ctx context.Context, prefix string) ([]Info, error)
	// Delete removes a blob; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// DeletePrefix removes every blob whose key starts with prefix. The empty prefix is rejected with
	// ErrInvalidKey, so a bug cannot wipe the store.
	DeletePrefix(ctx context.Context, prefix string) error
}

// ValidKey reports whether key can name a blob: non-empty, at most MaxKeyLen bytes, valid UTF-8, no leading "/",
// no empty, "." or ".." elements (so no "a//b" and no trailing "/"), and no backslash, NUL or other control
// character. The error wraps ErrInvalidKey.
func ValidKey(key string) error {
	if err := checkKey(key); err != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidKey, clip(key), err)
	}
	return nil
}

// ValidPrefix reports whether prefix can select keys in List and DeletePrefix: "" (everything), or a string that
// would be a valid key after removing one trailing "/". The error wraps ErrInvalidKey.
func ValidPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := checkKey(strings.TrimSuffix(prefix, "/")); err != "" {
		return fmt.Errorf("%w: prefix %q: %s", ErrInvalidKey, clip(prefix), err)
	}
	return nil
}

func checkKey(key string) string {
	switch {
	case key == "":
		return "empty"
	case len(key) > MaxKeyLen:
		return fmt.Sprintf("longer than %d bytes", MaxKeyLen)
	case !utf8.ValidString(key):
		return "not valid UTF-8"
	case key[0] == '/':
		return "absolute"
	}
	for _, r := range key {
		if r == '\\' {
			return "contains a backslash"
		}
		if r < 0x20 || r == 0x7f {
			return "contains a control character"
		}
	}
	for _, el := range strings.Split(key, "/") {
		switch el {
		case "":
			return "contains an empty element"
		case ".", "..":
			return "contains a . or .. element"
		}
	}
	return ""
}

// clip keeps error messages one short line even for a 100 KB key.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ctxWriter stops a copy when ctx ends.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// pingKey is the key Ping looks up; nothing stores it, so the answer is "not found" from a store that works.
const pingKey = "health/ping"

// Ping checks that the store answers, for readiness probes: one Stat of a key that is not there, which reaches
// the server (S3: a HEAD request) without listing or moving anything.
func Ping(ctx context.Context, b Blob) error {
	if _, err := b.Stat(ctx, pingKey); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}
