package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/store"
)

// TestURL: an S3 store (real versitygw) hands out a URL from which a plain HTTP client, holding no credentials,
// reads a blob by ranges, the counted wrapper passes it through, and a local directory hands out none.
func TestURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s3 := newS3(t, testenv.StartS3(t, testenv.S3Options{}))
	local, err := store.NewLocal(store.LocalConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789"), 1000)
	for _, c := range []struct {
		name string
		blob store.Blob
		want error
	}{
		{"s3", s3, nil},
		{"counted s3", store.Counted(s3, func(int64) {}, func(int64) {}), nil},
		{"local", local, store.ErrNoURL},
		{"counted local", store.Counted(local, func(int64) {}, func(int64) {}), store.ErrNoURL},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.blob.Put(ctx, "jobs/x/input/target.mp4", bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatal(err)
			}
			u, err := store.URL(ctx, c.blob, "jobs/x/input/target.mp4", time.Minute)
			if !errors.Is(err, c.want) {
				t.Fatalf("URL: %v, want %v", err, c.want)
			}
			if c.want != nil {
				return
			}
			if pu, err := url.Parse(u); err != nil || pu.Hostname() != "127.0.0.1" {
				t.Fatalf("URL on %v: %v", pu, err)
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			req.Header.Set("Range", "bytes=9995-")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusPartialContent || string(got) != "56789" {
				t.Fatalf("ranged GET: %s %q", resp.Status, got)
			}
			if _, err := store.URL(ctx, c.blob, "../x", time.Minute); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("URL of an invalid key: %v", err)
			}
		})
	}
}
